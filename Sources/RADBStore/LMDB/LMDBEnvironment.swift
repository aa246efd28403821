import CLMDB
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One open LMDB environment (the `vectors/` directory of a store) and its named databases.
///
/// Why a wrapper: LMDB's map must grow while the process may hold read transactions, and
/// `mdb_env_set_mapsize` is only legal with no transaction active in the process. A process-wide
/// reader/writer gate enforces that: every transaction holds the gate shared, a map resize holds
/// it exclusively. LMDB also forbids opening one environment twice in a process, so environments
/// are shared through `LMDBEnvironmentRegistry`.
/// `@unchecked Sendable`: LMDB's environment handle is thread-safe (MDB_NOTLS); the map size is
/// changed only while holding the process-wide gate exclusively, and every transaction holds it shared.
package final class LMDBEnvironment: @unchecked Sendable {
    package let env: OpaquePointer
    package let directory: String
    let pageSize: Int
    /// `meta`: string keys → small values (dimension, model, seq, next id, pending operation).
    package let metaDB: MDB_dbi
    /// `blocks`: UInt64 key (biased anchor << 32 | block number) → `VectorBlockLayout` value.
    let blocksDB: MDB_dbi
    /// `ids`: UInt64 id → `ItemLocation` (anchor, block, slot).
    package let idsDB: MDB_dbi
    /// `partitions`: UInt32 biased anchor → `PartitionRecord` (count, block count).
    package let partitionsDB: MDB_dbi
    /// fsync on commit (false = MDB_NOSYNC for bulk loads).
    let durable: Bool

    /// Flags of the two content-index databases (`contents`, `contentsRecent`): UInt64 content
    /// key (`ContentIndex.key` of a content hash) → the ids holding that content, as sorted
    /// fixed-size duplicates. See ContentIndex for why there are two.
    static let contentsFlags = UInt32(MDB_INTEGERKEY | MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP)
    static let contentsNames = ("contents", "contentsRecent")
    /// The sorted runs of recent content-index entries (vector format ≥ 3): UInt64 run number →
    /// sorted (key, id) pairs. See ContentIndex.
    static let contentRunsName = "contentRuns"
    /// Handles of the content index once it exists (vector format ≥ 2); see `contentsDB()`.
    private var contentsHandle: ContentIndex.Handles?
    /// `mdb_dbi_open` must not run in two transactions of one process at once: every call of
    /// it after `init` (lazy open, creation during an upgrade) holds this lock.
    private let dbiLock = NSLock()

    private let gate: UnsafeMutablePointer<pthread_rwlock_t>
    /// How long a map resize waits for this process's read snapshots to end.
    var growthWaitSeconds: Double = 30

    // MARK: - Opening

    /// Opens (or, with `create`, initialises) the environment in `directory`.
    /// With `readOnly`, an environment the file system will not let us open for writing (a
    /// read-only mount, no write permission) is opened with `MDB_RDONLY` instead, so reads still
    /// work; it is tried read-write first, because the environment is shared by every store of
    /// the process on this directory (`LMDBEnvironmentRegistry`).
    init(directory: String, create: Bool, durable: Bool, initialMapSize: Int, readOnly: Bool = false) throws {
        // NOTLS: read transactions are not tied to threads (GRDB and Dispatch move work across
        // threads). NORDAHEAD: scans are sequential within blocks, random across partitions.
        var flags = UInt32(MDB_NOTLS) | UInt32(MDB_NORDAHEAD)
        if !durable { flags |= UInt32(MDB_NOSYNC) }
        var opened: OpaquePointer?
        do {
            opened = try Self.openEnvironment(directory, flags: flags, initialMapSize: initialMapSize)
        } catch let e as LMDBError where readOnly && !create && [EROFS, EACCES, EPERM].contains(e.code) {
            opened = try Self.openEnvironment(directory, flags: flags | UInt32(MDB_RDONLY), initialMapSize: initialMapSize)
        }
        guard let env = opened else { throw LMDBError(code: EINVAL, operation: "mdb_env_create") }
        var ok = false
        defer { if !ok { mdb_env_close(env) } }
        var stat = MDB_stat()
        try LMDBError.check(mdb_env_stat(env, &stat), "mdb_env_stat")
        if !create {
            // A truncated file would fault (SIGBUS) on the first page access beyond its end, so
            // compare its size with the last page the meta page claims before reading any page.
            var info = MDB_envinfo()
            mdb_env_info(env, &info)
            let dataPath = directory + "/data.mdb"
            let size = ((try? FileManager.default.attributesOfItem(atPath: dataPath))?[.size] as? Int) ?? 0
            let needed = (info.me_last_pgno + 1) * Int(stat.ms_psize)
            guard needed <= size else {
                throw StoreError.corruptVectorStore(path: dataPath,
                    reason: "file is \(size) bytes but its pages reach \(needed) (truncated)")
            }
        }
        self.env = env
        self.directory = directory
        self.pageSize = Int(stat.ms_psize)
        self.durable = durable
        gate = .allocate(capacity: 1)
        pthread_rwlock_init(gate, nil)
        // Clear reader slots left by killed processes so they do not pin old pages.
        var dead: Int32 = 0
        _ = mdb_reader_check(env, &dead)

        // Open (or create) the named databases once; the handles stay valid for the env's life.
        var txn: OpaquePointer?
        try LMDBError.check(mdb_txn_begin(env, nil, create ? 0 : UInt32(MDB_RDONLY), &txn), "mdb_txn_begin")
        func open(_ name: String, _ extra: Int32) throws -> MDB_dbi {
            var dbi: MDB_dbi = 0
            let f = UInt32(extra) | (create ? UInt32(MDB_CREATE) : 0)
            try LMDBError.check(mdb_dbi_open(txn, name, f, &dbi), "mdb_dbi_open(\(name))")
            return dbi
        }
        do {
            metaDB = try open("meta", 0)
            blocksDB = try open("blocks", MDB_INTEGERKEY)
            idsDB = try open("ids", MDB_INTEGERKEY)
            partitionsDB = try open("partitions", MDB_INTEGERKEY)
            // A new environment gets `contents` at once; an old one (format 1) lacks it until
            // a writer upgrades it (`VectorStore.upgradeVectorFormat`).
            contentsHandle = try Self.openContents(txn!, create: create)
            try LMDBError.check(mdb_txn_commit(txn), "mdb_txn_commit")
        } catch {
            mdb_txn_abort(txn)
            pthread_rwlock_destroy(gate)
            gate.deallocate()
            throw error
        }
        ok = true
    }

    /// Creates and opens an environment handle; closes it again when opening fails (as LMDB requires).
    private static func openEnvironment(_ directory: String, flags: UInt32, initialMapSize: Int) throws -> OpaquePointer {
        var envPointer: OpaquePointer?
        try LMDBError.check(mdb_env_create(&envPointer), "mdb_env_create")
        guard let env = envPointer else { throw LMDBError(code: EINVAL, operation: "mdb_env_create") }
        do {
            try LMDBError.check(mdb_env_set_maxdbs(env, 8), "mdb_env_set_maxdbs")
            try LMDBError.check(mdb_env_set_maxreaders(env, 1022), "mdb_env_set_maxreaders")
            try LMDBError.check(mdb_env_set_mapsize(env, initialMapSize), "mdb_env_set_mapsize")
            try LMDBError.check(mdb_env_open(env, directory, flags, 0o644), "mdb_env_open(\(directory))")
        } catch {
            mdb_env_close(env)
            throw error
        }
        return env
    }

    deinit {
        mdb_env_close(env)
        pthread_rwlock_destroy(gate)
        gate.deallocate()
    }

    // MARK: - The contents database

    /// Opens the content-index databases in `txn`; nil if they do not exist (and not
    /// `create`); `runs` is nil in a format-2 environment.
    private static func openContents(_ txn: OpaquePointer, create: Bool) throws -> ContentIndex.Handles? {
        var main: MDB_dbi = 0, recent: MDB_dbi = 0, runs: MDB_dbi = 0
        let flags = contentsFlags | (create ? UInt32(MDB_CREATE) : 0)
        let rc = mdb_dbi_open(txn, contentsNames.0, flags, &main)
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "mdb_dbi_open(\(contentsNames.0))")
        try LMDBError.check(mdb_dbi_open(txn, contentsNames.1, flags, &recent), "mdb_dbi_open(\(contentsNames.1))")
        let runsRC = mdb_dbi_open(txn, contentRunsName, UInt32(MDB_INTEGERKEY) | (create ? UInt32(MDB_CREATE) : 0), &runs)
        if runsRC == MDB_NOTFOUND { return ContentIndex.Handles(main: main, recent: recent, runs: nil) }
        try LMDBError.check(runsRC, "mdb_dbi_open(\(contentRunsName))")
        return ContentIndex.Handles(main: main, recent: recent, runs: runs)
    }

    /// The content-index handles, or nil while the environment has none (format 1); `runs` is
    /// nil while it has no runs database (format 2). Opens them lazily when another process
    /// (or store) created them after this environment was opened.
    package func contentsDB() throws -> ContentIndex.Handles? {
        dbiLock.lock()
        defer { dbiLock.unlock() }
        if let handle = contentsHandle, handle.runs != nil { return handle }
        while true {
            pthread_rwlock_rdlock(gate)
            var txn: OpaquePointer?
            let begin = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn)
            if begin == MDB_MAP_RESIZED {
                pthread_rwlock_unlock(gate)
                try adoptMapSize()
                continue
            }
            defer { pthread_rwlock_unlock(gate) }
            try LMDBError.check(begin, "mdb_txn_begin(read)")
            let handles: ContentIndex.Handles?
            do { handles = try Self.openContents(txn!, create: false) } catch { mdb_txn_abort(txn); throw error }
            guard let handles else { mdb_txn_abort(txn); return nil }
            // Committing a read-only transaction keeps the handles for the whole environment.
            try LMDBError.check(mdb_txn_commit(txn), "mdb_txn_commit(read)")
            contentsHandle = handles
            return handles
        }
    }

    /// Runs a write transaction that creates the content index and fills it (`body` gets the
    /// handles), holding the dbi lock throughout, as LMDB requires. Used once per database, by
    /// an upgrade.
    func writeCreatingContents(_ body: (LMDBTransaction, ContentIndex.Handles) throws -> Void) throws {
        dbiLock.lock()
        defer { dbiLock.unlock() }
        let handles = try write { txn -> ContentIndex.Handles in
            guard let handles = try Self.openContents(txn.handle, create: true) else {
                throw LMDBError(code: MDB_NOTFOUND, operation: "mdb_dbi_open(\(Self.contentsNames.0), create)")
            }
            try body(txn, handles)
            return handles
        }
        contentsHandle = handles
    }

    // MARK: - Map size

    /// Current map size and the highest page in use.
    func info() -> (mapSize: Int, lastPage: Int) {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        return (info.me_mapsize, info.me_last_pgno)
    }

    /// Waits (bounded) for exclusive use of the environment in this process.
    private func lockExclusive() throws {
        let deadline = Date().addingTimeInterval(growthWaitSeconds)
        while pthread_rwlock_trywrlock(gate) != 0 {
            if Date() > deadline { throw StoreError.mapGrowthBlocked(path: directory) }
            usleep(1000)
        }
    }

    /// Doubles the map (or more, to fit `atLeast` bytes). Called after MDB_MAP_FULL.
    func grow(atLeast: Int = 0) throws {
        try lockExclusive()
        defer { pthread_rwlock_unlock(gate) }
        let current = info().mapSize
        let target = max(current * 2, atLeast)
        let rounded = (target + pageSize - 1) / pageSize * pageSize
        try LMDBError.check(mdb_env_set_mapsize(env, rounded), "mdb_env_set_mapsize(\(rounded))")
    }

    /// Adopts a map size another process has grown to (after MDB_MAP_RESIZED).
    private func adoptMapSize() throws {
        try lockExclusive()
        defer { pthread_rwlock_unlock(gate) }
        try LMDBError.check(mdb_env_set_mapsize(env, 0), "mdb_env_set_mapsize(0)")
    }

    // MARK: - Transactions

    /// Runs `body` in a read-only MVCC snapshot. Writers (in any process) proceed meanwhile.
    package func read<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
        while true {
            pthread_rwlock_rdlock(gate)
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn)
            if rc == MDB_MAP_RESIZED {
                pthread_rwlock_unlock(gate)
                try adoptMapSize()
                continue
            }
            if rc == MDB_READERS_FULL {
                var dead: Int32 = 0
                mdb_reader_check(env, &dead)
                if dead > 0 { pthread_rwlock_unlock(gate); continue }
            }
            guard rc == 0, let handle = txn else {
                pthread_rwlock_unlock(gate)
                throw LMDBError(code: rc, operation: "mdb_txn_begin(read)")
            }
            defer {
                mdb_txn_abort(handle)
                pthread_rwlock_unlock(gate)
            }
            return try body(LMDBTransaction(environment: self, handle: handle))
        }
    }

    /// Runs `body` in a write transaction and commits it. `body` may be run more than once: on
    /// MDB_MAP_FULL the transaction is aborted, the map grows, and the whole body is retried,
    /// so the caller never sees MAP_FULL. `body` must therefore derive everything from the txn.
    package func write<T>(_ body: (LMDBTransaction) throws -> T) throws -> T {
        while true {
            pthread_rwlock_rdlock(gate)
            var txn: OpaquePointer?
            var rc = mdb_txn_begin(env, nil, 0, &txn)
            if rc == MDB_MAP_RESIZED {
                pthread_rwlock_unlock(gate)
                try adoptMapSize()
                continue
            }
            guard rc == 0, let handle = txn else {
                pthread_rwlock_unlock(gate)
                throw LMDBError(code: rc, operation: "mdb_txn_begin(write)")
            }
            let result: T
            do {
                result = try body(LMDBTransaction(environment: self, handle: handle))
            } catch let error as LMDBError where error.isMapFull {
                mdb_txn_abort(handle)
                pthread_rwlock_unlock(gate)
                try grow()
                continue
            } catch {
                mdb_txn_abort(handle)
                pthread_rwlock_unlock(gate)
                throw error
            }
            rc = mdb_txn_commit(handle)
            pthread_rwlock_unlock(gate)
            if rc == MDB_MAP_FULL { try grow(); continue }
            try LMDBError.check(rc, "mdb_txn_commit")
            return result
        }
    }

    // MARK: - A writer that died while publishing its commit

    /// Whether the environment was opened with `MDB_RDONLY` (no transaction can write).
    var isReadOnly: Bool {
        var flags: UInt32 = 0
        mdb_env_get_flags(env, &flags)
        return flags & UInt32(MDB_RDONLY) != 0
    }

    /// Makes the read transactions of every process start from the newest commit on disk.
    ///
    /// Why: a read transaction starts from the transaction id published in the lock file
    /// (`mti_txnid`), which LMDB updates only after it wrote the commit's meta page
    /// (`mdb_env_write_meta`). A writer killed in between — during the meta page's synchronous
    /// write, for one — leaves a commit that is decided (the next write transaction builds on
    /// it) but that read transactions do not see until some process begins a write
    /// transaction: LMDB's write mutex then reports its owner dead, and LMDB publishes the
    /// newest meta page (`mdb_mutex_failed`). Beginning and aborting a write transaction does
    /// just that, and costs a mutex round trip otherwise.
    ///
    /// Call with the store's writer lock held, before reading the state that a write or a
    /// recovery builds on. Does nothing in an environment opened read-only.
    func publishLatestCommit() throws {
        guard !isReadOnly else { return }
        while true {
            pthread_rwlock_rdlock(gate)
            var txn: OpaquePointer?
            let rc = mdb_txn_begin(env, nil, 0, &txn)
            if rc == MDB_MAP_RESIZED {
                pthread_rwlock_unlock(gate)
                try adoptMapSize()
                continue
            }
            defer { pthread_rwlock_unlock(gate) }
            try LMDBError.check(rc, "mdb_txn_begin(write)")
            mdb_txn_abort(txn)
            return
        }
    }

    // MARK: - Copy

    /// Compacting, consistent copy into `directory` (which must exist and be empty).
    func copy(to directory: String) throws {
        pthread_rwlock_rdlock(gate)
        defer { pthread_rwlock_unlock(gate) }
        try LMDBError.check(mdb_env_copy2(env, directory, UInt32(MDB_CP_COMPACT)), "mdb_env_copy2(\(directory))")
    }

    /// Flushes buffers to disk (used after bulk loads with `durable == false`).
    func sync() throws {
        try LMDBError.check(mdb_env_sync(env, 1), "mdb_env_sync")
    }
}
