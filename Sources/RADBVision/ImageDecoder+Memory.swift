import Foundation

// MARK: - Decoding memory, known before decoding

/// What decoding one encoded image will cost in memory, read from its header alone.
///
/// A 190 KB PNG may declare 14000×14000 pixels and take 1.4 GB to decode; callers that decode
/// many files at once (ingest decodes a whole batch before embedding it) budget with this
/// before allocating anything.
public struct DecodingCost: Sendable, Equatable {
    /// The format the bytes are in.
    public let format: ImageFormat
    /// The full picture size the header declares (before orientation).
    public let declaredSize: ImageSize
    /// An upper bound on the bytes held at the peak of decoding: the codec's output buffer
    /// (RGBA or CMYK for pictures with alpha or in CMYK), the RGB `Image` built from it and a
    /// rotated copy when EXIF orientation asks for one. JPEGs count at the reduced DCT scale
    /// the decoder will use for the size hint.
    public let peakBytes: Int
}

extension ImageDecoder {
    /// Bytes per decoded pixel at the peak of decoding, by format: JPEG, PNG and WebP hold a
    /// 4-byte codec buffer (RGBA, or CMYK) next to the 3-byte RGB image, or the RGB image next to
    /// its rotated copy (7); the other decoders say what they hold in their own constant.
    static func peakBytesPerPixel(_ format: ImageFormat) -> Int {
        switch format {
        case .jpeg, .png, .webp: return 7
        case .heif, .avif: return HEIFDecoder.peakBytesPerPixel
        case .tiff: return TIFFDecoder.peakBytesPerPixel
        case .gif: return GIFDecoder.peakBytesPerPixel
        case .bmp: return BMPDecoder.peakBytesPerPixel
        case .raw: return RAWDecoder.peakBytesPerPixel
        }
    }

    /// The memory decoding `bytes` with `targetSizeHint` will need, from the header alone.
    /// - Throws: the `ImageError`s `size(of:source:)` throws for unreadable headers.
    public static func decodingCost(of bytes: UnsafeRawBufferPointer, source: String,
                                    targetSizeHint: ImageSize? = nil) throws -> DecodingCost {
        let format = try format(of: bytes, source: source)
        let upright = try size(of: bytes, source: source)
        var decoded = upright
        if format == .jpeg {
            // Decoded at 1/d in both directions (JPEGDecoder.denominator); the size is upright,
            // and so is the hint, as in JPEGDecoder.decode.
            let d = JPEGDecoder.denominator(for: upright, target: targetSizeHint)
            decoded = ImageSize(width: (upright.width + d - 1) / d, height: (upright.height + d - 1) / d)
        }
        let (bytesNeeded, overflow) = decoded.pixelCount.multipliedReportingOverflow(by: peakBytesPerPixel(format))
        return DecodingCost(format: format, declaredSize: upright, peakBytes: overflow ? Int.max : bytesNeeded)
    }

    /// `decodingCost(of:source:targetSizeHint:)` for in-memory `Data`.
    public static func decodingCost(of data: Data, name: String = "<memory>",
                                    targetSizeHint: ImageSize? = nil) throws -> DecodingCost {
        try data.withUnsafeBytes { try decodingCost(of: $0, source: name, targetSizeHint: targetSizeHint) }
    }
}
