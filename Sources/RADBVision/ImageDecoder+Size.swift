import CImageCodecs
import Foundation

// MARK: - Size without decoding

extension ImageDecoder {
    /// The upright size (after EXIF orientation) of an encoded image, read from its header
    /// without decoding pixels — what a catalog records even when decoding used a reduced scale.
    ///
    /// Throws the same `ImageError`s as `decode` for empty, unrecognised or corrupt headers.
    public static func size(of data: Data, name: String = "<memory>") throws -> ImageSize {
        try data.withUnsafeBytes { try size(of: $0, source: name) }
    }

    /// Buffer variant of `size(of:name:)`.
    public static func size(of bytes: UnsafeRawBufferPointer, source: String) throws -> ImageSize {
        let format = try format(of: bytes, source: source)
        switch format {
        case .jpeg:
            guard let handle = tjInitDecompress() else {
                throw ImageError.corrupt(source: source, format: .jpeg, detail: "TurboJPEG could not start a decoder")
            }
            defer { tjDestroy(handle) }
            let header = try JPEGDecoder.readHeader(bytes, handle: handle, source: source)
            return JPEGMarkerScan(bytes).orientation.uprightSize(of: header.size)
        case .png:
            // IHDR is the first chunk: 8-byte signature, length, "IHDR", width, height (big-endian).
            guard bytes.count >= 24 else { throw ImageError.truncated(source: source, format: .png, detail: "the file ends inside the header") }
            func be32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 << 8 | Int(bytes[at + $1]) } }
            let size = ImageSize(width: be32(16), height: be32(20))
            guard size.width > 0, size.height > 0 else {
                throw ImageError.corrupt(source: source, format: .png, detail: "header declares \(size) pixels")
            }
            return (ExifOrientationReader.pngOrientation(bytes) ?? .up).uprightSize(of: size)
        case .webp:
            var features = WebPBitstreamFeatures()
            guard WebPGetFeatures(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count, &features) == VP8_STATUS_OK,
                  features.width > 0, features.height > 0 else {
                throw ImageError.corrupt(source: source, format: .webp, detail: "unreadable header")
            }
            let size = ImageSize(width: Int(features.width), height: Int(features.height))
            return (ExifOrientationReader.webpOrientation(bytes) ?? .up).uprightSize(of: size)
        case .heif, .avif:
            return try HEIFDecoder.size(bytes, format: format, source: source)
        case .tiff:
            return try TIFFDecoder.size(bytes, source: source)
        case .gif:
            return try GIFDecoder.size(bytes, source: source)
        case .bmp:
            return try BMPDecoder.size(bytes, source: source)
        case .raw:
            return try RAWDecoder.size(bytes, source: source)
        }
    }
}
