// MARK: - ExifOrientationReader

/// Finds the orientation tag in the metadata of JPEG (APP1 "Exif"), PNG (eXIf chunk) and WebP
/// (EXIF chunk) files, without a metadata library.
///
/// Only IFD0's tag 0x0112 matters; both TIFF byte orders ("II" little-endian, "MM" big-endian)
/// are read. Every offset is bounds-checked: metadata is untrusted input, and a damaged EXIF
/// block yields "no orientation" (upright) rather than an error, as viewers do.
enum ExifOrientationReader {
    /// Reads the orientation from a TIFF structure (the payload after "Exif\0\0").
    static func orientation(tiff: UnsafeRawBufferPointer) -> ImageOrientation? {
        guard tiff.count >= 8 else { return nil }
        let bigEndian: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): bigEndian = false
        case (0x4D, 0x4D): bigEndian = true
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            let a = Int(tiff[at]), b = Int(tiff[at + 1])
            return bigEndian ? (a << 8 | b) : (b << 8 | a)
        }
        func u32(_ at: Int) -> Int? {
            guard let hi = u16(bigEndian ? at : at + 2), let lo = u16(bigEndian ? at + 2 : at) else { return nil }
            return hi << 16 | lo
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return nil }
        for entry in 0..<count {
            let at = ifd + 2 + entry * 12
            guard let tag = u16(at), let type = u16(at + 2) else { return nil }
            guard tag == 0x0112 else { continue }
            // SHORT is the standard type; a few writers use LONG.
            let value: Int?
            switch type {
            case 3: value = u16(at + 8)
            case 4: value = u32(at + 8)
            default: value = nil
            }
            return value.flatMap(ImageOrientation.init(rawValue:))
        }
        return nil
    }

    /// Reads the orientation from a buffer that may begin with the "Exif\0\0" identifier.
    static func orientation(exifPayload: UnsafeRawBufferPointer) -> ImageOrientation? {
        let prefix: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0]
        if exifPayload.count >= 6 && exifPayload.prefix(6).elementsEqual(prefix) {
            return orientation(tiff: UnsafeRawBufferPointer(rebasing: exifPayload[6...]))
        }
        return orientation(tiff: exifPayload)
    }

    // MARK: - PNG

    /// Walks PNG chunks up to the first IDAT looking for eXIf (PNG 1.5 extension).
    static func pngOrientation(_ bytes: UnsafeRawBufferPointer) -> ImageOrientation? {
        var at = 8
        while at + 8 <= bytes.count {
            let length = Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            let type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
            let dataStart = at + 8
            guard length >= 0, dataStart + length <= bytes.count else { return nil }
            if type == "eXIf" {
                return orientation(exifPayload: UnsafeRawBufferPointer(rebasing: bytes[dataStart..<(dataStart + length)]))
            }
            if type == "IDAT" || type == "IEND" { return nil }
            at = dataStart + length + 4
        }
        return nil
    }

    // MARK: - WebP

    /// Walks the RIFF chunks of an extended (VP8X) WebP file looking for EXIF.
    static func webpOrientation(_ bytes: UnsafeRawBufferPointer) -> ImageOrientation? {
        var at = 12
        while at + 8 <= bytes.count {
            let fourcc = String(decoding: bytes[at..<(at + 4)], as: UTF8.self)
            let size = Int(bytes[at + 4]) | Int(bytes[at + 5]) << 8 | Int(bytes[at + 6]) << 16 | Int(bytes[at + 7]) << 24
            let dataStart = at + 8
            guard dataStart + size <= bytes.count else { return nil }
            if fourcc == "EXIF" {
                return orientation(exifPayload: UnsafeRawBufferPointer(rebasing: bytes[dataStart..<(dataStart + size)]))
            }
            at = dataStart + size + (size & 1)
        }
        return nil
    }
}
