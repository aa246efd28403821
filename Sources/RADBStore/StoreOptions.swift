import Foundation

/// Knobs for opening or creating a store. The defaults are what a careful user wants:
/// durable commits and a bounded wait for the write lock.
public struct StoreOptions: Sendable {
    /// fsync every commit (LMDB and SQLite `synchronous=FULL`). Set to false for bulk loads:
    /// a killed process still loses nothing committed, but an OS crash or power loss may lose
    /// the last commits. Call `VectorStore.sync()` at the end of such a load.
    public var durable: Bool = true
    /// How long a writer waits for another process's write lock before `StoreError.writerBusy`.
    public var writeLockTimeout: TimeInterval = 10
    /// Initial LMDB map size in bytes; the map grows by itself when full.
    public var initialMapSize: Int = 1 << 30
    /// Minimum vectors per small block, fixed at creation (blocks then fill whole pages).
    /// Small blocks take new vectors; each insert rewrites a partition's partial tail block,
    /// so smaller ones write less; but scans read small blocks slower than large ones. The
    /// default gives 5-page (20 KiB) small blocks, 39 vectors at d = 128 (see BENCHMARKS.md
    /// for the trade-off measured).
    public var minimumBlockVectors: Int = 32
    /// Full small blocks merged into one large block (2…64), fixed at creation. Large blocks
    /// (`VectorStore.largeBlockCapacity`) are what scans mostly read: the default makes them
    /// 273 vectors, 35 pages (140 KiB) almost exactly, at d = 128 with the default small blocks.
    public var mergeFactor: Int = 7
    /// How long a reader waits for a writer between its two commits before giving up.
    public var snapshotTimeout: TimeInterval = 10
    /// Open for reading only: writes throw `StoreError.readOnly`, and an older database is
    /// read as it is instead of being upgraded to the current format (so older radb builds
    /// can still open it). Recovery of an interrupted write still runs (see `VectorStore`).
    public var readOnly: Bool = false
    /// The recent part of the content-hash index is merged into the main part once it holds
    /// this many entries or main/4, whichever is more (see ContentIndex). Tests lower it.
    package var contentIndexMergeMinimum: Int = 65_536

    public init(durable: Bool = true, writeLockTimeout: TimeInterval = 10) {
        self.durable = durable
        self.writeLockTimeout = writeLockTimeout
    }
}

/// Size and shape of a store.
public struct StoreStats: Sendable, Equatable {
    public let dimension: Int
    public let modelIdentity: String
    public let items: Int
    public let partitions: Int
    /// Vectors per full small block.
    public let blockCapacity: Int
    /// Vectors per full large block (`mergeFactor` small ones).
    public let largeBlockCapacity: Int
    /// Bytes of all files in the database directory.
    public let bytesOnDisk: Int
    /// Bytes of the LMDB data file and of the SQLite files (with WAL).
    public let vectorBytes: Int
    public let catalogBytes: Int
    /// Commit sequence number of the last completed write.
    public let sequence: UInt64
}

/// One problem found by `VectorStore.check()`.
public struct StoreProblem: Sendable, Equatable, CustomStringConvertible {
    /// Which invariant is broken.
    public enum Kind: String, Sendable {
        case vectorStore, catalog, orphanVector, orphanRow, anchorMismatch, sequence, model, blockLayout, contentIndex, labelIndex
        /// The model generation: its record, its anchors, or a partition without an anchor.
        case anchors
    }
    public let kind: Kind
    public let message: String
    public var description: String { "[\(kind.rawValue)] \(message)" }
}
