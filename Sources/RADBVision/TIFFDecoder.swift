import CImageCodecs

// MARK: - TIFFDecoder

/// TIFF decoding through libtiff's RGBA interface: the first page (directory) only; 1- to
/// 16-bit samples; greyscale, palette, RGB, YCbCr, CMYK and CIE L*a*b*; every compression
/// libtiff was built with (none, LZW, Deflate, PackBits, JPEG, CCITT, LZMA, ZSTD, WebP).
///
/// 16-bit samples are reduced to 8 bits by libtiff (rounding, like PNG here); alpha — which
/// libtiff hands over premultiplied — is composited over white; the Orientation tag (274,
/// the same values as EXIF's) is applied once. libtiff's messages are captured for the error,
/// never printed, and no single allocation inside it may exceed what `maxPixels` implies.
enum TIFFDecoder {
    /// Bytes per pixel at the peak: libtiff's 32-bit raster (4), the RGB `Image` (3) and a
    /// strip or tile buffer (at most 8 more per pixel of that strip, counted as 1 overall).
    static let peakBytesPerPixel = 8

    struct Header {
        var storedSize: ImageSize
        var orientation: ImageOrientation
        var uprightSize: ImageSize { orientation.uprightSize(of: storedSize) }
    }

    /// Opens the bytes and starts libtiff's RGBA reader on the first page; `body` gets it ready.
    private static func withReader<T>(_ bytes: UnsafeRawBufferPointer, source: String, maxPixels: Int,
                                      _ body: (UnsafeMutablePointer<TIFFRGBAImage>, Header, UnsafeMutablePointer<radb_memory_source>) throws -> T) throws -> T {
        let memory = UnsafeMutablePointer<radb_memory_source>.allocate(capacity: 1)
        defer { memory.deallocate() }
        memory.initialize(to: radb_memory_source())
        memory.pointee.data = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        memory.pointee.size = bytes.count
        let (limit, overflow) = max(maxPixels, 1 << 20).multipliedReportingOverflow(by: 8)
        guard let tif = radb_tiff_open(memory, tmsize_t(overflow ? Int.max : limit)) else {
            throw error(memory, source: source, fallback: "unreadable header")
        }
        defer { TIFFClose(tif) }
        var message = [CChar](repeating: 0, count: 1024)
        guard TIFFRGBAImageOK(tif, &message) != 0 else {
            throw unsupported(message, memory, source: source)
        }
        let reader = UnsafeMutablePointer<TIFFRGBAImage>.allocate(capacity: 1)
        defer { reader.deallocate() }
        reader.initialize(to: TIFFRGBAImage())
        guard TIFFRGBAImageBegin(reader, tif, 1, &message) != 0 else {
            throw unsupported(message, memory, source: source)
        }
        defer { TIFFRGBAImageEnd(reader) }
        let size = ImageSize(width: Int(reader.pointee.width), height: Int(reader.pointee.height))
        guard size.width > 0, size.height > 0 else {
            throw ImageError.corrupt(source: source, format: .tiff, detail: "the first page declares \(size) pixels")
        }
        let header = Header(storedSize: size, orientation: ImageOrientation(rawValue: Int(reader.pointee.orientation)) ?? .up)
        return try body(reader, header, memory)
    }

    static func size(_ bytes: UnsafeRawBufferPointer, source: String) throws -> ImageSize {
        try withReader(bytes, source: source, maxPixels: ImageDecoder.defaultMaxPixels) { _, header, _ in header.uprightSize }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, source: String, maxPixels: Int) throws -> Image {
        try withReader(bytes, source: source, maxPixels: maxPixels) { reader, header, memory in
            let size = header.storedSize
            guard size.pixelCount <= maxPixels else {
                throw ImageError.tooLarge(source: source, width: header.uprightSize.width, height: header.uprightSize.height,
                                          maxPixels: maxPixels)
            }
            // Rows come out in stored order (top to bottom, as the file has them); the
            // Orientation tag is applied below, with the other decoders' code.
            reader.pointee.req_orientation = reader.pointee.orientation
            var raster = [UInt32](repeating: 0, count: size.pixelCount)
            let ok = raster.withUnsafeMutableBufferPointer {
                TIFFRGBAImageGet(reader, $0.baseAddress, UInt32(size.width), UInt32(size.height))
            }
            guard ok != 0 else { throw error(memory, source: source, fallback: "the pixel data cannot be read") }
            let hasAlpha = reader.pointee.alpha != 0
            var image = raster.withUnsafeBytes { raw in
                let rgba = raw.bindMemory(to: UInt8.self) // R, G, B, A per pixel on little-endian machines
                return Image(width: size.width, height: size.height) { rgb in
                    if hasAlpha {
                        HEIFDecoder.compositePremultipliedOverWhite(rgba, into: rgb)
                    } else {
                        for i in 0..<size.pixelCount {
                            rgb[3 * i] = rgba[4 * i]; rgb[3 * i + 1] = rgba[4 * i + 1]; rgb[3 * i + 2] = rgba[4 * i + 2]
                        }
                    }
                }
            }
            if header.orientation != .up { image = image.applyingOrientation(header.orientation) }
            return image
        }
    }

    private static func unsupported(_ message: [CChar], _ memory: UnsafeMutablePointer<radb_memory_source>, source: String) -> ImageError {
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // libtiff's RGBA reader explains what it cannot convert ("Sorry, can not handle …");
        // a damaged directory shows up as an error message from the parser instead.
        if memory.pointee.error.0 != 0 { return error(memory, source: source, fallback: text) }
        return .unsupportedFormat(source: source, format: "TIFF of this kind (\(text.isEmpty ? "libtiff cannot convert it to RGB" : text))")
    }

    private static func error(_ memory: UnsafeMutablePointer<radb_memory_source>, source: String, fallback: String) -> ImageError {
        var message = withUnsafeBytes(of: memory.pointee.error) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if message.isEmpty { message = fallback }
        let m = message.lowercased()
        if m.contains("read error") || m.contains("unexpected end") || m.contains("premature") || m.contains("eof")
            || m.contains("past end") || m.contains("not enough data") || m.contains("cannot read") {
            return .truncated(source: source, format: .tiff, detail: message)
        }
        return .corrupt(source: source, format: .tiff, detail: message)
    }
}
