import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Every failure of the store, as one typed error.
///
/// Each case carries the path it concerns and `description` says what is wrong and what to do,
/// so a CLI can print it as is and a library caller can switch over the case.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    // MARK: - Opening and creating
    /// The directory does not exist.
    case notFound(path: String)
    /// The directory exists but holds neither half of a radb database.
    case notADatabase(path: String)
    /// One half (vector store or catalog) of the database is missing.
    case incompleteDatabase(path: String, missing: String)
    /// `create` was asked to make a database where one (or other files) already exist.
    case alreadyExists(path: String)
    /// The LMDB vector environment is truncated, garbage, or from an incompatible format.
    case corruptVectorStore(path: String, reason: String)
    /// The SQLite catalog is not a database, damaged, or lacks required records.
    case corruptCatalog(path: String, reason: String)
    /// The catalog was written by a newer radb (schema version `found` > `supported`).
    case catalogSchemaTooNew(path: String, found: Int, supported: Int)
    /// The database holds vectors of another dimension than the caller expects.
    case dimensionMismatch(path: String, stored: Int, requested: Int)
    /// The database was built by another embedding model than the caller's.
    case modelMismatch(path: String, stored: String, requested: String)
    /// The two halves disagree in a way recovery cannot repair.
    case inconsistentHalves(path: String, reason: String)

    // MARK: - Input
    /// A vector has the wrong number of components.
    case wrongDimension(path: String, index: Int, got: Int, expected: Int)
    /// A vector has a NaN or infinite component (`component` ≥ 0), or its squared norm
    /// overflows Float32 (`component` == −1).
    case nonFiniteVector(path: String, index: Int, component: Int)
    /// An operation was given no items.
    case emptyBatch(path: String, operation: String)
    /// Ids that the store does not hold.
    case unknownIDs(path: String, ids: [UInt64])
    /// Metadata that cannot be stored (empty path or hash, negative size, …).
    case invalidMetadata(path: String, index: Int, reason: String)
    /// Anchors whose count or size does not match the store.
    case invalidAnchors(path: String, reason: String)
    /// A configuration value out of range.
    case invalidArgument(path: String, reason: String)
    /// Items were routed with the anchors of generation `expected`, but the store has switched
    /// to generation `current` since (another process re-anchored it). Nothing was written.
    case generationChanged(path: String, expected: UInt64, current: UInt64?)
    /// A write names a partition that has no anchor in the current generation.
    case noSuchAnchor(path: String, anchor: Int32, generation: UInt64, anchorCount: Int)

    // MARK: - Concurrency and environment
    /// Another process held the write lock for longer than the timeout.
    case writerBusy(path: String, holderPID: Int32?, waited: TimeInterval)
    /// A store method was called inside `read { }` on the same thread.
    case calledInsideReadSnapshot(path: String, operation: String)
    /// The LMDB map could not grow because this process keeps read snapshots open.
    case mapGrowthBlocked(path: String)
    /// A read snapshot could not be taken because the two halves stayed out of step.
    case snapshotUnavailable(path: String, reason: String)
    /// An operating-system or library call failed.
    case io(path: String, operation: String, reason: String)
    /// Backup destination problem.
    case backupFailed(path: String, reason: String)
    /// A write was attempted through a store opened with `StoreOptions.readOnly`.
    case readOnly(path: String, operation: String)
    /// The database keeps no backbone features (`features.sqlite`): made before radb kept them,
    /// or with keeping them turned off.
    case missingFeatures(path: String)
    /// The feature file cannot be read.
    case corruptFeatures(path: String, reason: String)
    /// Writing backbone features failed (full disk, I/O error).
    case featureWriteFailed(path: String, reason: String)
    /// The file system refused a write: a read-only medium or mount, or no write permission.
    /// The database is not damaged.
    case notWritable(path: String, operation: String, reason: String)
    /// The disk (or the user's quota) is full. The database is not damaged: every write that
    /// returned is stored, the failed one left nothing behind.
    case diskFull(path: String, operation: String)
    /// The last writer stopped between its two commits, and finishing its write (which every
    /// open does first) needs to write, which failed for `reason` (full disk, read-only medium).
    /// Nothing is lost or damaged; the database cannot be read until the write is finished.
    case interruptedWriteNeedsFinishing(path: String, reason: String)

    public var description: String {
        switch self {
        case let .notFound(p):
            return "\(p): no such directory. Create a database with `create` (radb: `radb init`) or pass the right --db path."
        case let .notADatabase(p):
            return "\(p): not a radb database (no vectors/ environment and no catalog.sqlite). Point at a database directory or create one."
        case let .incompleteDatabase(p, missing):
            return "\(p): the database is incomplete, \(missing) is missing. Restore the directory from a backup (radb backup) — both halves are needed."
        case let .alreadyExists(p):
            return "\(p): already exists and is not empty. Open it instead, or choose a new directory."
        case let .corruptVectorStore(p, r):
            return "\(p): the vector store is damaged (\(r)). Restore it from a backup; the catalog alone cannot rebuild vectors."
        case let .corruptCatalog(p, r):
            return "\(p): the catalog is damaged (\(r)). Restore it from a backup."
        case let .catalogSchemaTooNew(p, f, s):
            return "\(p): the catalog has schema version \(f) but this radb supports up to \(s). Upgrade radb to open it."
        case let .dimensionMismatch(p, s, r):
            return "\(p): the database stores \(s)-dimensional vectors but \(r) were requested. Use the model the database was built with, or another database."
        case let .modelMismatch(p, s, r):
            return "\(p): the database was built with model \(s) but model \(r) was given. Use the same model, or build a new database."
        case let .inconsistentHalves(p, r):
            return "\(p): vector store and catalog disagree (\(r)). Restore from a backup."
        case let .wrongDimension(p, i, g, e):
            return "\(p): vector #\(i) has \(g) components but the database stores \(e). Nothing was written; pass \(e)-dimensional vectors."
        case let .nonFiniteVector(p, i, c) where c < 0:
            return "\(p): vector #\(i) is too large: its squared norm overflows Float32. Nothing was written; check the embedder output."
        case let .nonFiniteVector(p, i, c):
            return "\(p): vector #\(i) has a NaN or infinite value at component \(c). Nothing was written; check the embedder output."
        case let .emptyBatch(p, op):
            return "\(p): \(op) was given no items. Pass at least one."
        case let .unknownIDs(p, ids):
            let shown = ids.prefix(8).map(String.init).joined(separator: ", ")
            return "\(p): unknown id(s) \(shown)\(ids.count > 8 ? " … (\(ids.count) in all)" : ""). Nothing was changed; use ids returned by insert."
        case let .invalidMetadata(p, i, r):
            return "\(p): metadata of item #\(i) is invalid: \(r). Nothing was written."
        case let .invalidAnchors(p, r):
            return "\(p): invalid anchors: \(r)."
        case let .invalidArgument(p, r):
            return "\(p): \(r)."
        case let .generationChanged(p, e, c):
            return "\(p): the anchors changed while this write was prepared (routed with generation \(e), the database is now at \(c.map(String.init) ?? "none")). Nothing was written; route the items with the current anchors and retry."
        case let .noSuchAnchor(p, a, g, n):
            return "\(p): partition \(a) has no anchor in generation \(g), which has \(n) anchors (0…\(n - 1)). Nothing was written; route items with the database's current anchors."
        case let .writerBusy(p, pid, w):
            let who = pid.map { "process \($0)" } ?? "another process"
            return "\(p): \(who) holds the write lock (waited \(String(format: "%.1f", w)) s). Wait for it to finish, or stop it, then retry."
        case let .calledInsideReadSnapshot(p, op):
            return "\(p): \(op) was called inside read { }. Use the snapshot's own methods there, or call it after the closure returns."
        case let .mapGrowthBlocked(p):
            return "\(p): the vector map must grow but read snapshots of this process stay open. Finish long read { } closures before writing."
        case let .snapshotUnavailable(p, r):
            return "\(p): could not take a consistent read snapshot (\(r)). Retry; if it persists, open the database once for writing to run recovery."
        case let .io(p, op, r):
            return "\(p): \(op) failed: \(r)."
        case let .backupFailed(p, r):
            return "\(p): backup failed: \(r). The source database is unchanged."
        case let .readOnly(p, op):
            return "\(p): \(op) needs write access but the database was opened read-only. Open it without `readOnly` to change it."
        case let .missingFeatures(p):
            return "\(p): the database keeps no backbone features (made before radb kept them, or with keeping them off). Ingest the image files again into a new database to learn in place."
        case let .corruptFeatures(p, r):
            return "\(p): the backbone-feature file cannot be read (\(r)). Delete it and ingest the images again to rebuild it; stored items and vectors are not affected."
        case let .featureWriteFailed(p, r):
            return "\(p): writing backbone features failed: \(r). Nothing of this batch was stored."
        case let .notWritable(p, op, r):
            return "\(p): \(op) failed: the file system refused to write (\(r)). The database is not damaged; "
                + "make the medium writable (remount read-write, fix permissions) to change it."
        case let .diskFull(p, op):
            return "\(p): \(op) failed: the disk is full (no space left on device). The database is not damaged and the "
                + "failed write left nothing behind; free disk space and run the command again."
        case let .interruptedWriteNeedsFinishing(p, r):
            return "\(p): an interrupted write needs finishing before the database can be read, and finishing it failed: \(r). "
                + "Nothing is lost and no backup is needed: make room or write access (free disk space, remount read-write), "
                + "then run any radb command (e.g. radb stats) and it finishes the write."
        }
    }
}

