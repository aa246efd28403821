import CImageCodecs

// MARK: - HEIFDecoder

/// HEIC/HEIF and AVIF decoding through libheif (HEVC pictures by libde265, AV1 by dav1d or aom).
///
/// Reads the file's primary image. Orientation: HEIF records rotation and mirroring as `irot`
/// and `imir` properties, and libheif applies them (and `clap` cropping) while decoding; an
/// EXIF orientation tag in the file describes the same turn and is therefore *not* applied
/// again. The header size reported here is the size after those transformations.
/// 10- and 12-bit pictures are reduced to 8 bits by libheif; alpha is composited over white.
enum HEIFDecoder {
    /// libheif's one-time global setup (plugin registry); thread-safe through Swift's lazy globals.
    private static let initialized: Bool = {
        heif_init(nil).code == heif_error_Ok
    }()

    /// Bytes per pixel at the peak of a decode: libheif's planes (up to 4:4:4 at 16 bits, 6),
    /// its interleaved RGBA output (4) and the RGB `Image` (3).
    static let peakBytesPerPixel = 13

    struct Header {
        var size: ImageSize
        var hasAlpha: Bool
        var premultiplied: Bool
    }

    /// Opens the bytes, finds the primary image and hands its handle to `body`.
    private static func withPrimaryImage<T>(_ bytes: UnsafeRawBufferPointer, format: ImageFormat, source: String,
                                            _ body: (OpaquePointer, Header) throws -> T) throws -> T {
        _ = initialized
        guard let context = heif_context_alloc() else {
            throw ImageError.corrupt(source: source, format: format, detail: "libheif could not start a decoder")
        }
        defer { heif_context_free(context) }
        let status = heif_context_read_from_memory_without_copy(context, bytes.baseAddress, bytes.count, nil)
        guard status.code == heif_error_Ok else { throw error(status, format: format, source: source, bytes: bytes) }
        var handle: OpaquePointer?
        let primary = heif_context_get_primary_image_handle(context, &handle)
        guard primary.code == heif_error_Ok, let handle else { throw error(primary, format: format, source: source, bytes: bytes) }
        defer { heif_image_handle_release(handle) }
        let width = Int(heif_image_handle_get_width(handle)), height = Int(heif_image_handle_get_height(handle))
        guard width > 0, height > 0 else {
            throw ImageError.corrupt(source: source, format: format, detail: "the primary image declares \(width)x\(height) pixels")
        }
        let header = Header(size: ImageSize(width: width, height: height),
                            hasAlpha: heif_image_handle_has_alpha_channel(handle) != 0,
                            premultiplied: heif_image_handle_is_premultiplied_alpha(handle) != 0)
        return try body(handle, header)
    }

