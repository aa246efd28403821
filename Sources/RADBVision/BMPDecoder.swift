// MARK: - BMPDecoder

/// Windows bitmap (BMP/DIB) decoding, in Swift: no system library covers it, and the format is
/// small. Handles the core (OS/2 1.x) and info headers v1–v5; 1-, 4- and 8-bit palettes;
/// 16-, 24- and 32-bit pixels, with BI_BITFIELDS masks; RLE8 and RLE4 compression; bottom-up
/// and top-down rows. Alpha is used only when a mask declares it (v3+ headers or
/// ALPHABITFIELDS) and is composited over white. JPEG/PNG-in-BMP (compression 4, 5) is refused.
///
/// Every read is bounds-checked against the buffer: a damaged or truncated file gives an
/// `ImageError`, and the pixel count is checked against `maxPixels` before any allocation.
enum BMPDecoder {
    /// Bytes per pixel at the peak: the RGB `Image` (3); rows are converted straight into it.
    static let peakBytesPerPixel = 3

    struct Header {
        var width: Int
        var height: Int
        var topDown: Bool
        var bitCount: Int
        var compression: Int
        var dataOffset: Int
        var palette: [(UInt8, UInt8, UInt8)]
        var masks: (r: UInt32, g: UInt32, b: UInt32, a: UInt32)
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        func u8(_ at: Int) -> Int? { at >= 0 && at < bytes.count ? Int(bytes[at]) : nil }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= bytes.count else { return nil }
            return Int(bytes[at]) | Int(bytes[at + 1]) << 8
        }
        func u32(_ at: Int) -> UInt32? {
            guard at >= 0, at + 4 <= bytes.count else { return nil }
            return UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }
    }

    static func header(_ bytes: UnsafeRawBufferPointer, source: String) throws -> Header {
        let r = Reader(bytes: bytes)
        func truncated(_ what: String) -> ImageError { .truncated(source: source, format: .bmp, detail: "the file ends inside the \(what)") }
        func corrupt(_ what: String) -> ImageError { .corrupt(source: source, format: .bmp, detail: what) }
        guard let offset = r.u32(10), let dib = r.u32(14).map(Int.init) else { throw truncated("file header") }
        var h = Header(width: 0, height: 0, topDown: false, bitCount: 0, compression: 0, dataOffset: Int(offset),
                       palette: [], masks: (0, 0, 0, 0))
        var paletteEntrySize = 4
        if dib == 12 { // BITMAPCOREHEADER: 16-bit unsigned sizes, 3-byte palette entries
            guard let w = r.u16(18), let hh = r.u16(20), let bpp = r.u16(24) else { throw truncated("bitmap header") }
            h.width = w; h.height = hh; h.bitCount = bpp
            paletteEntrySize = 3
        } else {
            guard dib >= 16, let w = r.u32(18), let hh = r.u32(22), let bpp = r.u16(28) else { throw truncated("bitmap header") }
            h.width = Int(Int32(bitPattern: w))
            let signedHeight = Int(Int32(bitPattern: hh))
            h.topDown = signedHeight < 0
            h.height = abs(signedHeight)
            h.bitCount = bpp
            if dib >= 20 { guard let c = r.u32(30) else { throw truncated("bitmap header") }; h.compression = Int(c) }
        }
        guard h.width > 0, h.height > 0, h.width <= 1 << 24, h.height <= 1 << 24 else {
            throw corrupt("the header declares \(h.width)x\(h.height) pixels")
        }
        guard [1, 4, 8, 16, 24, 32].contains(h.bitCount) else { throw corrupt("\(h.bitCount) bits per pixel is not a BMP depth") }
        switch h.compression {
        case 0: break // BI_RGB
        case 1: guard h.bitCount == 8 else { throw corrupt("RLE8 compression with \(h.bitCount) bits per pixel") }
        case 2: guard h.bitCount == 4 else { throw corrupt("RLE4 compression with \(h.bitCount) bits per pixel") }
        case 3, 6: // BI_BITFIELDS, BI_ALPHABITFIELDS: masks in the v2+ header or right after the v1 header
            guard h.bitCount == 16 || h.bitCount == 32 else { throw corrupt("bit-field masks with \(h.bitCount) bits per pixel") }
            let at = 14 + (dib >= 52 ? 40 : dib)
            guard let rm = r.u32(at), let gm = r.u32(at + 4), let bm = r.u32(at + 8) else { throw truncated("colour masks") }
            let am = (dib >= 56 || h.compression == 6) ? (r.u32(at + 12) ?? 0) : 0
            h.masks = (rm, gm, bm, am)
        case 4, 5:
            throw ImageError.unsupportedFormat(source: source, format: "BMP with embedded \(h.compression == 4 ? "JPEG" : "PNG")")
        default:
            throw corrupt("unknown compression \(h.compression)")
        }
        guard h.topDown == false || h.compression == 0 || h.compression == 3 || h.compression == 6 else {
            throw corrupt("top-down rows with RLE compression")
        }
        if h.compression == 0 || h.compression == 1 || h.compression == 2 {
            if h.bitCount == 16 { h.masks = (0x7C00, 0x03E0, 0x001F, 0) }
            if h.bitCount == 32 || h.bitCount == 24 { h.masks = (0xFF_0000, 0xFF00, 0xFF, 0) }
        }
        if h.bitCount <= 8 {
            var entries = 1 << h.bitCount
            if dib >= 36, let used = r.u32(46), used > 0 { entries = min(entries, Int(used)) }
            let start = 14 + dib
            for i in 0..<entries {
                let at = start + i * paletteEntrySize
                guard at + 3 <= h.dataOffset, let b = r.u8(at), let g = r.u8(at + 1), let red = r.u8(at + 2) else { break }
                h.palette.append((UInt8(red), UInt8(g), UInt8(b)))
            }
            guard !h.palette.isEmpty else { throw truncated("colour table") }
        }
        guard h.dataOffset >= 14 + dib, h.dataOffset <= bytes.count else { throw truncated("pixel data (it starts at byte \(h.dataOffset))") }
        return h
    }

    static func size(_ bytes: UnsafeRawBufferPointer, source: String) throws -> ImageSize {
        let h = try header(bytes, source: source)
        return ImageSize(width: h.width, height: h.height)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, source: String, maxPixels: Int) throws -> Image {
        let h = try header(bytes, source: source)
        guard h.width * h.height <= maxPixels else {
            throw ImageError.tooLarge(source: source, width: h.width, height: h.height, maxPixels: maxPixels)
        }
        if h.compression == 1 || h.compression == 2 { return try decodeRLE(bytes, h, source: source) }
        let stride = ((h.width * h.bitCount + 31) / 32) * 4
        // The last row may end without its padding; anything shorter is cut off.
        let needed = stride * (h.height - 1) + (h.width * h.bitCount + 7) / 8
        guard h.dataOffset + needed <= bytes.count else {
            throw ImageError.truncated(source: source, format: .bmp,
                                       detail: "the pixel data needs \(needed) bytes from byte \(h.dataOffset), the file has \(bytes.count)")
        }
        let fields = [h.masks.r, h.masks.g, h.masks.b, h.masks.a].map(BitField.init)
        // The palette as a flat RGB table of 256 entries (indices past the file's palette are black).
        var table = [UInt8](repeating: 0, count: 256 * 3)
        for (i, c) in h.palette.prefix(256).enumerated() { table[3 * i] = c.0; table[3 * i + 1] = c.1; table[3 * i + 2] = c.2 }
        let width = h.width
        let src = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        return table.withUnsafeBufferPointer { table in
            Image(width: h.width, height: h.height) { rgb in
                for y in 0..<h.height {
                    let row = src + h.dataOffset + stride * (h.topDown ? y : h.height - 1 - y)
                    let out = rgb.baseAddress! + 3 * width * y
                    switch h.bitCount {
                    case 24:
                        for x in 0..<width {
                            out[3 * x] = row[3 * x + 2]; out[3 * x + 1] = row[3 * x + 1]; out[3 * x + 2] = row[3 * x]
                        }
                    case 8:
                        for x in 0..<width {
                            let t = 3 * Int(row[x])
                            out[3 * x] = table[t]; out[3 * x + 1] = table[t + 1]; out[3 * x + 2] = table[t + 2]
                        }
                    case 1, 4:
                        let bits = h.bitCount, mask = (1 << bits) - 1
                        for x in 0..<width {
                            let bit = x * bits
                            let t = 3 * ((Int(row[bit >> 3]) >> (8 - bits - (bit & 7))) & mask)
                            out[3 * x] = table[t]; out[3 * x + 1] = table[t + 1]; out[3 * x + 2] = table[t + 2]
                        }
                    default: // 16 or 32 bits through masks
                        let wide = h.bitCount == 32, hasAlpha = fields[3].mask != 0
                        for x in 0..<width {
                            let p = row + x * (wide ? 4 : 2)
                            var v = UInt32(p[0]) | UInt32(p[1]) << 8
                            if wide { v |= UInt32(p[2]) << 16 | UInt32(p[3]) << 24 }
                            var red = fields[0].value(v), green = fields[1].value(v), blue = fields[2].value(v)
                            if hasAlpha {
                                let a = fields[3].value(v), background = 255 * (255 - a)
                                red = (red * a + background + 127) / 255
                                green = (green * a + background + 127) / 255
                                blue = (blue * a + background + 127) / 255
                            }
                            out[3 * x] = UInt8(red); out[3 * x + 1] = UInt8(green); out[3 * x + 2] = UInt8(blue)
                        }
                    }
                }
            }
        }
    }

    /// A colour mask: shift and width, scaled to 0…255.
    private struct BitField {
        let mask: UInt32, shift: UInt32, maximum: UInt32
        init(_ mask: UInt32) {
            self.mask = mask
            shift = mask == 0 ? 0 : UInt32(mask.trailingZeroBitCount)
            maximum = mask == 0 ? 0 : mask >> shift
        }
        func value(_ v: UInt32) -> Int {
            guard maximum > 0 else { return 0 }
            return Int(((v & mask) >> shift) * 255 + maximum / 2) / Int(maximum)
        }
    }

    /// RLE8 / RLE4: runs and absolute blocks, row by row from the bottom; pixels a delta or an
    /// early end skips stay white (as Pillow and browsers show them: transparent).
    private static func decodeRLE(_ bytes: UnsafeRawBufferPointer, _ h: Header, source: String) throws -> Image {
        let four = h.compression == 2
        let palette = h.palette
        var failure: ImageError?
        let image = Image(width: h.width, height: h.height) { rgb in
            rgb.update(repeating: 255)
            func put(_ x: Int, _ y: Int, _ index: Int) {
                guard x < h.width, y < h.height, index < palette.count else { return }
                let o = 3 * ((h.height - 1 - y) * h.width + x)
                rgb[o] = palette[index].0; rgb[o + 1] = palette[index].1; rgb[o + 2] = palette[index].2
            }
            var p = h.dataOffset, x = 0, y = 0
            func next() -> Int? { guard p < bytes.count else { return nil }; defer { p += 1 }; return Int(bytes[p]) }
            while y < h.height {
                guard let count = next(), let value = next() else {
                    failure = .truncated(source: source, format: .bmp, detail: "the RLE data ends at row \(y) of \(h.height)")
                    return
                }
                if count > 0 {
                    for i in 0..<count { put(x + i, y, four ? (i % 2 == 0 ? value >> 4 : value & 15) : value) }
                    x += count
                } else if value == 0 { x = 0; y += 1 }           // end of line
                else if value == 1 { return }                    // end of bitmap
                else if value == 2 {                             // delta
                    guard let dx = next(), let dy = next() else {
                        failure = .truncated(source: source, format: .bmp, detail: "the RLE data ends inside a delta"); return
                    }
                    x += dx; y += dy
                } else {                                         // absolute block of `value` pixels
                    let n = value, byteCount = four ? (n + 1) / 2 : n
                    guard p + byteCount <= bytes.count else {
                        failure = .truncated(source: source, format: .bmp, detail: "the RLE data ends inside a run"); return
                    }
                    for i in 0..<n {
                        let b = Int(bytes[p + (four ? i / 2 : i)])
                        put(x + i, y, four ? (i % 2 == 0 ? b >> 4 : b & 15) : b)
                    }
                    p += (byteCount + 1) & ~1                    // blocks are padded to 16 bits
                    x += n
                }
                if x > h.width + 255 { failure = .corrupt(source: source, format: .bmp, detail: "an RLE run crosses the row end by far"); return }
            }
        }
        if let failure { throw failure }
        return image
    }
}
