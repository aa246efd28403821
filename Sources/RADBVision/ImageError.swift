import Foundation

/// Why an image could not be read, decoded or processed.
///
/// Every case carries `source`: the file path, or the caller-supplied name for in-memory data,
/// so a message in a log of a 100,000-photo ingest says which file to look at. `description`
/// says what is wrong and what to do about it.
public enum ImageError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// The file could not be opened or read (missing, permission, a directory, I/O error).
    case unreadable(source: String, reason: String)
    /// The file or buffer holds zero bytes.
    case empty(source: String)
    /// The leading bytes match no image format at all (text, a PDF, random data, ...).
    case notAnImage(source: String, leadingBytes: String)
    /// A recognised format that radb does not decode (video, JPEG XL, an animated WebP, a TIFF of floats, …).
    case unsupportedFormat(source: String, format: String)
    /// The header declares more pixels than the limit; refused before any pixel memory is allocated.
    case tooLarge(source: String, width: Int, height: Int, maxPixels: Int)
    /// Decoding would need more memory than the caller's budget allows (`peakBytes` >
    /// `budgetBytes`, from `ImageDecoder.decodingCost`); refused before any pixel memory is allocated.
    case overMemoryBudget(source: String, width: Int, height: Int, peakBytes: Int, budgetBytes: Int)
    /// The data ends before the picture does (an interrupted download or copy).
    case truncated(source: String, format: ImageFormat, detail: String)
    /// The data is damaged or not valid for its format (bad checksum, broken header, ...).
    case corrupt(source: String, format: ImageFormat, detail: String)
    /// A file could not be written (PNG output).
    case unwritable(destination: String, reason: String)
    /// Encoding failed inside the codec library (for a valid image this means memory ran out).
    case encodingFailed(String)
    /// A caller passed an argument that cannot be used (wrong channel count, non-finite value, ...).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .unreadable(source, reason):
            return "\(source): cannot read the file (\(reason)). Check that the path exists and is a readable file."
        case let .empty(source):
            return "\(source): the file is empty (0 bytes). Re-copy or re-download it, or remove it from the input."
        case let .notAnImage(source, leading):
            return "\(source): not an image; its first bytes (\(leading)) match no signature of the formats radb reads "
                + "(JPEG, PNG, WebP, HEIC/HEIF, AVIF, TIFF, GIF, BMP, camera RAW). "
                + "The file name's extension is ignored; remove the file from the input or convert it to one of those."
        case let .unsupportedFormat(source, format):
            return "\(source): \(format) images are not supported. Convert the file to JPEG, PNG or WebP."
        case let .tooLarge(source, width, height, maxPixels):
            return "\(source): the header declares \(width)x\(height) pixels, more than the limit of \(maxPixels) "
                + "(a protection against decompression bombs). Downscale the image, or raise maxPixels if you trust it."
        case let .overMemoryBudget(source, width, height, peak, budget):
            let mb = { (b: Int) in String(b / 1_000_000) + " MB" }
            return "\(source): the header declares \(width)x\(height) pixels; decoding it needs about \(mb(peak)), more than "
                + "the decoding memory budget of \(mb(budget)) (a small file can declare a huge picture). "
                + "Downscale the image, or raise the budget (radb ingest --decode-memory MB) if you trust it."
        case let .truncated(source, format, detail):
            return "\(source): the \(format) data is truncated (\(detail)). The file was probably cut off while "
                + "copying or downloading; fetch it again."
        case let .corrupt(source, format, detail):
            return "\(source): the \(format) data is corrupt (\(detail)). Re-export or re-download the file."
        case let .unwritable(destination, reason):
            return "\(destination): cannot write the file (\(reason)). Check that the folder exists and is writable."
        case let .encodingFailed(message):
            return message
        case let .invalidArgument(message):
            return message
        }
    }

    public var errorDescription: String? { description }

    /// `description` without the leading "source: ", for a report that names the file already.
    public var reason: String {
        let text = description
        if let source, text.hasPrefix(source + ": ") { return String(text.dropFirst(source.count + 2)) }
        return text
    }

    /// The file path or buffer name the error is about (nil for argument errors).
    public var source: String? {
        switch self {
        case let .unreadable(s, _), let .empty(s), let .notAnImage(s, _), let .unsupportedFormat(s, _),
             let .tooLarge(s, _, _, _), let .overMemoryBudget(s, _, _, _, _), let .truncated(s, _, _), let .corrupt(s, _, _), let .unwritable(s, _):
            return s
        case .invalidArgument, .encodingFailed:
            return nil
        }
    }
}
