// MARK: - JPEGMarkerScan

/// What radb needs from a JPEG's marker segments that TurboJPEG does not report: the EXIF
/// orientation (APP1) and whether an Adobe APP14 segment is present (Adobe CMYK files store
/// inverted ink values).
struct JPEGMarkerScan {
    var orientation: ImageOrientation = .up
    var hasAdobeMarker = false

    /// Walks the segments from SOI up to the first SOS (start of scan); never reads past the buffer.
    init(_ bytes: UnsafeRawBufferPointer) {
        var at = 2 // after SOI
        var sawOrientation = false
        while at + 4 <= bytes.count {
            guard bytes[at] == 0xFF else { return } // not a marker: damaged header, stop looking
            let marker = bytes[at + 1]
            if marker == 0xFF { at += 1; continue } // fill byte
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { at += 2; continue }
            if marker == 0xDA || marker == 0xD9 { return } // SOS or EOI: metadata is over
            let length = Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            let dataStart = at + 4
            let dataEnd = at + 2 + length
            guard length >= 2, dataEnd <= bytes.count else { return }
            let segment = UnsafeRawBufferPointer(rebasing: bytes[dataStart..<dataEnd])
            if marker == 0xE1, !sawOrientation, segment.count > 6,
               segment.prefix(6).elementsEqual([0x45, 0x78, 0x69, 0x66, 0, 0]) {
                sawOrientation = true // the first Exif segment wins, as in libexif and Pillow
                if let o = ExifOrientationReader.orientation(exifPayload: segment) { orientation = o }
            } else if marker == 0xEE, segment.count >= 5, segment.prefix(5).elementsEqual(Array("Adobe".utf8)) {
                hasAdobeMarker = true
            }
            at = dataEnd
        }
    }
}
