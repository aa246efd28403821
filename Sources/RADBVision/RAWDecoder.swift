import CImageCodecs

// MARK: - RAWDecoder

/// Camera raw decoding through libraw (CR2, CR3, NEF, ARW, DNG, ORF, RW2, RAF, PEF, …).
///
/// A raw file holds undemosaiced sensor data and, usually, a JPEG preview the camera rendered.
/// The preview is used when it is large enough — it covers the size the caller asked for, or
/// without a size hint it is at least as large as a half-size demosaic would be — because it
/// is what the photographer saw and costs one JPEG decode. Otherwise the sensor data is
/// demosaiced at half size (each 2×2 Bayer cell becomes one pixel: no interpolation, a quarter
/// of the memory) with the camera's white balance and sRGB output. Which of the two produced
/// the picture is reported by `decode` (`Rendering`). The camera's orientation is applied once.
enum RAWDecoder {
    /// How a raw file became a picture.
    enum Rendering: String, Sendable {
        /// The JPEG (or bitmap) preview the camera stored in the file.
        case embeddedPreview = "embedded preview"
        /// libraw's half-size demosaic of the sensor data.
        case halfSizeDemosaic = "half-size demosaic"
    }

    /// Bytes per (full-size, upright) pixel at the peak of a demosaic: the 16-bit raw data (2),
    /// the half-size 4-channel 16-bit working image (2) and the 8-bit output and `Image` (1.5),
    /// rounded up.
    static let peakBytesPerPixel = 6

    struct Header {
        var size: ImageSize          // full output size, upright
        var orientation: ImageOrientation
        var preview: ImageSize?      // the embedded preview's declared size (stored orientation)
    }

    /// libraw's `flip` (dcraw's: bit 2 transpose, bit 1 vertical, bit 0 horizontal) as EXIF orientation.
    static func orientation(flip: Int32) -> ImageOrientation {
        switch flip {
        case 1: return .upMirrored
        case 2: return .downMirrored
        case 3: return .down
        case 4: return .leftMirrored
        case 5: return .left
        case 6: return .right
        case 7: return .rightMirrored
        default: return .up
        }
    }

    private static func withRaw<T>(_ bytes: UnsafeRawBufferPointer, source: String,
                                   _ body: (UnsafeMutablePointer<libraw_data_t>, Header) throws -> T) throws -> T {
        guard let raw = libraw_init(0) else {
            throw ImageError.corrupt(source: source, format: .raw, detail: "libraw could not start a decoder")
        }
        defer { libraw_close(raw) }
        // libraw prints data errors to stderr by default; they surface as return codes instead.
        libraw_set_dataerror_handler(raw, { _, _, _ in }, nil)
        let status = libraw_open_buffer(raw, UnsafeMutableRawPointer(mutating: bytes.baseAddress!), bytes.count)
        guard status == LIBRAW_SUCCESS.rawValue else { throw error(status, source: source) }
        let sizes = raw.pointee.sizes
        guard sizes.width > 0, sizes.height > 0 else {
            throw ImageError.corrupt(source: source, format: .raw, detail: "the sensor area is \(sizes.width)x\(sizes.height) pixels")
        }
        let orientation = orientation(flip: sizes.flip)
        let thumbnail = raw.pointee.thumbnail
        let preview = thumbnail.twidth > 0 && thumbnail.theight > 0 && thumbnail.tlength > 0
            ? ImageSize(width: Int(thumbnail.twidth), height: Int(thumbnail.theight)) : nil
        let header = Header(size: orientation.uprightSize(of: ImageSize(width: Int(sizes.width), height: Int(sizes.height))),
                            orientation: orientation, preview: preview)
        return try body(raw, header)
    }

    static func size(_ bytes: UnsafeRawBufferPointer, source: String) throws -> ImageSize {
        try withRaw(bytes, source: source) { _, header in header.size }
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, source: String, maxPixels: Int,
                       targetSize: ImageSize?) throws -> (Image, Rendering) {
        try withRaw(bytes, source: source) { raw, header in
            guard header.size.pixelCount <= maxPixels else {
                throw ImageError.tooLarge(source: source, width: header.size.width, height: header.size.height, maxPixels: maxPixels)
            }
            if let preview = header.preview, previewIsLargeEnough(preview, header: header, target: targetSize),
               let image = try? decodePreview(raw, header: header, source: source, maxPixels: maxPixels, targetSize: targetSize) {
                return (image, .embeddedPreview)
            }
            return (try demosaic(raw, source: source), .halfSizeDemosaic)
        }
    }

