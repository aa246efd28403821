import CLMDB
import Foundation
import GRDB

/// VectorStore — a crash-safe, anchor-partitioned vector store: LMDB holds the vectors, SQLite
/// (through GRDB, WAL mode) holds the catalog.
///
/// # On disk
///
/// A database is a directory:
///
/// ```
/// vectors/data.mdb, vectors/lock.mdb   LMDB: meta, blocks, ids (id → partition and position),
///                                      partitions (see VectorBlockLayout); contents, contentRuns
///                                      (content hash → ids, see ContentIndex)
/// catalog.sqlite (+ -wal, -shm)        items, model, anchors, commit_state (Schema/*.sql)
/// writer.lock                          flock'd by the one writer; holds its PID
/// ```
///
/// # Guarantees
///
/// - Vectors of a partition live in contiguous blocks read in place from the memory map;
///   a scan hands `PartitionBlock`s to BLAS with no per-vector copy or allocation.
/// - Readers never block: `read { }` works on an MVCC snapshot of both halves while a writer
///   (in this or another process) commits. Any number of reader processes; one writer.
/// - Every write that returned is durable (its LMDB commit, which carries the catalog half
///   as a journal, is fsync'd before it returns, and so is the SQLite commit that follows —
///   unless `durable = false`, which keeps process-crash safety but not power-loss safety)
///   and survives `kill -9` at any moment: after reopening, every acknowledged item is
///   present, and there is no vector without a catalog row and no row without a vector.
/// - `MDB_MAP_FULL` is never seen by callers: the transaction is aborted, the map doubled, the
///   write retried.
///
/// # Cross-store commit protocol
///
/// LMDB and SQLite cannot commit together, so every write is numbered and LMDB leads:
///
/// 1. Take the writer lock (`flock` on writer.lock, bounded wait, error names the holder PID).
/// 2. Recover (below) if the previous writer died between its two commits.
/// 3. LMDB transaction: apply the vector half (blocks, id map, partitions, and the
///    content-hash index `ContentIndex`); set meta `seq = N` (previous + 1); store the
///    catalog half of the operation as meta `pending` (a `PendingOperation`); commit.
///    From here on the write is decided: it will be visible after any crash.
/// 4. SQLite transaction (filled on the catalog thread while step 3 ran): apply the catalog
///    half; set `commit_state.seq = N`; commit.
/// 5. Release the lock once step 4 is done. The write returns after step 3: its step 4 may
///    still run (`CatalogCommit`), holding the lock. The next insert of the same store may
///    start meanwhile, but its LMDB commit waits for that step 4; every read, recovery and
///    other write of the store waits for it first.
///
/// Invariant: LMDB `seq` (L) and catalog `seq` (S) satisfy L == S (consistent) or
/// L == S + 1 (a writer is between steps 3 and 4, or died there).
///
/// Recovery (on open, before every write, and when a reader finds the writer dead): under the
/// writer lock, first make LMDB's read transactions see its newest commit (a writer killed
/// while LMDB published its commit leaves that commit on disk, and the next LMDB write builds
/// on it, but read transactions still start from the one before; see
/// `LMDBEnvironment.publishLatestCommit`); then, if L == S + 1, apply LMDB's `pending` to the
/// catalog with seq L — roll the lagging side forward. Applying is idempotent. Any other gap
/// (S > L, or L > S + 1) means a half was restored or lost separately; it is reported as
/// `inconsistentHalves`, never guessed.
///
/// Readers: a snapshot opens the SQLite read transaction first, then the LMDB one, and accepts
/// the pair only if both show the same seq (retrying briefly while a writer is between its
/// commits). Because LMDB commits first, a reader can never see a catalog newer than vectors.
///
/// # Caveats
///
/// - Don't call store methods inside `read { }` (use the snapshot's methods); they throw
///   `calledInsideReadSnapshot`. Pointers from a snapshot are valid only inside its closure.
/// - Long `read { }` closures in this process delay map growth (and so writes) in this process.
/// - Two `VectorStore`s on one directory in one process share the LMDB environment; the first
///   one's `durable` setting wins.
/// - Ids are never reused. A store without anchors (none ever set) accepts any partition id;
///   once anchors are set, writes accept only partitions `0..<anchorCount` of the current
///   generation, and `check()` reports any partition without an anchor.
///
/// # Model generations (vector format 4)
///
/// The anchors are part of the numbered commit: the current generation's record and anchors
/// live in LMDB meta (`ModelGeneration`), and `switchGeneration` — set new anchors and put every
/// item in its partition under them — is one write of the protocol above: one LMDB transaction
/// (the new generation is written beside the old one, which every reader keeps seeing until the
/// commit) whose catalog half mirrors the anchors and the moved rows. A reader routes with the
/// generation of the snapshot it scans; a writer checks, inside its LMDB transaction, that the
/// items it writes were routed with the current generation (`insert(_:generation:)`), so
/// anchors read before the writer lock was taken can never place items in the wrong partitions.
/// Kill -9 at any moment leaves either the whole old or the whole new generation.
///
/// # Formats and upgrades
///
/// Vector format 2 / catalog schema 2 keep the content-hash index in LMDB (`contents`,
/// written in the vector transaction) instead of SQLite. Opening an older database for
/// writing upgrades it once, under the writer lock: LMDB's `contents` is built from the catalog
/// and format 2 recorded in one LMDB transaction, and only then does the catalog migration drop
/// its content-key index — so a reader in another process, whichever moment it sees, can always
/// look items up by content hash. A `readOnly` open never upgrades: lookups by content hash then
/// use the catalog's own index.
///
/// Vector format 3 (no catalog change) makes inserts cheaper: the id map stores positions in a
/// partition instead of block and slot, so merging blocks leaves it alone; partition records
/// count their large blocks; the merge factor is recorded; and new content-index entries are
/// appended as sorted runs (`contentRuns`). The upgrade from 2 is one LMDB transaction (create
/// `contentRuns`, fold `contentsRecent` into `contents`, rewrite the id map, fill in the records)
/// under the writer lock. Readers decode id-map entries by their length, and a reader that finds
/// format 3 before it has opened `contentRuns` retries its snapshot after opening it, so readers
/// in other processes keep working across the upgrade. Older radb builds refuse format 3.
/// `@unchecked Sendable`: its stored properties are `let`s or are guarded — LMDB transactions by
/// the environment's gate (`LMDBEnvironment`), the catalog by GRDB, writes by `WriterLock`, the
/// commit in flight by `CommitPipeline`.
public final class VectorStore: @unchecked Sendable {
    // MARK: - Identity