// MARK: - Classifying system errors

extension StoreError {
    /// The error for a failed system call or library call with errno-style `code` on `path`:
    /// a read-only medium, a full disk or a plain I/O error — never "damaged". LMDB reports a
    /// short write (which a full disk causes) as EIO, so EIO with no space left is a full disk.
    static func system(path: String, operation: String, code: Int32, detail: String) -> StoreError {
        switch code {
        case EROFS, EACCES, EPERM:
            return .notWritable(path: path, operation: operation, reason: detail)
        case ENOSPC, EDQUOT:
            return .diskFull(path: path, operation: operation)
        case EIO where diskIsFull(at: path):
            return .diskFull(path: path, operation: operation)
        default:
            return .io(path: path, operation: operation, reason: detail)
        }
    }

    /// True when the file system holding `path` has (almost) no space left for this user:
    /// fewer than 64 KiB, less than LMDB or SQLite need to commit anything.
    static func diskIsFull(at path: String) -> Bool {
        (freeBytes(at: path) ?? .max) < 64 * 1024
    }

    /// Bytes this user may still write on the file system holding `path` (nil if unknown).
    static func freeBytes(at path: String) -> UInt64? {
        var url = URL(fileURLWithPath: path)
        // statvfs needs an existing path: walk up to the nearest one.
        while !FileManager.default.fileExists(atPath: url.path), url.pathComponents.count > 1 {
            url.deleteLastPathComponent()
        }
        var info = statvfs()
        guard statvfs(url.path, &info) == 0 else { return nil }
        return UInt64(info.f_bavail) * UInt64(info.f_bsize)
    }
}
