import CLMDB
import Foundation
import GRDB
import RADBStore

// MARK: - Hooks that rewrite or damage a store on purpose, for the tests only. This target is in
// no product: the release library and binary do not contain them. They reach the store through
// its `package` declarations.

extension VectorStore {
    /// Rewrites this database into the layout radb wrote before the content-hash index moved
    /// to LMDB — vector format 1 (no `contents` database, id map of block/slot entries) and
    /// catalog schema 1 (the `items_by_content_key` and `items_by_label` indexes of Schema/0001,
    /// `user_version` 1) —
    /// so that the tests can open a real format-1 database. The store must have been created
    /// with `mergeFactor` 4 (the only one formats 1–2 know). Takes the writer lock; the store
    /// must not be used after.
    package func rewriteAsVersion1ForTesting() throws {
        try rewriteAsOlderFormatForTesting(1)
    }

    /// Rewrites this database into vector format 2 (content index in LMDB, id map of
    /// block/slot entries, no large-block counts, no `mergeFactor` meta) and catalog schema 2
    /// (labels in `items_by_label`), as radb wrote it before vector format 3. Same conditions as `rewriteAsVersion1ForTesting`.
    package func rewriteAsVersion2ForTesting() throws {
        try rewriteAsOlderFormatForTesting(2)
    }

    /// Rewrites this database into vector format 3 (anchors only in the catalog, no model
    /// generation in LMDB), as radb wrote it before model generations. Takes the writer lock.
    package func rewriteAsVersion3ForTesting() throws {
        try writerLock.acquire(timeout: options.writeLockTimeout)
        defer { writerLock.release() }
        try lmdbCall { try lmdb.write { txn in try dropGenerationForTesting(txn); try txn.putMeta("format", 3) } }
    }

    private func dropGenerationForTesting(_ txn: LMDBTransaction) throws {
        if let number = try txn.generationNumber() {
            for var name in [ModelGeneration.recordKey, ModelGeneration.anchorsKey(number)] {
                _ = try name.withUTF8 { try txn.delete(txn.environment.metaDB, key: UnsafeRawBufferPointer($0)) }
            }
        }
    }

    /// Ways `damageAnchorsForTesting` breaks the anchors.
    package enum AnchorDamage { case nonFinite, shortRow }

    /// Damages the current anchors the way a bad disk or a bad tool could, so the tests can
    /// prove that open, search and `check()` report it: in format 4 the LMDB copy (a NaN, or
    /// the last row cut short); in format 3 the catalog's `anchors` table.
    package func damageAnchorsForTesting(_ damage: AnchorDamage) throws {
        try writerLock.acquire(timeout: options.writeLockTimeout)
        defer { writerLock.release() }
        let format = try lmdbCall { try lmdb.read { try $0.metaUInt64("format") ?? 0 } }
        if format >= 4 {
            try lmdbCall {
                try lmdb.write { txn in
                    guard let number = try txn.generationNumber(), let raw = try txn.metaBytes(ModelGeneration.anchorsKey(number)) else { return }
                    var bytes = Array(raw)
                    switch damage {
                    case .nonFinite: withUnsafeBytes(of: Float.nan.bitPattern) { for i in 0..<4 { bytes[4 + i] = $0[i] } }
                    case .shortRow: bytes.removeLast(4)
                    }
                    try bytes.withUnsafeBytes { try txn.putMeta(ModelGeneration.anchorsKey(number), bytes: $0) }
                }
            }
        } else {
            try catalog.wrap {
                try catalog.pool.write { db in
                    guard var data = try Data.fetchOne(db, sql: "SELECT vector FROM anchors WHERE anchor = 0") else { return }
                    switch damage {
                    case .nonFinite: withUnsafeBytes(of: Float.nan.bitPattern) { data.replaceSubrange(0..<4, with: $0) }
                    case .shortRow: data.removeLast(4)
                    }
                    try db.execute(sql: "UPDATE anchors SET vector = ? WHERE anchor = 0", arguments: [data])
                }
            }
        }
    }

