import Foundation
#if canImport(Glibc)
import Glibc
#endif

// MARK: - ImageDecoder

/// Turns JPEG, PNG, WebP, HEIC/HEIF, AVIF, TIFF, GIF, BMP or camera RAW bytes into an upright RGB `Image`.
///
/// The format is detected from the leading bytes, never from the file name. Before any pixel
/// memory is allocated the header is read and its pixel count compared with `maxPixels`, so a
/// small file declaring a gigantic picture (a decompression bomb) costs nothing. EXIF
/// orientation is applied (HEIF's own rotation instead, TIFF's Orientation tag, a raw file's
/// camera orientation); alpha is composited over white; greyscale and CMYK become RGB; 16-bit
/// samples become 8-bit. Multi-picture files give their first (or primary) picture.
///
/// ```swift
/// let image = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: "IMG_0001.jpg"),
///                                     targetSizeHint: ImageSize(width: 256, height: 256))
/// ```
/// Throws `ImageError` for unreadable, empty, unrecognised, unsupported, too large, truncated
/// and corrupt inputs; never crashes on hostile data. Safe to call from many threads at once.
public enum ImageDecoder {
    /// Default limit on declared pixels: 200 megapixels (600 MB as RGB), above any phone or
    /// consumer camera photo yet far below what a bomb header claims.
    public static let defaultMaxPixels = 200_000_000

    // MARK: Decoding

    /// Decodes the image file at `url`.
    /// - Parameters:
    ///   - maxPixels: refuse pictures whose header declares more pixels than this.
    ///   - targetSizeHint: the smallest size (upright) the caller needs. Large JPEGs are then decoded
    ///     at a reduced DCT scale (1/2, 1/4, 1/8) that still covers this size in both dimensions;
    ///     other formats ignore it. Pass nil for full resolution.
    public static func decode(contentsOf url: URL, maxPixels: Int = defaultMaxPixels,
                              targetSizeHint: ImageSize? = nil) throws -> Image {
        let path = url.path // computed once: URL.path is not free
        let bytes = try readFile(path: path)
        return try bytes.withUnsafeBytes {
            try decode($0, source: path, maxPixels: maxPixels, targetSizeHint: targetSizeHint)
        }
    }

    /// Decodes in-memory bytes; `name` is used in error messages (e.g. the upload's name).
    public static func decode(_ data: Data, name: String = "<memory>", maxPixels: Int = defaultMaxPixels,
                              targetSizeHint: ImageSize? = nil) throws -> Image {
        try data.withUnsafeBytes {
            try decode($0, source: name, maxPixels: maxPixels, targetSizeHint: targetSizeHint)
        }
    }

    /// Decodes in-memory bytes; `name` is used in error messages.
    public static func decode(_ bytes: [UInt8], name: String = "<memory>", maxPixels: Int = defaultMaxPixels,
                              targetSizeHint: ImageSize? = nil) throws -> Image {
        try bytes.withUnsafeBytes {
            try decode($0, source: name, maxPixels: maxPixels, targetSizeHint: targetSizeHint)
        }
    }

    /// Decodes bytes the caller keeps alive for the duration of the call.
    public static func decode(_ bytes: UnsafeRawBufferPointer, source: String, maxPixels: Int = defaultMaxPixels,
                              targetSizeHint: ImageSize? = nil) throws -> Image {
        try decodeDescribed(bytes, source: source, maxPixels: maxPixels, targetSizeHint: targetSizeHint).image
    }

    /// A decoded picture with what it was decoded from.
    public struct DecodedImage: Sendable {
        public var image: Image
        public var format: ImageFormat
        /// For camera raw files, how the picture was made: "embedded preview" (the JPEG the
        /// camera stored) or "half-size demosaic" (libraw, from the sensor data); nil otherwise.
        public var rendering: String?
    }

    /// `decode(_:name:maxPixels:targetSizeHint:)`, also saying which format the data was in and,
    /// for camera raw files, whether the embedded preview or a demosaic made the picture.
    public static func decodeDescribed(_ data: Data, name: String = "<memory>", maxPixels: Int = defaultMaxPixels,
                                       targetSizeHint: ImageSize? = nil) throws -> DecodedImage {
        try data.withUnsafeBytes {
            try decodeDescribed($0, source: name, maxPixels: maxPixels, targetSizeHint: targetSizeHint)
        }
    }

