/// The encoded formats radb decodes, recognised by their leading bytes (never the file name).
public enum ImageFormat: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case jpeg = "JPEG"
    case png = "PNG"
    case webp = "WebP"
    /// HEIF with HEVC pictures (phones' HEIC), decoded by libheif.
    case heif = "HEIC/HEIF"
    /// HEIF with AV1 pictures, decoded by libheif (needs its AV1 decoder, dav1d or aom).
    case avif = "AVIF"
    case tiff = "TIFF"
    case gif = "GIF"
    case bmp = "BMP"
    /// A camera raw file (CR2, CR3, NEF, ARW, DNG, ORF, RW2, RAF, PEF, …), decoded by libraw.
    case raw = "camera RAW"

    public var description: String { rawValue }

    /// What the leading bytes of a file say it is.
    enum Detection: Equatable {
        case supported(ImageFormat)
        case unsupported(String)
        case unknown
    }

    /// Classifies data by its magic numbers: the first 16 bytes, the ISO-BMFF `ftyp` box (HEIF,
    /// AVIF, CR3) and, for TIFF containers, the first directory (to tell camera raw files,
    /// which are TIFF-shaped, from TIFF pictures).
    static func detect(_ bytes: UnsafeRawBufferPointer) -> Detection {
        func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            guard bytes.count >= offset + magic.count else { return false }
            for (i, b) in magic.enumerated() where bytes[offset + i] != b { return false }
            return true
        }
        func starts(_ magic: String, at offset: Int = 0) -> Bool { starts(Array(magic.utf8), at: offset) }
        if starts([0xFF, 0xD8, 0xFF]) { return .supported(.jpeg) }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .supported(.png) }
        if starts("RIFF") && starts("WEBP", at: 8) { return .supported(.webp) }
        if starts("GIF87a") || starts("GIF89a") { return .supported(.gif) }
        if starts("BM") && bytes.count >= 26 {
            // The DIB header size names the BMP version: core (12), info (40), v2–v5 (52…124).
            let dib = Int(bytes[14]) | Int(bytes[15]) << 8 | Int(bytes[16]) << 16 | Int(bytes[17]) << 24
            return [12, 16, 40, 52, 56, 64, 108, 124].contains(dib) ? .supported(.bmp) : .unknown
        }
        // TIFF-shaped raw formats with their own magic: ORF ("IIRO", "IIRS", "MMOR"), RW2 ("IIU\0").
        if starts("IIRO") || starts("IIRS") || starts("MMOR") || starts([0x49, 0x49, 0x55, 0x00]) { return .supported(.raw) }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) {
            return .supported(TIFFDirectoryScan.looksLikeCameraRaw(bytes) ? .raw : .tiff)
        }
        if starts([0x49, 0x49, 0x2B, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2B]) { return .supported(.tiff) } // BigTIFF
        if starts("FUJIFILMCCD-RAW") || starts("FOVb") || starts([0x00, 0x4D, 0x52, 0x4D])
            || (starts([0x49, 0x49, 0x1A, 0x00, 0x00, 0x00]) && starts("HEAPCCDR", at: 6)) {
            return .supported(.raw)  // RAF, X3F, MRW, CRW
        }
        if starts("ftyp", at: 4), bytes.count >= 12 {
            return ftypBrand(bytes)
        }
        return .unknown
    }

    /// HEIF family by the `ftyp` box: major brand, then the compatible brands (an AVIF may carry
    /// the generic major brand "mif1" with "avif" among its compatible brands).
    private static func ftypBrand(_ bytes: UnsafeRawBufferPointer) -> Detection {
        func brand(at offset: Int) -> String { String(decoding: bytes[offset..<offset + 4], as: UTF8.self) }
        let boxSize = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        let end = min(bytes.count, max(12, min(boxSize, 4096)))
        var brands = [brand(at: 8)]
        var offset = 16 // after major brand and minor version
        while offset + 4 <= end { brands.append(brand(at: offset)); offset += 4 }
        let major = brands[0]
        if major == "crx " { return .supported(.raw) } // Canon CR3
        let avif: Set<String> = ["avif", "avis"]
        let heic: Set<String> = ["heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs"]
        if avif.contains(major) { return .supported(.avif) }
        if heic.contains(major) { return .supported(.heif) }
        if major == "mif1" || major == "msf1" {
            if brands.contains(where: avif.contains) { return .supported(.avif) }
            return .supported(.heif)
        }
        if major == "jxl " { return .unsupported("JPEG XL") }
        if major.hasPrefix("qt") || major.hasPrefix("isom") || major.hasPrefix("mp4") || major == "M4V " {
            return .unsupported("video (MP4/QuickTime)")
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