    /// The upright size of the primary image, from the container alone (no pixels decoded).
    static func size(_ bytes: UnsafeRawBufferPointer, format: ImageFormat, source: String) throws -> ImageSize {
        try withPrimaryImage(bytes, format: format, source: source) { _, header in header.size }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, format: ImageFormat, source: String, maxPixels: Int) throws -> Image {
        if format == .avif && heif_have_decoder_for_format(heif_compression_AV1) == 0 {
            throw ImageError.unsupportedFormat(source: source, format: "AVIF (this libheif has no AV1 decoder; install libdav1d or libaom)")
        }
        return try withPrimaryImage(bytes, format: format, source: source) { handle, header in
            guard header.size.pixelCount <= maxPixels else {
                throw ImageError.tooLarge(source: source, width: header.size.width, height: header.size.height, maxPixels: maxPixels)
            }
            guard let options = heif_decoding_options_alloc() else {
                throw ImageError.corrupt(source: source, format: format, detail: "libheif could not allocate decoding options")
            }
            defer { heif_decoding_options_free(options) }
            options.pointee.convert_hdr_to_8bit = 1
            let chroma = header.hasAlpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB
            var decoded: OpaquePointer?
            let status = heif_decode_image(handle, &decoded, heif_colorspace_RGB, chroma, options)
            guard status.code == heif_error_Ok, let decoded else { throw error(status, format: format, source: source, bytes: bytes) }
            defer { heif_image_release(decoded) }
            let width = Int(heif_image_get_width(decoded, heif_channel_interleaved))
            let height = Int(heif_image_get_height(decoded, heif_channel_interleaved))
            var stride: Int32 = 0
            guard width > 0, height > 0, width * height <= maxPixels,
                  let plane = heif_image_get_plane_readonly(decoded, heif_channel_interleaved, &stride),
                  heif_image_get_bits_per_pixel(decoded, heif_channel_interleaved) == (header.hasAlpha ? 32 : 24) else {
                throw ImageError.corrupt(source: source, format: format, detail: "libheif returned no 8-bit RGB picture")
            }
            let channels = header.hasAlpha ? 4 : 3
            guard Int(stride) >= width * channels else {
                throw ImageError.corrupt(source: source, format: format, detail: "libheif returned rows of \(stride) bytes for \(width) pixels")
            }
            return Image(width: width, height: height) { rgb in
                for y in 0..<height {
                    let row = plane + y * Int(stride)
                    let out = rgb.baseAddress! + y * width * 3
                    if channels == 3 {
                        out.update(from: row, count: width * 3)
                    } else {
                        let src = UnsafeBufferPointer(start: row, count: width * 4)
                        let dst = UnsafeMutableBufferPointer(start: out, count: width * 3)
                        if header.premultiplied { compositePremultipliedOverWhite(src, into: dst) }
                        else { PNGDecoder.compositeOverWhite(src, into: dst) }
                    }
                }
            }
        }
    }

    /// RGBA with premultiplied (associated) alpha over white: `out = c + 255 − a`.
    static func compositePremultipliedOverWhite(_ rgba: UnsafeBufferPointer<UInt8>, into rgb: UnsafeMutableBufferPointer<UInt8>) {
        for i in 0..<rgb.count / 3 {
            let background = 255 - Int(rgba[4 * i + 3])
            for c in 0..<3 { rgb[3 * i + c] = UInt8(min(255, Int(rgba[4 * i + c]) + background)) }
        }
    }

    private static func error(_ status: heif_error, format: ImageFormat, source: String, bytes: UnsafeRawBufferPointer) -> ImageError {
        var message = status.message.map { String(cString: $0) } ?? ""
        if message.isEmpty { message = "libheif error \(status.code.rawValue).\(status.subcode.rawValue)" }
        if status.subcode == heif_suberror_End_of_data {
            return .truncated(source: source, format: format, detail: message)
        }
        // A cut-off file often shows up as a missing box; the top-level box sizes tell.
        if let declared = declaredLength(bytes), declared > bytes.count {
            return .truncated(source: source, format: format,
                              detail: "the boxes declare \(declared) bytes, the file has \(bytes.count) (libheif: \(message))")
        }
        if status.code == heif_error_Unsupported_feature || status.code == heif_error_Unsupported_filetype {
            return .unsupportedFormat(source: source, format: "\(format) (\(message))")
        }
        return .corrupt(source: source, format: format, detail: message)
    }

    /// The length the top-level ISO-BMFF boxes add up to (nil when a box header is unreadable).
    static func declaredLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        func be(_ at: Int, _ n: Int) -> Int { (0..<n).reduce(0) { $0 << 8 | Int(bytes[at + $1]) } }
        var offset = 0
        while offset < bytes.count {
            guard offset + 8 <= bytes.count else { return offset + 8 }
            var size = be(offset, 4)
            if size == 1 {
                guard offset + 16 <= bytes.count else { return offset + 16 }
                size = be(offset + 8, 8)
                guard size >= 16, size < Int.max / 2 else { return nil }
            } else if size == 0 {
                return bytes.count // the last box runs to the end of the file
            }
            guard size >= 8 else { return nil }
            offset += size
        }
        return offset
    }
}