    /// Buffer variant of `decodeDescribed(_:name:maxPixels:targetSizeHint:)`.
    public static func decodeDescribed(_ bytes: UnsafeRawBufferPointer, source: String, maxPixels: Int = defaultMaxPixels,
                                       targetSizeHint: ImageSize? = nil) throws -> DecodedImage {
        guard maxPixels > 0 else { throw ImageError.invalidArgument("maxPixels must be positive, got \(maxPixels)") }
        guard bytes.count > 0, bytes.baseAddress != nil else { throw ImageError.empty(source: source) }
        let format = try format(of: bytes, source: source)
        func plain(_ image: Image) -> DecodedImage { DecodedImage(image: image, format: format, rendering: nil) }
        switch format {
        case .jpeg:
            return plain(try JPEGDecoder.decode(bytes, source: source, maxPixels: maxPixels, targetSize: targetSizeHint))
        case .png:
            return plain(try PNGDecoder.decode(bytes, source: source, maxPixels: maxPixels))
        case .webp:
            return plain(try WebPDecoder.decode(bytes, source: source, maxPixels: maxPixels))
        case .heif, .avif:
            return plain(try HEIFDecoder.decode(bytes, format: format, source: source, maxPixels: maxPixels))
        case .tiff:
            return plain(try TIFFDecoder.decode(bytes, source: source, maxPixels: maxPixels))
        case .gif:
            return plain(try GIFDecoder.decode(bytes, source: source, maxPixels: maxPixels))
        case .bmp:
            return plain(try BMPDecoder.decode(bytes, source: source, maxPixels: maxPixels))
        case .raw:
            let (image, rendering) = try RAWDecoder.decode(bytes, source: source, maxPixels: maxPixels, targetSize: targetSizeHint)
            return DecodedImage(image: image, format: format, rendering: rendering.rawValue)
        }
    }

    // MARK: Format

    /// The format the bytes are in, or the error `decode` would throw for unrecognised data.
    public static func format(of bytes: UnsafeRawBufferPointer, source: String = "<memory>") throws -> ImageFormat {
        guard bytes.count > 0 else { throw ImageError.empty(source: source) }
        switch ImageFormat.detect(bytes) {
        case .supported(let format): return format
        case .unsupported(let name): throw ImageError.unsupportedFormat(source: source, format: name)
        case .unknown: throw ImageError.notAnImage(source: source, leadingBytes: ImageFormat.leadingBytesDescription(bytes))
        }
    }

    /// What the first bytes of a file say, for a caller deciding whether to read it at all.
    public enum Signature: Equatable, Sendable {
        /// A format radb decodes (the exact one is decided from the whole file).
        case image
        /// A recognised format radb does not decode, by name.
        case unsupported(String)
        /// No known signature; the first bytes in hex.
        case unknown(leadingBytes: String)
    }

    /// Classifies the first bytes of a file (64 are plenty) without decoding anything.
    public static func signature(of head: UnsafeRawBufferPointer) -> Signature {
        switch ImageFormat.detect(head) {
        case .supported: return .image
        case .unsupported(let name): return .unsupported(name)
        case .unknown: return .unknown(leadingBytes: ImageFormat.leadingBytesDescription(head))
        }
    }

    // MARK: File reading

    /// What to tell a user who gave a path that is not a regular file (`st_mode` of it).
    public static func notRegularFileReason(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "it is a directory"
        case S_IFIFO: return "it is a FIFO (named pipe), not a file; radb reads image files only"
        case S_IFSOCK: return "it is a socket, not a file; radb reads image files only"
        case S_IFCHR, S_IFBLK: return "it is a device, not a file; radb reads image files only"
        default: return "it is not a regular file"
        }
    }

    /// Reads a whole file with POSIX calls (one open, one fstat, few reads), mapping errno to a
    /// message that names the file.
    static func readFile(path: String) throws -> [UInt8] {
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        // The type is checked on the open descriptor, so the file cannot be swapped in between.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw ImageError.unreadable(source: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ImageError.unreadable(source: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ImageError.unreadable(source: path, reason: notRegularFileReason(info.st_mode))
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        let size = Int(info.st_size)
        if size == 0 { throw ImageError.empty(source: path) }
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var done = 0
            while done < size {
                let n = read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno; break }
                if n == 0 { break } // the file shrank while we read it
                done += n
            }
            count = done
        }
        if failure != 0 { throw ImageError.unreadable(source: path, reason: String(cString: strerror(failure))) }
        if bytes.isEmpty { throw ImageError.empty(source: path) }
        return bytes
    }
}