    /// Whether the preview covers the target (upright), or without a target, half the full size.
    static func previewIsLargeEnough(_ preview: ImageSize, header: Header, target: ImageSize?) -> Bool {
        let upright = header.orientation.uprightSize(of: preview)
        let need = target ?? ImageSize(width: header.size.width / 2, height: header.size.height / 2)
        return upright.width >= need.width && upright.height >= need.height
    }

    private static func decodePreview(_ raw: UnsafeMutablePointer<libraw_data_t>, header: Header, source: String,
                                       maxPixels: Int, targetSize: ImageSize?) throws -> Image? {
        guard libraw_unpack_thumb(raw) == LIBRAW_SUCCESS.rawValue else { return nil }
        var code: Int32 = 0
        guard let processed = libraw_dcraw_make_mem_thumb(raw, &code) else { return nil }
        defer { libraw_dcraw_clear_mem(processed) }
        let p = processed.pointee
        let data = UnsafeRawPointer(processed) + MemoryLayout<libraw_processed_image_t>.offset(of: \libraw_processed_image_t.data)!
        let bytes = UnsafeRawBufferPointer(start: data, count: Int(p.data_size))
        var image: Image
        if p.type == LIBRAW_IMAGE_JPEG {
            guard ImageFormat.detect(bytes) == .supported(.jpeg) else { return nil }
            // A preview that carries its own EXIF orientation was already turned by the JPEG decoder.
            let ownOrientation = JPEGMarkerScan(bytes).orientation
            let hint = targetSize.map { header.orientation.swapsDimensions ? ImageSize(width: $0.height, height: $0.width) : $0 }
            image = try JPEGDecoder.decode(bytes, source: source, maxPixels: maxPixels, targetSize: hint)
            if ownOrientation != .up { return image }
        } else if p.type == LIBRAW_IMAGE_BITMAP, p.bits == 8, p.colors == 3 || p.colors == 1 {
            let w = Int(p.width), h = Int(p.height), c = Int(p.colors)
            guard w > 0, h > 0, w * h * c <= bytes.count else { return nil }
            image = Image(width: w, height: h) { rgb in
                for i in 0..<w * h {
                    for k in 0..<3 { rgb[3 * i + k] = bytes[c * i + (c == 3 ? k : 0)] }
                }
            }
        } else {
            return nil
        }
        return header.orientation == .up ? image : image.applyingOrientation(header.orientation)
    }

    private static func demosaic(_ raw: UnsafeMutablePointer<libraw_data_t>, source: String) throws -> Image {
        raw.pointee.params.half_size = 1
        raw.pointee.params.use_camera_wb = 1
        raw.pointee.params.output_bps = 8
        var status = libraw_unpack(raw)
        guard status == LIBRAW_SUCCESS.rawValue else { throw error(status, source: source) }
        status = libraw_dcraw_process(raw)
        guard status == LIBRAW_SUCCESS.rawValue else { throw error(status, source: source) }
        var code: Int32 = 0
        guard let processed = libraw_dcraw_make_mem_image(raw, &code) else { throw error(code, source: source) }
        defer { libraw_dcraw_clear_mem(processed) }
        let p = processed.pointee
        let w = Int(p.width), h = Int(p.height), c = Int(p.colors)
        let data = (UnsafeRawPointer(processed) + MemoryLayout<libraw_processed_image_t>.offset(of: \libraw_processed_image_t.data)!)
            .assumingMemoryBound(to: UInt8.self)
        guard p.type == LIBRAW_IMAGE_BITMAP, p.bits == 8, c == 3 || c == 1, w > 0, h > 0, w * h * c <= Int(p.data_size) else {
            throw ImageError.corrupt(source: source, format: .raw, detail: "libraw produced no 8-bit RGB picture")
        }
        // libraw_dcraw_make_mem_image has already turned the picture upright.
        return Image(width: w, height: h) { rgb in
            if c == 3 { rgb.baseAddress!.update(from: data, count: w * h * 3) }
            else { for i in 0..<w * h { rgb[3 * i] = data[i]; rgb[3 * i + 1] = data[i]; rgb[3 * i + 2] = data[i] } }
        }
    }

    private static func error(_ code: Int32, source: String) -> ImageError {
        let message = libraw_strerror(code).map { String(cString: $0) } ?? "libraw error \(code)"
        switch code {
        case LIBRAW_FILE_UNSUPPORTED.rawValue:
            return .unsupportedFormat(source: source, format: "camera RAW of this kind (libraw: \(message))")
        case LIBRAW_IO_ERROR.rawValue:
            return .truncated(source: source, format: .raw, detail: message)
        default:
            return .corrupt(source: source, format: .raw, detail: message)
        }
    }
}
