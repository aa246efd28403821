import Foundation
import RADBVision
#if canImport(Glibc)
import Glibc
#endif

/// Lists the candidate image files under the paths a user gave to `radb ingest`.
///
/// Walks folders recursively in a stable (sorted) order, follows symbolic links but visits
/// each real directory once — so a link pointing back up the tree cannot loop — and skips
/// hidden entries (names starting with "."). Which files are images is decided by their
/// first bytes (`ImageFileWalker.looksLikeImage`), never by the name: a `.jpg` that is really
/// text is still listed (so it can be reported as failed), while files inside folders whose
/// first bytes are not an image signature and whose names carry no image extension are left
/// out — and listed in `Listing.skipped` with the reason (documents, sidecars, videos…), so a
/// caller can say what it did not read. Hidden entries are the one silent exception.
public struct ImageFileWalker: Sendable {
    /// A path given by the user that does not exist or cannot be read.
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// File-name extensions that mark a file as meant to be an image.
    public static let imageExtensions: Set<String> = [
        "jpg", "jpeg", "jpe", "png", "webp", "heic", "heif", "hif", "avif", "tif", "tiff", "gif", "bmp", "dib",
        // camera raw
        "dng", "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "orf", "rw2", "raf", "pef", "srw", "x3f",
        "3fr", "fff", "iiq", "mrw", "erf", "kdc", "dcr", "mos", "rwl",
    ]

    public init() {}

    /// What a walk found: the candidate files, and entries it had to leave out with the
    /// reason (a file name that is not UTF-8 cannot be stored as a path, so it is reported,
    /// never dropped silently).
    public struct Listing: Sendable {
        public var files: [URL]
        public var problems: [Error]
        /// Files inside the folders that are not images (by their first bytes and their name),
        /// each with what they are: "not an image …" or "unsupported format: …".
        public var skipped: [Error] = []
    }

    /// Every candidate file under `roots`, each once, in a stable order. A root that is a
    /// file is always listed; a root that does not exist throws.
    public func files(under roots: [URL]) throws -> [URL] {
        try listing(under: roots).files
    }

    /// `files(under:)`, plus the entries that could not be listed and why.
    public func listing(under roots: [URL]) throws -> Listing {
        var out: [URL] = []
        var problems: [Error] = []
        var skipped: [Error] = []
        var seenFiles = Set<FileKey>()
        var seenDirs = Set<FileKey>()
        for root in roots {
            var st = stat()
            guard stat(root.path, &st) == 0 else {
                throw Error(path: root.path, reason: "no such file or folder (\(String(cString: strerror(errno))))")
            }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                walk(root, &out, &problems, &skipped, &seenFiles, &seenDirs)
            } else if seenFiles.insert(FileKey(st)).inserted {
                out.append(root)
            }
        }
        return Listing(files: out, problems: problems, skipped: skipped)
    }

    private struct FileKey: Hashable {
        let device: UInt64
        let inode: UInt64
        init(_ st: stat) { device = UInt64(st.st_dev); inode = UInt64(st.st_ino) }
    }

    private func walk(_ dir: URL, _ out: inout [URL], _ problems: inout [Error], _ skipped: inout [Error], _ seenFiles: inout Set<FileKey>,
                      _ seenDirs: inout Set<FileKey>) {
        var st = stat()
        guard stat(dir.path, &st) == 0, seenDirs.insert(FileKey(st)).inserted else { return }
        guard let (names, undecodable) = Self.entries(of: dir.path) else { return }
        for raw in undecodable.sorted() {
            problems.append(Error(path: dir.appendingPathComponent(raw).path,
                                  reason: "the file name is not valid UTF-8 (shown with \\x escapes), so radb cannot record its path; "
                                      + "rename it to UTF-8 (e.g. with convmv) and ingest again"))
        }
        for name in names.sorted() where !name.hasPrefix(".") {
            let url = dir.appendingPathComponent(name)
            var s = stat()
            guard stat(url.path, &s) == 0 else { continue }  // dangling link: nothing to read
            switch s.st_mode & S_IFMT {
            case S_IFDIR:
                walk(url, &out, &problems, &skipped, &seenFiles, &seenDirs)
            case S_IFREG:
                guard seenFiles.insert(FileKey(s)).inserted else { continue }
                if Self.imageExtensions.contains(url.pathExtension.lowercased()) {
                    out.append(url)
                } else if let reason = Self.notAnImageReason(url) {
                    skipped.append(Error(path: url.path, reason: reason))
                } else {
                    out.append(url)
                }
            default:
                continue
            }
        }
    }

    /// The names in `path` (without "." and ".."), read as raw bytes: Foundation's listing
    /// drops or mangles names that are not UTF-8. Those come back separately, escaped (\\xNN for
    /// every byte that is not printable ASCII), unless they are hidden. nil if unreadable.
    static func entries(of path: String) -> (names: [String], undecodable: [String])? {
        guard let d = opendir(path) else { return nil }
        defer { closedir(d) }
        var names: [String] = [], undecodable: [String] = []
        while let entry = readdir(d) {
            let bytes: [UInt8] = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
            if bytes == [0x2E] || bytes == [0x2E, 0x2E] { continue }
            if let name = String(validating: bytes, as: UTF8.self) {
                names.append(name)
            } else if bytes.first != 0x2E {
                undecodable.append(bytes.map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : String(format: "\\x%02X", $0) }.joined())
            }
        }
        return (names, undecodable)
    }

    /// True when the file starts with the signature of a format radb decodes (JPEG, PNG, WebP,
    /// HEIC/HEIF, AVIF, TIFF, GIF, BMP, camera RAW).
    public static func looksLikeImage(_ url: URL) -> Bool {
        notAnImageReason(url) == nil
    }

    /// nil when the file's first bytes are an image signature radb decodes; otherwise why it is
    /// not read ("not an image …", "unsupported format: …", "cannot read …").
    static func notAnImageReason(_ url: URL) -> String? {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            return "cannot read the file (\(String(cString: strerror(errno)))); check that it is readable"
        }
        defer { try? handle.close() }
        let head = handle.readData(ofLength: 64)
        if head.isEmpty { return "not an image: the file is empty" }
        return head.withUnsafeBytes { bytes -> String? in
            switch ImageDecoder.signature(of: bytes) {
            case .image: return nil
            case .unsupported(let name): return "unsupported format: \(name)"
            case .unknown(let leading):
                return "not an image: its first bytes (\(leading)) match no image signature radb reads, and its name has no image extension"
            }
        }
    }
}
