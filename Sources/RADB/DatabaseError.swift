import Foundation

/// The one error type of the `RADB` library: every failure a user can cause or meet, with a
/// message that names the file or database, says what is wrong and what to do.
///
/// Errors from the layers below (store, index, vision, neural) are wrapped as `.underlying` with
/// their message *and the original error* (`cause`, also `underlyingError`), so callers can match
/// on one type and still reach the typed error beneath. Messages say what to do in the library's
/// own terms; the `radb` command adds its flags and commands where they help.
public enum DatabaseError: Error, CustomStringConvertible, LocalizedError, Sendable {
    /// No database exists at the path (and the operation does not create one).
    case noDatabase(path: String)
    /// An argument outside its documented range (k ≤ 0, a wrong vector length, …).
    case invalidArgument(String)
    /// The item id is not stored.
    case unknownID(UInt64)
    /// A vector or query was made by another model than the database's.
    case modelMismatch(String)
    /// Another process holds the write lock (the message names it).
    case writeLockBusy(String)
    /// A failure reported by a lower layer (or an invariant the library checks itself): its
    /// message, and the lower layer's own error when there is one.
    case underlying(String, cause: (any Error)? = nil)
    /// A long operation stopped because its caller cancelled it; nothing was changed.
    case cancelled(operation: String)

    public var description: String {
        switch self {
        case .noDatabase(let path):
            return "no radb database at \(path): create one (Database.create / openOrCreate), or open the right path"
        case .invalidArgument(let m): return m
        case .unknownID(let id): return "no stored item has id \(id): search results and exports list the stored ids"
        case .modelMismatch(let m): return m
        case .writeLockBusy(let m): return m
        case .underlying(let m, _): return m
        case .cancelled(let operation): return "\(operation) was cancelled; the database is unchanged"
        }
    }

    public var errorDescription: String? { description }

    /// The lower layer's error this one wraps (a `StoreError`, `ImageError`, `EmbedderError`, …),
    /// when there is one.
    public var underlyingError: (any Error)? {
        if case .underlying(_, let cause) = self { return cause }
        return nil
    }

    /// True when the operation failed only because another process is writing.
    public var isWriteLockBusy: Bool {
        if case .writeLockBusy = self { return true }
        return false
    }
}
