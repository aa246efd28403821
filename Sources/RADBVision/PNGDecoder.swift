import CImageCodecs

// MARK: - PNGDecoder

/// PNG decoding through libpng's simplified API (`png_image_*`), which handles every bit depth,
/// palette and grey type and reports errors through a message instead of setjmp/longjmp.
///
/// Alpha policy: a picture with transparency (alpha channel or tRNS) is composited over
/// **white** in sRGB space, `out = (c·a + 255·(255 − a)) / 255`, so transparent screenshots and
/// logos look as they do on a white page rather than turning black. 16-bit samples without gAMA
/// or sRGB chunks are taken as sRGB (the common case for files from image editors) and reduced to
/// 8 bits by rounding; files that declare their gamma are converted by libpng.
enum PNGDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, source: String, maxPixels: Int) throws -> Image {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&png) }
        guard png_image_begin_read_from_memory(&png, bytes.baseAddress, bytes.count) != 0 else {
            throw error(png, source: source)
        }
        let size = ImageSize(width: Int(png.width), height: Int(png.height))
        guard size.pixelCount <= maxPixels else {
            throw ImageError.tooLarge(source: source, width: size.width, height: size.height, maxPixels: maxPixels)
        }
        png.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        let hasAlpha = png.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        var image: Image
        if hasAlpha {
            png.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA) // PNG_FORMAT_RGBA (a macro Swift cannot import)
            var rgba = [UInt8](repeating: 0, count: size.width * size.height * 4)
            let ok = rgba.withUnsafeMutableBytes { png_image_finish_read(&png, nil, $0.baseAddress, 0, nil) }
            guard ok != 0 else { throw error(png, source: source) }
            image = Image(width: size.width, height: size.height) { rgb in
                rgba.withUnsafeBufferPointer { compositeOverWhite($0, into: rgb) }
            }
        } else {
            png.format = UInt32(PNG_FORMAT_RGB)
            var ok: Int32 = 0
            image = Image(width: size.width, height: size.height) { rgb in
                ok = png_image_finish_read(&png, nil, rgb.baseAddress, 0, nil)
            }
            guard ok != 0 else { throw error(png, source: source) }
        }
        if let orientation = ExifOrientationReader.pngOrientation(bytes) {
            image = image.applyingOrientation(orientation)
        }
        return image
    }

    /// RGBA (straight alpha) over an opaque white background.
    static func compositeOverWhite(_ rgba: UnsafeBufferPointer<UInt8>, into rgb: UnsafeMutableBufferPointer<UInt8>) {
        let n = rgb.count / 3
        for i in 0..<n {
            let a = Int(rgba[4 * i + 3])
            let background = 255 * (255 - a)
            rgb[3 * i] = UInt8((Int(rgba[4 * i]) * a + background + 127) / 255)
            rgb[3 * i + 1] = UInt8((Int(rgba[4 * i + 1]) * a + background + 127) / 255)
            rgb[3 * i + 2] = UInt8((Int(rgba[4 * i + 2]) * a + background + 127) / 255)
        }
    }

    private static func error(_ png: png_image, source: String) -> ImageError {
        var message = withUnsafeBytes(of: png.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if message.isEmpty { message = "libpng reported an unspecified error" }
        let m = message.lowercased()
        if m.contains("not enough") || m.contains("unexpected end") || m.contains("read error")
            || m.contains("truncated") || m.contains("eof") {
            return .truncated(source: source, format: .png, detail: message)
        }
        return .corrupt(source: source, format: .png, detail: message)
    }
}
