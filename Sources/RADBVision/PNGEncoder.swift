import CImageCodecs
import Foundation

// MARK: - PNGEncoder

/// Writes `Image`s as 8-bit RGB PNG files (contact sheets, debugging output) through libpng's
/// simplified write API. Lossless: decoding the bytes gives back the same pixels.
public enum PNGEncoder {
    /// The PNG file bytes for `image`. Throws `ImageError.encodingFailed` only if libpng fails
    /// (which, for a valid `Image`, means it ran out of memory).
    public static func encode(_ image: Image) throws -> [UInt8] {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = UInt32(PNG_FORMAT_RGB)
        defer { png_image_free(&png) }
        // Room for incompressible data plus zlib and chunk overhead, so one pass usually suffices.
        var capacity = image.pixels.count + image.pixels.count / 100 + image.height + 4096
        for _ in 0..<2 {
            var written = capacity
            var out = [UInt8](repeating: 0, count: capacity)
            let ok = image.pixels.withUnsafeBytes { src in
                out.withUnsafeMutableBytes { dst in
                    png_image_write_to_memory(&png, dst.baseAddress, &written, 0, src.baseAddress, 0, nil)
                }
            }
            if ok != 0 {
                out.removeSubrange(written...)
                return out
            }
            guard written > capacity else { break } // a real failure, not a short buffer
            capacity = written
        }
        let message = withUnsafeBytes(of: png.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        throw ImageError.encodingFailed("PNG encoding of a \(image.width)x\(image.height) image failed: \(message)")
    }

    /// Encodes `image` and writes it to `url` atomically.
    public static func write(_ image: Image, to url: URL) throws {
        let bytes = try encode(image)
        do {
            try Data(bytes).write(to: url, options: .atomic)
        } catch {
            throw ImageError.unwritable(destination: url.path, reason: error.localizedDescription)
        }
    }
}
