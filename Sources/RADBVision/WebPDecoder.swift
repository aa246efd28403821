import CImageCodecs

// MARK: - WebPDecoder

/// WebP decoding (lossy and lossless, still images) through libwebp. Pictures with alpha are
/// composited over white, like PNG. Animated WebP is refused with a typed error.
enum WebPDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, source: String, maxPixels: Int) throws -> Image {
        let src = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var features = WebPBitstreamFeatures()
        let status = WebPGetFeatures(src, bytes.count, &features)
        guard status == VP8_STATUS_OK else {
            throw error(status, bytes: bytes, source: source, fallback: "unreadable header")
        }
        let size = ImageSize(width: Int(features.width), height: Int(features.height))
        guard size.width > 0, size.height > 0 else {
            throw ImageError.corrupt(source: source, format: .webp, detail: "header declares \(size) pixels")
        }
        guard size.pixelCount <= maxPixels else {
            throw ImageError.tooLarge(source: source, width: size.width, height: size.height, maxPixels: maxPixels)
        }
        if features.has_animation != 0 {
            throw ImageError.unsupportedFormat(source: source, format: "Animated WebP")
        }
        var image: Image
        if features.has_alpha != 0 {
            var rgba = [UInt8](repeating: 0, count: size.width * size.height * 4)
            let out = rgba.withUnsafeMutableBufferPointer {
                WebPDecodeRGBAInto(src, bytes.count, $0.baseAddress, $0.count, Int32(size.width * 4))
            }
            guard out != nil else { throw error(VP8_STATUS_BITSTREAM_ERROR, bytes: bytes, source: source, fallback: "") }
            image = Image(width: size.width, height: size.height) { rgb in
                rgba.withUnsafeBufferPointer { PNGDecoder.compositeOverWhite($0, into: rgb) }
            }
        } else {
            var ok = false
            image = Image(width: size.width, height: size.height) { rgb in
                ok = WebPDecodeRGBInto(src, bytes.count, rgb.baseAddress, rgb.count, Int32(size.width * 3)) != nil
            }
            guard ok else { throw error(VP8_STATUS_BITSTREAM_ERROR, bytes: bytes, source: source, fallback: "") }
        }
        if let orientation = ExifOrientationReader.webpOrientation(bytes) {
            image = image.applyingOrientation(orientation)
        }
        return image
    }

    private static func error(_ status: VP8StatusCode, bytes: UnsafeRawBufferPointer, source: String,
                              fallback: String) -> ImageError {
        // The RIFF header records the file length; fewer bytes than that means the file was cut off.
        if bytes.count >= 8 {
            let declared = Int(bytes[4]) | Int(bytes[5]) << 8 | Int(bytes[6]) << 16 | Int(bytes[7]) << 24
            if declared + 8 > bytes.count || status == VP8_STATUS_NOT_ENOUGH_DATA {
                return .truncated(source: source, format: .webp,
                                  detail: "RIFF header declares \(declared + 8) bytes, file has \(bytes.count)")
            }
        }
        let detail: String
        switch status {
        case VP8_STATUS_BITSTREAM_ERROR: detail = "invalid bitstream"
        case VP8_STATUS_UNSUPPORTED_FEATURE: detail = "uses a feature libwebp does not support"
        case VP8_STATUS_OUT_OF_MEMORY: detail = "out of memory while decoding"
        case VP8_STATUS_INVALID_PARAM: detail = "invalid parameter"
        default: detail = fallback.isEmpty ? "decoder status \(status.rawValue)" : fallback
        }
        return .corrupt(source: source, format: .webp, detail: detail)
    }
}