    /// The database directory.
    public let directory: URL
    /// Components per vector, fixed at creation.
    public let dimension: Int
    /// Identity (content hash) of the embedding model that writes this database.
    public let modelIdentity: String
    /// Vectors per full small block (where new vectors go).
    public var blockCapacity: Int { layout.smallCapacity }
    /// Vectors per large block (`mergeFactor` full small blocks merged; most of a big partition).
    public var largeBlockCapacity: Int { layout.largeCapacity }

    package let options: StoreOptions
    package let lmdb: LMDBEnvironment
    package let catalog: Catalog
    package let writerLock: WriterLock
    package let layout: VectorBlockLayout
    package var path: String { directory.path }
    /// Test hook run between the LMDB and the SQLite commit; a throwing hook simulates a writer
    /// that dies there (the tests of recovery use it).
    package var afterVectorCommitHook: (() throws -> Void)?
    /// Test hook run on the catalog thread just before the SQLite commit of a decided write
    /// (after the write may have returned); a throwing hook simulates a failing SQLite commit.
    package var beforeCatalogCommitHook: (@Sendable () throws -> Void)?
    /// Test hook run on the catalog thread before it applies a write's rows (while the LMDB
    /// half runs); a throwing hook simulates SQLite failing early.
    package var beforeCatalogApplyHook: (@Sendable () throws -> Void)?
    /// Thread CPU seconds spent in the two halves of all writes so far (for the benchmark).
    package var writeProfile: WriteProfile { pipeline.writeProfile }
    /// The catalog thread, and the catalog commit the last insert may have left running.
    let pipeline = CommitPipeline()

    static let vectorsDirectoryName = "vectors"
    static let catalogFileName = "catalog.sqlite"
    static let writerLockFileName = "writer.lock"
    /// Format of the LMDB half (meta `format`): 1 = blocks, ids, partitions; 2 = also
    /// `contents` (the content-hash index); 3 = the id map holds positions (`ItemPosition`),
    /// partition records count their large blocks, meta `mergeFactor` is recorded, and new
    /// content-index entries go to sorted runs (`contentRuns`, see ContentIndex); 4 = the
    /// model generation (record and anchors) lives in meta and switches with the partitions
    /// (see `ModelGeneration`). Older radb builds refuse a format they do not know.
    static let vectorFormatVersion: UInt64 = 4

    private init(directory: URL, dimension: Int, modelIdentity: String, options: StoreOptions,
                 lmdb: LMDBEnvironment, catalog: Catalog, writerLock: WriterLock, layout: VectorBlockLayout) {
        self.directory = directory
        self.dimension = dimension
        self.modelIdentity = modelIdentity
        self.options = options
        self.lmdb = lmdb
        self.catalog = catalog
        self.writerLock = writerLock
        self.layout = layout
    }

    deinit {
        // A commit left running by the last insert finishes before the store goes away.
        pipeline.drain()
    }

    /// Waits for a catalog commit the last insert left running (see `CatalogCommit`), so that
    /// what follows sees the catalog of every write that returned.
    func waitForCatalogCommit() {
        pipeline.drain()
    }

