import CImageCodecs

// MARK: - JPEGDecoder

/// JPEG decoding through TurboJPEG (libjpeg-turbo's SIMD decoder).
///
/// Handles baseline and progressive files, greyscale (expanded to RGB), and CMYK/YCCK (decoded
/// as CMYK, then converted; Adobe files store inverted inks). When a target size is given it
/// decodes at 1/2, 1/4 or 1/8 scale in the IDCT — far less work for a 12-megapixel photo headed
/// for 224×224 — while keeping the result at least as large as the target in both dimensions.
package enum JPEGDecoder {
    /// Header facts read without decoding pixels.
    struct Header {
        var size: ImageSize
        var colorspace: Int32
    }

    /// Reductions used, largest first. TurboJPEG also offers the other N/8 factors
    /// (tjGetScalingFactors), but only 1/2 and 1/4 have SIMD reduced IDCTs and 1/8 is DC-only;
    /// the rest run generic C code. Power-of-two choices also match Pillow's `draft()`.
    static let reductionDenominators: [Int] = [8, 4, 2]

    // MARK: Header

    static func readHeader(_ bytes: UnsafeRawBufferPointer, handle: tjhandle, source: String) throws -> Header {
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let status = tjDecompressHeader3(handle, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt(bytes.count),
                                         &width, &height, &subsampling, &colorspace)
        if status != 0 {
            throw error(handle: handle, source: source, fallback: "unreadable header")
        }
        guard width > 0, height > 0 else {
            throw ImageError.corrupt(source: source, format: .jpeg, detail: "header declares \(width)x\(height) pixels")
        }
        return Header(size: ImageSize(width: Int(width), height: Int(height)), colorspace: colorspace)
    }

    /// The reduction denominator (1, 2, 4 or 8) whose scaled picture still covers `target`.
    /// `uprightSize` is the full size after orientation; the target is in upright terms too.
    static func denominator(for uprightSize: ImageSize, target: ImageSize?) -> Int {
        guard let target, target.width > 0, target.height > 0 else { return 1 }
        for d in reductionDenominators {
            let w = (uprightSize.width + d - 1) / d, h = (uprightSize.height + d - 1) / d
            if w >= target.width && h >= target.height { return d }
        }
        return 1
    }

    // MARK: Decode

    /// Decodes JPEG bytes to upright RGB. Throws `ImageError.tooLarge` before allocating pixel memory
    /// when the header's pixel count exceeds `maxPixels`.
    static func decode(_ bytes: UnsafeRawBufferPointer, source: String, maxPixels: Int,
                       targetSize: ImageSize?) throws -> Image {
        guard let handle = tjInitDecompress() else {
            throw ImageError.corrupt(source: source, format: .jpeg, detail: "TurboJPEG could not start a decoder")
        }
        defer { tjDestroy(handle) }
        let header = try readHeader(bytes, handle: handle, source: source)
        guard header.size.pixelCount <= maxPixels else {
            throw ImageError.tooLarge(source: source, width: header.size.width, height: header.size.height,
                                      maxPixels: maxPixels)
        }
        let markers = JPEGMarkerScan(bytes)
        let d = denominator(for: markers.orientation.uprightSize(of: header.size), target: targetSize)
        let width = (header.size.width + d - 1) / d, height = (header.size.height + d - 1) / d
        let isCMYK = header.colorspace == Int32(TJCS_CMYK.rawValue) || header.colorspace == Int32(TJCS_YCCK.rawValue)
        // LIMITSCANS refuses progressive files with absurd scan counts (a CPU-time bomb).
        let flags = Int32(TJFLAG_LIMITSCANS)
        let src = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)

        var image: Image
        if isCMYK {
            var cmyk = [UInt8](repeating: 0, count: width * height * 4)
            let status = cmyk.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src, UInt(bytes.count), dst.baseAddress, Int32(width), Int32(width * 4),
                              Int32(height), Int32(TJPF_CMYK.rawValue), flags)
            }
            try check(status, handle: handle, source: source)
            image = Image(width: width, height: height) { rgb in
                cmyk.withUnsafeBufferPointer { convertCMYK($0, to: rgb, inverted: markers.hasAdobeMarker) }
            }
        } else {
            var status: Int32 = 0
            image = Image(width: width, height: height) { dst in
                status = tjDecompress2(handle, src, UInt(bytes.count), dst.baseAddress, Int32(width), Int32(width * 3),
                                       Int32(height), Int32(TJPF_RGB.rawValue), flags)
            }
            try check(status, handle: handle, source: source)
        }
        return image.applyingOrientation(markers.orientation)
    }

    /// CMYK → RGB the way Pillow and most viewers do it: R = (255 − C)(255 − K)/255.
    /// Adobe files store 255 − ink, in which case R = C′K′/255.
    package static func convertCMYK(_ cmyk: UnsafeBufferPointer<UInt8>, to rgb: UnsafeMutableBufferPointer<UInt8>,
                            inverted: Bool) {
        let n = rgb.count / 3
        for i in 0..<n {
            var c = Int(cmyk[4 * i]), m = Int(cmyk[4 * i + 1]), y = Int(cmyk[4 * i + 2]), k = Int(cmyk[4 * i + 3])
            if !inverted { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k }
            rgb[3 * i] = UInt8((c * k + 127) / 255)
            rgb[3 * i + 1] = UInt8((m * k + 127) / 255)
            rgb[3 * i + 2] = UInt8((y * k + 127) / 255)
        }
    }

    // MARK: Errors

    /// Accepts success and benign warnings (e.g. "extraneous bytes before marker", which many
    /// cameras produce); turns a missing end of data or any fatal error into an ImageError.
    private static func check(_ status: Int32, handle: tjhandle, source: String) throws {
        guard status != 0 else { return }
        let message = String(cString: tjGetErrorStr2(handle))
        let fatal = tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue)
        if fatal || isTruncation(message) {
            throw error(handle: handle, source: source, fallback: message)
        }
    }

    private static func isTruncation(_ message: String) -> Bool {
        let m = message.lowercased()
        return m.contains("premature end") || m.contains("end of file") || m.contains("incomplete")
    }

    private static func error(handle: tjhandle, source: String, fallback: String) -> ImageError {
        var message = String(cString: tjGetErrorStr2(handle))
        if message.isEmpty { message = fallback }
        // Valid files TurboJPEG cannot decode (12-bit or lossless JPEG, for example).
        if message.lowercased().contains("unsupported") {
            return .unsupportedFormat(source: source, format: "JPEG variant (\(message))")
        }
        return isTruncation(message)
            ? .truncated(source: source, format: .jpeg, detail: message)
            : .corrupt(source: source, format: .jpeg, detail: message)
    }
}