    private func rewriteAsOlderFormatForTesting(_ format: UInt64) throws {
        guard layout.mergeFactor == VectorBlockLayout.legacyMergeFactor else {
            throw StoreError.invalidArgument(path: path, reason: "only a store created with mergeFactor 4 has the layout of vector formats 1–2")
        }
        try writerLock.acquire(timeout: options.writeLockTimeout)
        defer { writerLock.release() }
        try lmdbCall {
            try lmdb.write { txn in
                let env = txn.environment
                if let handles = try lmdb.contentsDB() {
                    if format < 2 {
                        for dbi in handles.trees { try LMDBError.check(mdb_drop(txn.handle, dbi, 1), "mdb_drop(contents)") }
                    } else if let runs = handles.runs {
                        // Format 2 kept new entries in `contentsRecent`.
                        try ContentIndex.put(try ContentIndex.allRunEntries(txn, runs), txn: txn, dbi: handles.recent)
                    }
                    if let runs = handles.runs { try LMDBError.check(mdb_drop(txn.handle, runs, 1), "mdb_drop(contentRuns)") }
                }
                var ids: [UInt64] = []
                try txn.scan(env.idsDB) { key, _ in ids.append(key.loadUnaligned(as: UInt64.self)); return true }
                let locations = try ids.map { try txn.location(of: $0, layout: layout)! }
                for (id, loc) in zip(ids, locations) { try txn.put(env.idsDB, id, value: loc) }
                var records: [(UInt32, PartitionRecord)] = []
                try txn.scan(env.partitionsDB) { key, value in
                    records.append((key.loadUnaligned(as: UInt32.self), value.loadUnaligned(as: PartitionRecord.self)))
                    return true
                }
                for (key, var record) in records {
                    record.largeBlocks = 0
                    try txn.put(env.partitionsDB, key, value: record)
                }
                var name = "mergeFactor"
                try name.withUTF8 { _ = try txn.delete(env.metaDB, key: UnsafeRawBufferPointer($0)) }
                try dropGenerationForTesting(txn)
                try txn.putMeta("format", format)
            }
        }
        // The catalog schema that went with the format: both kept labels in `items_by_label`
        // (schema 3 replaced it with `label_runs`); schema 1 also indexed content keys.
        try catalog.wrap {
            try catalog.pool.writeWithoutTransaction { db in
                try db.execute(sql: "DROP TABLE IF EXISTS label_runs")
                try db.execute(sql: "CREATE INDEX IF NOT EXISTS items_by_label ON items(label)")
                if format < 2 { try db.execute(sql: "CREATE INDEX IF NOT EXISTS items_by_content_key ON items(content_key)") }
                try db.execute(sql: "PRAGMA user_version = \(format)")
            }
        }
    }

    /// Kills this process (SIGKILL) the way a writer dies inside LMDB's meta-page write: the
    /// last commit is on disk, but the lock file still publishes the one before it. Set as
    /// `afterVectorCommitHook` to kill a write between its two commits at that worst moment.
    package func dieBeforeLMDBPublishesLastCommitForTesting() throws -> Never {
        try lmdbCall { try lmdb.dieBeforePublishingLastCommitForTesting() }
    }

    /// Damages the content-hash index the way a bug could, so that the tests can prove that
    /// `check()` notices: removes the entry of `id` (indexed under `contentHash`), and adds one
    /// for `danglingId` under `contentHash` if given.
    package func damageContentIndexForTesting(id: UInt64, contentHash: String, danglingId: UInt64? = nil) throws {
        try writerLock.acquire(timeout: options.writeLockTimeout)
        defer { writerLock.release() }
        let handles = try contentsForWriting()
        try lmdbCall {
            try lmdb.write { txn in
                let key = ContentIndex.key(contentHash)
                try ContentIndex.remove([.init(key: key, id: id)], txn: txn, handles: handles)
                if let danglingId {
                    try ContentIndex.insert([.init(key: key, id: danglingId)], txn: txn, handles: handles, mergeMinimum: .max)
                }
            }
        }
    }

    /// Entries in the main B-tree and in the runs (not yet merged) of the content-hash index,
    /// and the number of runs, to test merging.
    package func contentIndexSizesForTesting() throws -> (main: Int, recent: Int, runs: Int) {
        let handles = try contentsForWriting()
        return try lmdbCall {
            try lmdb.read { txn in
                var entries = try txn.entryCount(handles.recent), runs = 0
                if let r = handles.runs {
                    try txn.scan(r) { _, value in entries += value.count / 16; runs += 1; return true }
                }
                return (try txn.entryCount(handles.main), entries, runs)
            }
        }
    }
}

extension LMDBEnvironment {
    /// Test hook: leaves the environment as a writer SIGKILLed inside `mdb_env_write_meta` leaves
    /// it — the last commit's meta page written, the lock file still publishing the commit
    /// before, LMDB's write mutex held by a dead process — by putting the previous transaction
    /// id back into the lock file, taking the write mutex, and killing this process. Relies on
    /// the lock-file layout of LMDB 0.9 (magic, format, the reader-table mutex, then the
    /// published id; or the id right after the format, as in LMDB's later branches), which it
    /// checks first: it throws if neither place holds the last commit's id.
    package func dieBeforePublishingLastCommitForTesting() throws -> Never {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        let last = UInt64(info.me_last_txnid)
        let lockPath = directory + "/lock.mdb"
        let fd = open(lockPath, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw LMDBError(code: errno, operation: "open(\(lockPath))") }
        var head = [UInt8](repeating: 0, count: 64)
        guard pread(fd, &head, 64, 0) == 64 else { throw LMDBError(code: EIO, operation: "pread(\(lockPath))") }
        let magic = head.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt32.self) }
        let candidates = [8 + MemoryLayout<pthread_mutex_t>.size, 8]
        guard magic == 0xBEEF_C0DE, last > 0,
              let offset = candidates.first(where: { o in head.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt64.self) } == last })
        else {
            throw LMDBError(code: EINVAL, operation: "lock file layout (magic \(String(magic, radix: 16)); last commit \(last) found at none of the offsets \(candidates))")
        }
        var previous = last - 1
        guard pwrite(fd, &previous, 8, off_t(offset)) == 8 else { throw LMDBError(code: EIO, operation: "pwrite(\(lockPath))") }
        var txn: OpaquePointer?
        try LMDBError.check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin(write)") // holds the write mutex
        kill(getpid(), SIGKILL)
        while true { pause() }
    }
}