    // MARK: - Creating

    /// Creates a new, empty database in `directory` (which must not exist or be empty).
    ///
    /// ```swift
    /// let store = try VectorStore.create(at: URL(fileURLWithPath: "radb.db"),
    ///                                    dimension: 128, modelIdentity: modelHash)
    /// ```
    /// - Throws: `StoreError.alreadyExists`, `.invalidArgument`, `.io`.
    public static func create(at directory: URL, dimension: Int, modelIdentity: String,
                              options: StoreOptions = StoreOptions()) throws -> VectorStore {
        let path = directory.path
        guard (1...65_536).contains(dimension) else {
            throw StoreError.invalidArgument(path: path, reason: "dimension \(dimension) is outside 1…65536")
        }
        guard (2...64).contains(options.mergeFactor) else {
            throw StoreError.invalidArgument(path: path, reason: "mergeFactor \(options.mergeFactor) is outside 2…64")
        }
        guard !modelIdentity.isEmpty else {
            throw StoreError.invalidArgument(path: path, reason: "the model identity is empty; pass the model's content hash")
        }
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir) {
            let contents = (try? fm.contentsOfDirectory(atPath: path)) ?? []
            guard isDir.boolValue, contents.isEmpty else { throw StoreError.alreadyExists(path: path) }
        }
        // LMDB maps its lock file (64 KiB for 1022 readers) and meta pages: on a full disk the
        // first store into the map is a SIGBUS, not an error. Refuse before creating anything.
        if let free = StoreError.freeBytes(at: path), free < 1 << 20 {
            throw StoreError.diskFull(path: path, operation: "creating the database")
        }
        let vectorsPath = directory.appendingPathComponent(vectorsDirectoryName).path
        do {
            try fm.createDirectory(atPath: vectorsPath, withIntermediateDirectories: true)
        } catch {
            throw StoreError.io(path: path, operation: "create directory", reason: error.localizedDescription)
        }
        // LMDB half first: a crash before the catalog exists leaves an "incomplete" database.
        let env: LMDBEnvironment
        let layout: VectorBlockLayout
        do {
            env = try LMDBEnvironmentRegistry.environment(directory: vectorsPath, create: true, durable: options.durable,
                                                          initialMapSize: options.initialMapSize)
            let capacity = VectorBlockLayout.capacity(dimension: dimension, pageSize: env.pageSize,
                                                      minimumVectors: max(1, options.minimumBlockVectors))
            layout = VectorBlockLayout(dimension: dimension, smallCapacity: capacity, pageSize: env.pageSize,
                                       mergeFactor: options.mergeFactor)
            try env.write { txn in
                try txn.putMeta("format", vectorFormatVersion)
                try txn.putMeta("dimension", UInt64(dimension))
                try txn.putMeta("model", modelIdentity)
                try txn.putMeta("blockCapacity", UInt64(capacity))
                try txn.putMeta("mergeFactor", UInt64(options.mergeFactor))
                try txn.putMeta("seq", 0)
                try txn.putMeta("nextId", 1)
            }
        } catch let e as StoreError { throw e } catch {
            throw StoreError.io(path: vectorsPath, operation: "create vector store", reason: "\(error)")
        }
        let catalogPath = directory.appendingPathComponent(catalogFileName).path
        let catalog = try Catalog(path: catalogPath, create: true, durable: options.durable)
        try catalog.migrate()
        try catalog.wrap {
            try catalog.pool.write { db in
                try Catalog.setModel(db, identity: modelIdentity, dimension: dimension)
                try Catalog.setSequence(db, 0)
            }
        }
        let lock = try WriterLock(path: directory.appendingPathComponent(writerLockFileName).path)
        return VectorStore(directory: directory, dimension: dimension, modelIdentity: modelIdentity, options: options,
                           lmdb: env, catalog: catalog, writerLock: lock, layout: layout)
    }

    // MARK: - Opening

    /// Opens an existing database, recovering an interrupted write if there is one.
    ///
    /// ```swift
    /// let store = try VectorStore.open(at: dbURL, dimension: 128, modelIdentity: modelHash)
    /// try store.read { snap in print(try snap.partitions) }
    /// ```
    /// Pass `dimension`/`modelIdentity` to have them verified (nil accepts what is stored).
    /// - Throws: `StoreError.notFound`, `.notADatabase`, `.incompleteDatabase`,
    ///   `.corruptVectorStore`, `.corruptCatalog`, `.catalogSchemaTooNew`,
    ///   `.dimensionMismatch`, `.modelMismatch`, `.inconsistentHalves`.
    public static func open(at directory: URL, dimension expectedDimension: Int? = nil,
                            modelIdentity expectedModel: String? = nil,
                            options: StoreOptions = StoreOptions()) throws -> VectorStore {
        let path = directory.path
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw StoreError.notFound(path: path)
        }
        let vectorsPath = directory.appendingPathComponent(vectorsDirectoryName).path
        let dataPath = vectorsPath + "/data.mdb"
        let catalogPath = directory.appendingPathComponent(catalogFileName).path
        let hasVectors = fm.fileExists(atPath: dataPath)
        let hasCatalog = fm.fileExists(atPath: catalogPath)
        switch (hasVectors, hasCatalog) {
        case (false, false): throw StoreError.notADatabase(path: path)
        case (false, true): throw StoreError.incompleteDatabase(path: path, missing: "the vector store (vectors/data.mdb)")
        case (true, false): throw StoreError.incompleteDatabase(path: path, missing: "the catalog (catalog.sqlite)")
        case (true, true): break
        }

        // LMDB half. A file too short to hold LMDB's two meta pages would be re-initialised by
        // mdb_env_open, so it is rejected before LMDB sees it.
        let dataSize = ((try? fm.attributesOfItem(atPath: dataPath))?[.size] as? Int) ?? 0
        guard dataSize >= 2 * 4096 else {
            throw StoreError.corruptVectorStore(path: dataPath, reason: "file is \(dataSize) bytes, too short for an LMDB environment")
        }
        let env: LMDBEnvironment
        do {
            env = try LMDBEnvironmentRegistry.environment(directory: vectorsPath, create: false, durable: options.durable,
                                                          initialMapSize: options.initialMapSize, readOnly: options.readOnly)
        } catch let e as StoreError { throw e } catch let e as LMDBError where e.isEnvironmental {
            // A read-only medium, a full disk, missing permissions: not damage.
            throw StoreError.system(path: vectorsPath, operation: "opening the vector store", code: e.code, detail: e.description)
        } catch {
            throw StoreError.corruptVectorStore(path: dataPath, reason: "\(error)")
        }
        let meta: (format: UInt64, dimension: Int, model: String, capacity: Int, mergeFactor: Int)
        do {
            meta = try env.read { txn in
                guard let format = try txn.metaUInt64("format"), let dim = try txn.metaUInt64("dimension"),
                      let model = try txn.metaString("model"), let cap = try txn.metaUInt64("blockCapacity") else {
                    throw StoreError.corruptVectorStore(path: dataPath, reason: "the meta records are missing")
                }
                // Formats ≤ 2 do not record it: they merged 4 small blocks.
                let k = try txn.metaUInt64("mergeFactor") ?? UInt64(VectorBlockLayout.legacyMergeFactor)
                return (format, Int(dim), model, Int(cap), Int(k))
            }
        } catch let e as StoreError { throw e } catch {
            throw StoreError.corruptVectorStore(path: dataPath, reason: "\(error)")
        }
        guard meta.format <= vectorFormatVersion else {
            throw StoreError.corruptVectorStore(path: dataPath,
                reason: "vector format \(meta.format) is newer than this radb (\(vectorFormatVersion)); upgrade radb")
        }
        guard meta.dimension >= 1, meta.capacity >= 1, (2...64).contains(meta.mergeFactor) else {
            throw StoreError.corruptVectorStore(path: dataPath, reason: "meta records hold impossible values")
        }
        let layout = VectorBlockLayout(dimension: meta.dimension, smallCapacity: meta.capacity, pageSize: env.pageSize,
                                       mergeFactor: meta.mergeFactor)

        // Catalog half: refuse a newer schema before touching it.
        let catalog = try Catalog(path: catalogPath, create: false, durable: options.durable, readOnly: options.readOnly)
        let version = try catalog.schemaVersion()
        if version > CatalogSchema.latestVersion {
            throw StoreError.catalogSchemaTooNew(path: catalogPath, found: version, supported: CatalogSchema.latestVersion)
        }
        if version == 0 {
            throw StoreError.corruptCatalog(path: catalogPath, reason: "it has no radb schema")
        }
        let lock = try WriterLock(path: directory.appendingPathComponent(writerLockFileName).path, readOnly: options.readOnly)
        guard let model = try catalog.wrap({ try catalog.pool.read { try Catalog.model($0) } }) else {
            throw StoreError.corruptCatalog(path: catalogPath, reason: "the model record is missing")
        }
        guard model.identity == meta.model, model.dimension == meta.dimension else {
            throw StoreError.inconsistentHalves(path: path,
                reason: "catalog model \(model.identity)/\(model.dimension)d vs vector store \(meta.model)/\(meta.dimension)d")
        }
        if let d = expectedDimension, d != meta.dimension {
            throw StoreError.dimensionMismatch(path: path, stored: meta.dimension, requested: d)
        }
        if let m = expectedModel, m != meta.model {
            throw StoreError.modelMismatch(path: path, stored: meta.model, requested: m)
        }
        let store = VectorStore(directory: directory, dimension: meta.dimension, modelIdentity: meta.model,
                                options: options, lmdb: env, catalog: catalog, writerLock: lock, layout: layout)
        if !options.readOnly, meta.format < vectorFormatVersion || version < CatalogSchema.latestVersion {
            // An older database opened for writing: upgrade it once (waits for a live writer).
            try lock.acquire(timeout: options.writeLockTimeout)
            defer { lock.release() }
            try store.recoverLocked()
            try store.upgradeLocked()
        } else if lock.tryAcquire() {
            // Roll an interrupted write forward now if no live writer is mid-commit. (A read-only
            // store does this too: it only completes a write that was already decided, as SQLite
            // readers roll back a hot journal.) If that write cannot be finished here (a full
            // disk, a read-only medium), say so: the database is not damaged.
            defer { lock.release() }
            do {
                try store.recoverLocked()
            } catch let e as StoreError {
                switch e {
                case .diskFull: throw StoreError.interruptedWriteNeedsFinishing(path: path, reason: "the disk is full (no space left on device)")
                case let .notWritable(_, _, r): throw StoreError.interruptedWriteNeedsFinishing(path: path, reason: "the file system refused to write (\(r))")
                case let .io(p, op, r): throw StoreError.interruptedWriteNeedsFinishing(path: path, reason: "\(op) failed on \(p): \(r)")
                default: throw e
                }
            }
        }
        return store
    }

    /// Opens `directory` if it holds a database, else creates one.
    public static func openOrCreate(at directory: URL, dimension: Int, modelIdentity: String,
                                    options: StoreOptions = StoreOptions()) throws -> VectorStore {
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        if contents.isEmpty {
            return try create(at: directory, dimension: dimension, modelIdentity: modelIdentity, options: options)
        }
        return try open(at: directory, dimension: dimension, modelIdentity: modelIdentity, options: options)
    }

    // MARK: - Recovery

    /// The two sequence numbers and the pending operation, read without the writer lock.
    func sequences() throws -> (vectors: UInt64, catalog: UInt64) {
        let l = try lmdbCall { try lmdb.read { try $0.metaUInt64("seq") ?? 0 } }
        let s = try catalog.wrap { try catalog.pool.read { try Catalog.sequence($0) } }
        return (l, s)
    }

    /// Rolls the catalog forward if the last writer died between its commits. Caller holds
    /// the writer lock.
    func recoverLocked() throws {
        waitForCatalogCommit()
        // A writer killed while LMDB published its commit leaves that commit invisible to read
        // transactions until a write transaction begins; see `publishLatestCommit`.
        try lmdbCall { try lmdb.publishLatestCommit() }
        let (l, s) = try sequences()
        if l == s { return }
        guard l == s + 1 else {
            throw StoreError.inconsistentHalves(path: path,
                reason: "vector store is at commit \(l), catalog at \(s); one half was restored or lost without the other")
        }
        let op: PendingOperation = try lmdbCall {
            try lmdb.read { txn in
                guard let raw = try txn.metaBytes("pending") else {
                    throw StoreError.corruptVectorStore(path: path, reason: "commit \(l) has no pending catalog record")
                }
                do { return try PendingOperation(decoding: raw) } catch {
                    throw StoreError.corruptVectorStore(path: path, reason: "the pending catalog record of commit \(l) is malformed")
                }
            }
        }
        try catalog.wrap { try catalog.pool.write { try Catalog.apply(op, sequence: l, db: $0) } }
    }

    /// Brings an older database to the current formats (see "Formats and upgrades" above).
    /// Caller holds the writer lock and has run recovery, so the catalog is complete.
    func upgradeLocked() throws {
        let format = try lmdbCall { try lmdb.read { try $0.metaUInt64("format") ?? 0 } }
        if format < 2 {
            let entries = try catalog.wrap { try catalog.pool.read { try Catalog.allContentEntries($0) } }
            try lmdbCall {
                try lmdb.writeCreatingContents { txn, handles in
                    try ContentIndex.build(entries, txn: txn, handles: handles)
                    try txn.putMeta("format", 2)
                }
            }
        }
        if format < 3 {
            // Creates `contentRuns`; format 2's `contentsRecent` is merged into `contents`.
            try lmdbCall {
                try lmdb.writeCreatingContents { txn, handles in
                    try ContentIndex.mergeRunsIntoMain(txn: txn, handles: handles)
                    try IDMapUpgrade.run(txn: txn, layout: layout)
                    try txn.putMeta("format", 3)
                }
            }
        }
        if format < 4 {
            // The catalog's anchors become generation 1 in LMDB (validated: damaged anchors stop
            // the upgrade with an error naming the row, rather than being carried on). Partitions
            // stay as they are; `check()` reports any without an anchor (an interrupted reindex of
            // an older radb) and a `reindex` repairs them.
            let anchors = try catalog.wrap { try catalog.pool.read { try Catalog.anchors($0, dimension: dimension, path: catalog.path) } }
            try lmdbCall {
                try lmdb.write { txn in
                    if !anchors.isEmpty {
                        let g = ModelGeneration(number: 1, anchorCount: anchors.count / dimension, dimension: dimension,
                                                createdAt: Date().timeIntervalSince1970, anchors: anchors)
                        try txn.putGeneration(g, replacing: nil)
                    }
                    try txn.putMeta("format", 4)
                }
            }
        }
        try catalog.migrate()
    }

    /// The content-index handles every write needs (present in every database a writer opened).
    package func contentsForWriting() throws -> ContentIndex.Handles {
        guard let dbi = try lmdbCall({ try lmdb.contentsDB() }), dbi.runs != nil else {
            throw StoreError.corruptVectorStore(path: lmdb.directory,
                reason: "the content-hash index (LMDB database `contents`) is missing; reopen the database for writing to rebuild it")
        }
        return dbi
    }

    // MARK: - Writing (the commit protocol itself is in VectorStore+Writing.swift)

    /// Runs LMDB work, turning LMDB return codes into `StoreError`s naming the environment.
    package func lmdbCall<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as StoreError { throw e } catch let e as LMDBError {
            throw StoreError.system(path: lmdb.directory, operation: "LMDB", code: e.code, detail: e.description)
        }
    }

    /// Rejects vectors of the wrong size or with NaN/Inf; returns their squared norms. One pass
    /// per vector: a NaN or infinite component makes the norm non-finite, so components are
    /// searched only when the norm is.
    /// The squared norms of `rows` (row r is the batch's item `order[r]`), or the error for the
    /// first item (in batch order) with a NaN or infinite component or norm.
    func validatedNorms(_ rows: [Float], order: [Int]) throws -> [Float] {
        let d = dimension, count = order.count
        let norms = [Float](unsafeUninitializedCapacity: count) { out, initialized in
            rows.withUnsafeBufferPointer { squaredNorms(rows: $0.baseAddress!, count: count, dimension: d, into: out.baseAddress!) }
            initialized = count
        }
        // A non-finite component makes the norm NaN or infinite, and so does an overflow (1e30²).
        if let bad = (0..<count).filter({ !norms[$0].isFinite }).min(by: { order[$0] < order[$1] }) {
            let row = rows[bad * d ..< (bad + 1) * d]
            throw StoreError.nonFiniteVector(path: path, index: order[bad], component: (row.firstIndex(where: { !$0.isFinite }) ?? bad * d - 1) - bad * d)
        }
        return norms
    }

    func validate(_ m: ItemMetadata, index: Int) throws {
        try withUnsafePointer(to: m) { try validate($0, index: index) }
    }

    /// Checks metadata in place (a by-value copy retains its three strings).
    func validate(_ m: UnsafePointer<ItemMetadata>, index: Int) throws {
        if let reason = ItemMetadata.problem(of: m) { throw StoreError.invalidMetadata(path: path, index: index, reason: reason) }
    }

    /// Inserts a batch atomically and returns the new ids, in batch order.
    ///
    /// ```swift
    /// let ids = try store.insert([NewItem(vector: e, anchor: 3,
    ///     metadata: ItemMetadata(path: "a.jpg", contentHash: h, label: "cat", width: 640, height: 480))])
    /// ```
    /// `generation`: the number of the generation whose anchors routed the items (nil: not
    /// checked). The check runs inside the write's LMDB transaction, so items routed with
    /// anchors another process has replaced meanwhile are refused, never stored in partitions
    /// that mean something else now.
    /// - Throws: `.emptyBatch`, `.wrongDimension`, `.nonFiniteVector`, `.invalidMetadata`,
    ///   `.generationChanged`, `.noSuchAnchor` (nothing written), `.writerBusy`, `.io`.
    @discardableResult
    public func insert(_ batch: [NewItem], generation: UInt64? = nil) throws -> [UInt64] {
        guard !batch.isEmpty else { throw StoreError.emptyBatch(path: path, operation: "insert") }
        // Through a pointer: `for item in batch` copies (retains) every vector and string.
        try batch.withUnsafeBufferPointer { items in
            for i in items.indices { try validate((items.baseAddress! + i).metadata, index: i) }
        }
        let now = Date().timeIntervalSince1970
        let d = dimension
        var ids: [UInt64] = []
        var norms: [Float] = []
        var order: [Int] = []
        var anchorOf: [Int32] = []
        var sorted = [Float]()
        try performWrite("insert", overlapsPreviousCommit: true, prepare: { first in
            ids = (0..<batch.count).map { first + UInt64($0) }
            let op = PendingOperation.insertBatch(.init(firstId: first, items: batch, addedAt: now))
            return { op }
        }, alongside: {
            // While the catalog thread inserts the rows: order the vectors by partition so each
            // tail block is written once, then check them (a bad one abandons both halves).
            // Fields are read through a pointer: `batch[i].anchor` in a closure copies the whole
            // item (retaining its vector and strings), which showed in profiles.
            try batch.withUnsafeBufferPointer { items in
                let item = items.baseAddress!
                for i in 0..<items.count where item[i].vector.count != d { // the first in batch order
                    throw StoreError.wrongDimension(path: path, index: i, got: item[i].vector.count, expected: d)
                }
                anchorOf = (0..<items.count).map { item[$0].anchor }
                // (partition key, index) packed into one UInt64 sorts as (anchor, index).
                order = (0..<items.count).map { UInt64(partitionKey(anchorOf[$0])) << 32 | UInt64($0) }
                    .sorted().map { Int(truncatingIfNeeded: $0 & 0xFFFF_FFFF) }
                sorted = [Float](unsafeUninitializedCapacity: items.count * d) { buffer, count in
                    for (row, i) in order.enumerated() {
                        item[i].vector.withUnsafeBufferPointer { // length checked above
                            (buffer.baseAddress! + row * d).initialize(from: $0.baseAddress!, count: d)
                        }
                    }
                    count = items.count * d
                }
            }
            norms = try validatedNorms(sorted, order: order)
        }, vectorHalf: { writer, first, sortedContentEntries in
            if let lo = anchorOf.min(), let hi = anchorOf.max() {
                try checkRouting(writer.txn, generation: generation, anchors: lo...hi)
            }
            var runStart = 0
            while runStart < order.count {
                let anchor = anchorOf[order[runStart]]
                var runEnd = runStart
                while runEnd < order.count, anchorOf[order[runEnd]] == anchor { runEnd += 1 }
                let run = order[runStart..<runEnd]
                try sorted.withUnsafeBufferPointer { all in
                    try writer.appendRun(anchor: anchor, ids: run.map { ids[$0] }, norms: Array(norms[runStart..<runEnd]),
                                         vectors: UnsafeBufferPointer(rebasing: all[runStart * d ..< runEnd * d]))
                }
                runStart = runEnd
            }
            try ContentIndex.insert(sortedContentEntries(), txn: writer.txn, handles: writer.contents, mergeMinimum: writer.contentMergeMinimum)
            try writer.txn.putMeta("nextId", first + UInt64(batch.count))
        })
        return ids
    }

    /// Deletes items; their slots are refilled by swap-remove. All ids must exist.
    /// - Throws: `.emptyBatch`, `.unknownIDs` (nothing deleted).
    public func delete(ids: [UInt64]) throws {
        let unique = Array(Set(ids)).sorted()
        guard !unique.isEmpty else { throw StoreError.emptyBatch(path: path, operation: "delete") }
        var contentEntries: [ContentIndex.Entry] = []
        try performWrite("delete", prepare: { _ in
            contentEntries = try catalog.wrap { try catalog.pool.read { try Catalog.contentEntries($0, ids: unique) } }
            return { .delete(unique) }
        }, vectorHalf: { writer, _, _ in
            let unknown = try unique.filter { try !writer.contains($0) }
            guard unknown.isEmpty else { throw StoreError.unknownIDs(path: path, ids: unknown) }
            for id in unique { try writer.remove(id: id) }
            try ContentIndex.remove(contentEntries, txn: writer.txn, handles: writer.contents)
        })
    }

    /// Replaces the metadata of existing items.
    /// - Throws: `.emptyBatch`, `.unknownIDs`, `.invalidMetadata` (nothing changed).
    public func updateMetadata(_ updates: [(id: UInt64, metadata: ItemMetadata)]) throws {
        guard !updates.isEmpty else { throw StoreError.emptyBatch(path: path, operation: "updateMetadata") }
        for (i, u) in updates.enumerated() { try validate(u.metadata, index: i) }
        // The catalog applies the updates in order, so the last one of an id wins: its hash is
        // the one to index.
        var finalHash: [UInt64: String] = [:]
        for u in updates { finalHash[u.id] = u.metadata.contentHash }
        var oldEntries: [ContentIndex.Entry] = []
        try performWrite("updateMetadata", prepare: { _ in
            oldEntries = try catalog.wrap { try catalog.pool.read { try Catalog.contentEntries($0, ids: finalHash.keys.sorted()) } }
            let op = PendingOperation.updateMetadata(updates.map { .init(id: $0.id, metadata: $0.metadata) })
            return { op }
        }, vectorHalf: { writer, _, _ in
            let unknown = try updates.map(\.id).filter { try !writer.contains($0) }
            guard unknown.isEmpty else { throw StoreError.unknownIDs(path: path, ids: unknown) }
            try ContentIndex.remove(oldEntries, txn: writer.txn, handles: writer.contents)
            let newEntries = finalHash.map { ContentIndex.Entry(key: ContentIndex.key($0.value), id: $0.key) }.sorted()
            try ContentIndex.insert(newEntries, txn: writer.txn, handles: writer.contents, mergeMinimum: writer.contentMergeMinimum)
        })
    }

    /// Replaces the metadata of one item.
    public func updateMetadata(id: UInt64, _ metadata: ItemMetadata) throws {
        try updateMetadata([(id, metadata)])
    }

    /// Moves items to other partitions of the current generation. Ids, vectors and metadata are
    /// kept. The last move of an id in the list wins. To change anchors, use
    /// `switchGeneration(anchors:count:assign:)`, which moves every item in the same commit.
    /// - Throws: also `.noSuchAnchor` for a target without an anchor (in a store with anchors).
    /// - Throws: `.emptyBatch`, `.unknownIDs` (nothing moved).
    public func reanchor(_ moves: [(id: UInt64, anchor: Int32)]) throws {
        guard !moves.isEmpty else { throw StoreError.emptyBatch(path: path, operation: "reanchor") }
        var target: [UInt64: Int32] = [:]
        for m in moves { target[m.id] = m.anchor }
        let ordered = target.keys.sorted()
        try performWrite("reanchor", prepare: { _ in
            let op = PendingOperation.move(ordered.map { .init(id: $0, anchor: target[$0]!) })
            return { op }
        }, vectorHalf: { writer, _, _ in
            let unknown = try ordered.filter { try !writer.contains($0) }
            guard unknown.isEmpty else { throw StoreError.unknownIDs(path: path, ids: unknown) }
            if let lo = target.values.min(), let hi = target.values.max() {
                try checkRouting(writer.txn, generation: nil, anchors: lo...hi)
            }
            for id in ordered {
                let anchor = target[id]!
                guard let p = try writer.position(of: id), p.anchor != anchor else { continue }
                let entry = try writer.remove(id: id)
                try entry.vector.withUnsafeBufferPointer {
                    try writer.append(id: id, anchor: anchor, norm: entry.norm, vector: $0)
                }
            }
        })
    }

    /// Moves `ids` to partition `anchor`.
    public func moveToAnchor(ids: [UInt64], anchor: Int32) throws {
        try reanchor(ids.map { ($0, anchor) })
    }

    // MARK: - Anchors

    /// Switches to a new generation with these anchors (`count × dimension` floats, row-major)
    /// and leaves every item in its partition: for a new store, or anchors that keep each
    /// partition's meaning. Use `switchGeneration(anchors:count:assign:)` to move items.
    /// - Throws: `.invalidAnchors` (also when a partition holds items but would have no anchor),
    ///   `.writerBusy`.
    public func setAnchors(_ vectors: [Float], count: Int) throws {
        try switchGeneration(anchors: vectors, count: count, assign: nil)
    }

    /// The anchors of the current generation, `count × dimension` floats (empty if none).
    /// - Throws: `.invalidAnchors` when they are damaged.
    public func anchors() throws -> [Float] {
        try read { try $0.anchors() }
    }

    /// The current model generation, or nil if no anchors were ever set.
    public func generation() throws -> ModelGeneration? {
        try read { try $0.generation }
    }

    // MARK: - Point reads

    /// The catalog record of `id`, or nil if unknown.
    public func item(id: UInt64) throws -> StoredItem? {
        try read { try $0.item(id: id) }
    }

    /// Items whose content hash is `contentHash` (duplicates share it), by id.
    public func items(contentHash: String) throws -> [StoredItem] {
        try read { try $0.items(contentHash: contentHash) }
    }

    /// The first item with `contentHash`, or nil.
    public func item(contentHash: String) throws -> StoredItem? {
        try items(contentHash: contentHash).first
    }

    /// A copy of the vector of `id`, or nil if unknown.
    public func vector(id: UInt64) throws -> [Float]? {
        try read { try $0.vector(id: id) }
    }

    /// Ids of catalog rows matching `filter`, ascending.
    public func ids(matching filter: CatalogFilter) throws -> [UInt64] {
        try read { try $0.ids(matching: filter) }
    }

    // MARK: - Durability

    /// Flushes both halves to disk; call at the end of a bulk load made with `durable = false`.
    public func sync() throws {
        if options.readOnly {
            waitForCatalogCommit()
        } else {
            // Wait for the last insert's catalog commit; if it failed, roll it forward now (and
            // throw if that fails too), so the catalog is complete before it is flushed.
            try writerLock.acquire(timeout: options.writeLockTimeout)
            defer { writerLock.release() }
            try recoverLocked()
        }
        try lmdbCall { try lmdb.sync() }
        for suffix in ["", "-wal"] {
            if let h = FileHandle(forUpdatingAtPath: catalog.path + suffix) {
                try? h.synchronize()
                try? h.close()
            }
        }
    }
}
