import CImageCodecs

// MARK: - GIFDecoder

/// GIF decoding through giflib's record-level API: the first frame only, drawn on the logical
/// screen (the canvas the header declares). Transparent pixels and canvas not covered by the
/// first frame are white, matching "alpha over white" elsewhere. Later frames of an animation
/// are never read, so a long animation costs no more than its first frame.
enum GIFDecoder {
    /// Bytes per pixel at the peak: the RGB `Image` (3) plus one line of colour indices.
    static let peakBytesPerPixel = 4

    /// Opens the bytes; `body` gets giflib's handle after the screen descriptor was read.
    private static func withFile<T>(_ bytes: UnsafeRawBufferPointer, source: String,
                                    _ body: (UnsafeMutablePointer<GifFileType>) throws -> T) throws -> T {
        let memory = UnsafeMutablePointer<radb_memory_source>.allocate(capacity: 1)
        defer { memory.deallocate() }
        memory.initialize(to: radb_memory_source())
        memory.pointee.data = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        memory.pointee.size = bytes.count
        var code: Int32 = 0
        guard let gif = radb_gif_open(memory, &code) else { throw error(code, source: source) }
        defer { var ignored: Int32 = 0; DGifCloseFile(gif, &ignored) }
        guard gif.pointee.SWidth > 0, gif.pointee.SHeight > 0 else {
            throw ImageError.corrupt(source: source, format: .gif, detail: "the header declares \(gif.pointee.SWidth)x\(gif.pointee.SHeight) pixels")
        }
        return try body(gif)
    }

    static func size(_ bytes: UnsafeRawBufferPointer, source: String) throws -> ImageSize {
        try withFile(bytes, source: source) { ImageSize(width: Int($0.pointee.SWidth), height: Int($0.pointee.SHeight)) }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, source: String, maxPixels: Int) throws -> Image {
        try withFile(bytes, source: source) { gif in
            let width = Int(gif.pointee.SWidth), height = Int(gif.pointee.SHeight)
            guard width * height <= maxPixels else {
                throw ImageError.tooLarge(source: source, width: width, height: height, maxPixels: maxPixels)
            }
            var transparent = -1
            while true {
                var record = UNDEFINED_RECORD_TYPE
                guard DGifGetRecordType(gif, &record) == GIF_OK else { throw error(gif.pointee.Error, source: source) }
                switch record {
                case EXTENSION_RECORD_TYPE:
                    var code: Int32 = 0
                    var block: UnsafeMutablePointer<GifByteType>?
                    guard DGifGetExtension(gif, &code, &block) == GIF_OK else { throw error(gif.pointee.Error, source: source) }
                    // Graphics control: [size=4, flags, delay lo, delay hi, transparent index].
                    if code == GRAPHICS_EXT_FUNC_CODE, let b = block, b[0] >= 4, b[1] & 1 == 1 { transparent = Int(b[4]) }
                    while block != nil {
                        guard DGifGetExtensionNext(gif, &block) == GIF_OK else { throw error(gif.pointee.Error, source: source) }
                    }
                case IMAGE_DESC_RECORD_TYPE:
                    guard DGifGetImageDesc(gif) == GIF_OK else { throw error(gif.pointee.Error, source: source) }
                    return try firstFrame(gif, width: width, height: height, transparent: transparent, source: source)
                case TERMINATE_RECORD_TYPE:
                    throw ImageError.corrupt(source: source, format: .gif, detail: "the file holds no picture")
                default:
                    throw ImageError.corrupt(source: source, format: .gif, detail: "unexpected record type \(record.rawValue)")
                }
            }
        }
    }

    private static func firstFrame(_ gif: UnsafeMutablePointer<GifFileType>, width: Int, height: Int, transparent: Int,
                                   source: String) throws -> Image {
        let desc = gif.pointee.Image
        let frameWidth = Int(desc.Width), frameHeight = Int(desc.Height)
        let left = Int(desc.Left), top = Int(desc.Top)
        guard frameWidth > 0, frameHeight > 0, frameWidth <= 65535, frameHeight <= 65535 else {
            throw ImageError.corrupt(source: source, format: .gif, detail: "the first frame declares \(frameWidth)x\(frameHeight) pixels")
        }
        guard let map = desc.ColorMap ?? gif.pointee.SColorMap, map.pointee.ColorCount > 0, let colors = map.pointee.Colors else {
            throw ImageError.corrupt(source: source, format: .gif, detail: "no colour table for the first frame")
        }
        let colorCount = Int(map.pointee.ColorCount)
        // Rows in file order; interlaced frames store rows 0, 8, 16 …, then 4, 12 …, then 2, 6 …, then 1, 3 ….
        var rows: [Int] = []
        rows.reserveCapacity(frameHeight)
        if desc.Interlace {
            for (start, step) in [(0, 8), (4, 8), (2, 4), (1, 2)] { rows += stride(from: start, to: frameHeight, by: step) }
        } else {
            rows = Array(0..<frameHeight)
        }
        // Colour table of 256 entries; -1 marks the transparent index and indices past the table,
        // which leave the white canvas showing.
        var table = [Int32](repeating: -1, count: 256)
        for i in 0..<min(colorCount, 256) where i != transparent {
            table[i] = Int32(colors[i].Red) << 16 | Int32(colors[i].Green) << 8 | Int32(colors[i].Blue)
        }
        var line = [GifPixelType](repeating: 0, count: frameWidth)
        var failure: Int32?
        let visible = max(0, min(frameWidth, width - left)) // columns of the frame inside the canvas
        let image = table.withUnsafeBufferPointer { table in
            Image(width: width, height: height) { rgb in
                rgb.update(repeating: 255)
                line.withUnsafeMutableBufferPointer { line in
                    for y in rows {
                        guard DGifGetLine(gif, line.baseAddress, Int32(frameWidth)) == GIF_OK else { failure = gif.pointee.Error; return }
                        let cy = top + y
                        guard cy < height else { continue }
                        let out = rgb.baseAddress! + 3 * (cy * width + left)
                        for x in 0..<visible {
                            let c = table[Int(line[x])]
                            guard c >= 0 else { continue }
                            out[3 * x] = UInt8(truncatingIfNeeded: c >> 16)
                            out[3 * x + 1] = UInt8(truncatingIfNeeded: c >> 8)
                            out[3 * x + 2] = UInt8(truncatingIfNeeded: c)
                        }
                    }
                }
            }
        }
        if let failure { throw error(failure, source: source) }
        return image
    }

    private static func error(_ code: Int32, source: String) -> ImageError {
        let message = GifErrorString(code).map { String(cString: $0) } ?? "giflib error \(code)"
        switch code {
        case D_GIF_ERR_READ_FAILED, D_GIF_ERR_EOF_TOO_SOON:
            return .truncated(source: source, format: .gif, detail: message)
        default:
            return .corrupt(source: source, format: .gif, detail: message)
        }
    }
}
