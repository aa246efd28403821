import Foundation

/// The one error type of the `RADB` library: every failure a user can cause or meet, with a
/// message that names the file or database, says what is wrong and what to do.
///
/// Errors from the layers below (store, index, vision, neural) are wrapped as `.underlying`
/// with their own message kept, so callers can match on one type.
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
    /// A failure reported by a lower layer, with its message.
    case underlying(String)
    /// A long operation stopped because its caller cancelled it; nothing was changed.
    case cancelled(operation: String)

    public var description: String {
        switch self {
        case .noDatabase(let path):
            return "no radb database at \(path): run `radb ingest PHOTOS` (or `radb init`) to create one, or pass --db PATH"
        case .invalidArgument(let m): return m
        case .unknownID(let id): return "no stored item has id \(id): list ids with `radb search ... --json` or `radb export`"
        case .modelMismatch(let m): return m
        case .writeLockBusy(let m): return m
        case .underlying(let m): return m
        case .cancelled(let operation): return "\(operation) was cancelled; the database is unchanged"
        }
    }

    public var errorDescription: String? { description }

    /// True when the operation failed only because another process is writing.
    public var isWriteLockBusy: Bool {
        if case .writeLockBusy = self { return true }
        return false
    }
}
