/// The encoded formats radb decodes, recognised by their leading bytes (never the file name).
public enum ImageFormat: String, Sendable, Hashable, CustomStringConvertible {
    case jpeg = "JPEG"
    case png = "PNG"
    case webp = "WebP"

    public var description: String { rawValue }

    /// What the leading bytes of a file say it is.
    enum Detection: Equatable {
        case supported(ImageFormat)
        case unsupported(String)
        case unknown
    }

    /// Classifies data by its magic numbers. Looks at no more than the first 16 bytes.
    static func detect(_ bytes: UnsafeRawBufferPointer) -> Detection {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            guard bytes.count >= offset + magic.count else { return false }
            for (i, b) in magic.enumerated() where bytes[offset + i] != b { return false }
            return true
        }
        if starts([0xFF, 0xD8, 0xFF]) { return .supported(.jpeg) }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .supported(.png) }
        if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return .supported(.webp) }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .unsupported("GIF") }
        if starts([0x42, 0x4D]) && bytes.count >= 26 { return .unsupported("BMP") }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .unsupported("TIFF") }
        if starts(Array("ftyp".utf8), at: 4), bytes.count >= 12 {
            let brand = String(decoding: bytes[8..<12], as: UTF8.self)
            switch brand {
            case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1": return .unsupported("HEIC/HEIF")
            case "avif", "avis": return .unsupported("AVIF")
            default: return .unknown
            }
        }
        return .unknown
    }

    /// The first bytes as hex, for error messages about unrecognised data.
    static func leadingBytesDescription(_ bytes: UnsafeRawBufferPointer) -> String {
        let head = bytes.prefix(8).map { byte -> String in
            let s = String(byte, radix: 16, uppercase: true)
            return s.count == 1 ? "0" + s : s
        }
        return head.joined(separator: " ")
    }
}
