// MARK: - TIFFDirectoryScan

/// Reads the tags of a TIFF file's first directory (IFD0) without libtiff, to tell camera raw
/// files from TIFF pictures: CR2, NEF, ARW, DNG, PEF, SRW, 3FR … are TIFF containers, and
/// libtiff would read their first page — a thumbnail or undemosaiced sensor data — as if it
/// were the photo.
///
/// Bounds-checked on every read; a damaged directory makes the answer "not raw" and leaves
/// the error to libtiff.
enum TIFFDirectoryScan {
    /// Compression values only raw files use (Sony, Nikon, Pentax, Kodak, Samsung, lossy DNG).
    static let rawCompressions: Set<Int> = [32767, 32769, 32770, 32867, 34713, 34892, 65000, 65535]
    /// Photometric interpretations of sensor data: colour filter array, linear raw.
    static let rawPhotometrics: Set<Int> = [32803, 34892]

    static func looksLikeCameraRaw(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 16 else { return false }
        if bytes[8] == 0x43 && bytes[9] == 0x52 { return true } // "CR" after the header: Canon CR2
        let little = bytes[0] == 0x49
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= bytes.count else { return nil }
            return little ? Int(bytes[at]) | Int(bytes[at + 1]) << 8 : Int(bytes[at]) << 8 | Int(bytes[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let a = u16(at), let b = u16(at + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard let ifd = u32(4), let count = u16(ifd), count > 0, count <= 4096 else { return false }
        var hasMake = false, hasSubIFDs = false
        for k in 0..<count {
            let entry = ifd + 2 + 12 * k
            guard let tag = u16(entry), let type = u16(entry + 2) else { return false }
            // SHORT values sit in the first two bytes of the value field; LONG in all four.
            let value = type == 3 ? u16(entry + 8) : u32(entry + 8)
            switch tag {
            case 254: if let v = value, v & 1 == 1 { return true } // NewSubfileType: IFD0 is a reduced-size preview
            case 259: if let v = value, rawCompressions.contains(v) { return true }
            case 262: if let v = value, rawPhotometrics.contains(v) { return true }
            case 50706: return true                                // DNGVersion
            case 271: hasMake = true                               // Make (camera maker)
            case 330: hasSubIFDs = true                            // SubIFDs (where NEF, ARW, PEF keep the raw data)
            default: break
            }
        }
        // A camera's make with sub-directories: the full picture lives in a SubIFD as sensor data.
        return hasMake && hasSubIFDs
    }
}
