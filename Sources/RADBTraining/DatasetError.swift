/// Why a dataset could not be loaded. Every message names the file or folder, what is wrong
/// and what to do about it.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case notFound(path: String)
    case emptyClassFolder(path: String)
    case tooFewClasses(path: String, found: Int)
    case noReadableImages(path: String, skipped: Int)
    case malformed(path: String, reason: String)
    case nonFinite(path: String, row: Int)
    case mismatchedDimensions(expected: Int, found: Int, path: String)

    public var description: String {
        switch self {
        case let .notFound(path):
            return "\(path): not found. Pass an existing dataset folder or file."
        case let .emptyClassFolder(path):
            return "\(path): class folder holds no images. Add images or remove the folder."
        case let .tooFewClasses(path, found):
            return "\(path): found \(found) class folder(s); retrieval training needs at least 2 (one subfolder per class)."
        case let .noReadableImages(path, skipped):
            return "\(path): none of the images could be read (\(skipped) skipped). Check the files are JPEG/PNG/WebP."
        case let .malformed(path, reason):
            return "\(path): \(reason)"
        case let .nonFinite(path, row):
            return "\(path): row \(row) contains NaN or infinity. Recompute the features."
        case let .mismatchedDimensions(expected, found, path):
            return "\(path): vectors have \(found) dimensions, expected \(expected). Use features from the same backbone."
        }
    }
}
