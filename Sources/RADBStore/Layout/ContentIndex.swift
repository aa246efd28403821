import CLMDB

/// The index from content hash to ids, kept in LMDB (vector format ≥ 2).
///
/// Why LMDB and not a SQLite index: the index is keyed by a hash, so every insert lands on a
/// random page. In SQLite that page is rewritten into the WAL and again by the checkpoint, at
/// ~3 µs per row (measured, see BENCHMARKS.md); in LMDB it is written in the same transaction
/// as the vectors, so it is also atomic with them and needs no recovery of its own.
///
/// Why two databases: a 10,000-row batch of random keys touches most leaf pages of a
/// million-entry B-tree, and LMDB's copy-on-write rewrites every touched page at each commit
/// (measured: +1.5 KB written and +2 µs per inserted vector at 1M items). So new entries go to
/// a small `contentsRecent` database, whose few pages absorb the random writes, and are merged
/// into the large `contents` database in one sorted pass once `recent` holds more than
/// `mergeThreshold(main:)` entries — each page of `contents` is then rewritten once per merge
/// instead of once per batch. A lookup reads both (two B-tree descents instead of one).
///
/// Layout (both): key = `ContentIndex.key(hash)` (FNV-1a 64 of the hash's UTF-8, native
/// UInt64), duplicates = the ids holding that content (UInt64, sorted). Two different hashes
/// may share a key: lookups compare the catalog's `content_hash`, so a collision only costs a
/// row read.
///
/// Invariant (checked by `VectorStore.check()`): the pairs (key(row.content_hash), row.id) over
/// all catalog rows are exactly the pairs stored in `contents` ∪ `contentsRecent`, each once.
enum ContentIndex {
    /// The two databases of the index.
    struct Handles: Sendable, Equatable {
        let main: MDB_dbi
        let recent: MDB_dbi
        var both: [MDB_dbi] { [main, recent] }
    }

    /// The 64-bit key of a content hash (FNV-1a over its UTF-8; also the catalog's `content_key`).
    static func key(_ hash: String) -> UInt64 {
        // Native strings hand out their UTF-8 bytes in place; iterating `utf8` costs ~4× more
        // per byte (it showed in insert profiles, where every row's hash is keyed).
        if let h = hash.utf8.withContiguousStorageIfAvailable(key(utf8:)) { return h }
        return key(utf8: Array(hash.utf8))
    }

    static func key<C: Collection>(utf8 bytes: C) -> UInt64 where C.Element == UInt8 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// One entry: a content key and an id holding that content.
    struct Entry: Comparable {
        var key: UInt64
        var id: UInt64
        static func < (a: Entry, b: Entry) -> Bool { (a.key, a.id) < (b.key, b.id) }
    }

    /// `recent` is merged into `main` once it holds this many entries: about main/8 (so a merge,
    /// which rewrites all of main's pages, happens every ~main/80k rows at 10k-row batches), and
    /// never fewer than `minimum`.
    static func mergeThreshold(main: Int, minimum: Int) -> Int { max(minimum, main / 8) }

    // MARK: - Writing

    /// Adds `entries` (sorted by key then id, so neighbouring puts share pages), merging
    /// `recent` into `main` when it has grown past the threshold.
    static func insert(_ entries: [Entry], txn: LMDBTransaction, handles: Handles, mergeMinimum: Int) throws {
        try put(entries, txn: txn, dbi: handles.recent)
        let recentCount = try txn.entryCount(handles.recent)
        if recentCount >= mergeThreshold(main: try txn.entryCount(handles.main), minimum: mergeMinimum) {
            try merge(txn: txn, handles: handles)
        }
    }

    /// Moves every entry of `recent` into `main` (one pass in key order), leaving `recent` empty.
    static func merge(txn: LMDBTransaction, handles: Handles) throws {
        var entries: [Entry] = []
        try txn.scan(handles.recent) { key, value in
            entries.append(Entry(key: key.loadUnaligned(as: UInt64.self), id: value.loadUnaligned(as: UInt64.self)))
            return true
        }
        try put(entries, txn: txn, dbi: handles.main)
        try txn.empty(handles.recent)
    }

    private static func put(_ entries: [Entry], txn: LMDBTransaction, dbi: MDB_dbi) throws {
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn.handle, dbi, &cursor), "mdb_cursor_open(contents)")
        defer { mdb_cursor_close(cursor) }
        for var e in entries {
            let rc = withUnsafeMutableBytes(of: &e.key) { k in
                withUnsafeMutableBytes(of: &e.id) { v in
                    var kv = MDB_val(mv_size: 8, mv_data: k.baseAddress), vv = MDB_val(mv_size: 8, mv_data: v.baseAddress)
                    return mdb_cursor_put(cursor, &kv, &vv, UInt32(MDB_NODUPDATA))
                }
            }
            // MDB_KEYEXIST: the pair is already there; anything else fails.
            if rc != MDB_KEYEXIST { try LMDBError.check(rc, "mdb_cursor_put(contents)") }
        }
    }

    /// Fills an empty `main` from all catalog rows at once (upgrade of a format-1 store):
    /// sorted entries go in with MDB_APPEND / MDB_APPENDDUP, so pages are filled densely.
    static func build(_ entries: [Entry], txn: LMDBTransaction, handles: Handles) throws {
        try txn.empty(handles.main)
        try txn.empty(handles.recent)
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn.handle, handles.main, &cursor), "mdb_cursor_open(contents)")
        defer { mdb_cursor_close(cursor) }
        var previous: UInt64?
        for var e in entries {
            let flags = previous == e.key ? UInt32(MDB_APPENDDUP) : UInt32(MDB_APPEND)
            previous = e.key
            let rc = withUnsafeMutableBytes(of: &e.key) { k in
                withUnsafeMutableBytes(of: &e.id) { v in
                    var kv = MDB_val(mv_size: 8, mv_data: k.baseAddress), vv = MDB_val(mv_size: 8, mv_data: v.baseAddress)
                    return mdb_cursor_put(cursor, &kv, &vv, flags)
                }
            }
            try LMDBError.check(rc, "mdb_cursor_put(contents, append)")
        }
    }

    /// Removes `entries` from whichever database holds them; absent pairs are ignored.
    static func remove(_ entries: [Entry], txn: LMDBTransaction, handles: Handles) throws {
        for dbi in handles.both {
            for var e in entries {
                let rc = withUnsafeMutableBytes(of: &e.key) { k in
                    withUnsafeMutableBytes(of: &e.id) { v in
                        var kv = MDB_val(mv_size: 8, mv_data: k.baseAddress), vv = MDB_val(mv_size: 8, mv_data: v.baseAddress)
                        return mdb_del(txn.handle, dbi, &kv, &vv)
                    }
                }
                if rc != MDB_NOTFOUND { try LMDBError.check(rc, "mdb_del(contents)") }
            }
        }
    }

    // MARK: - Reading

    /// Ids whose content key is `key(hash)`, ascending (candidates: the caller compares the
    /// hash itself).
    static func candidates(_ hash: String, txn: LMDBTransaction, handles: Handles) throws -> [UInt64] {
        let k = key(hash)
        let recent = try txn.duplicates(handles.recent, key: k)
        let main = try txn.duplicates(handles.main, key: k)
        return recent.isEmpty ? main : (main + recent).sorted()
    }

    /// Every entry of both databases, as (id, key), for `check()`; an id found twice is reported.
    static func forEachEntry(txn: LMDBTransaction, handles: Handles, _ body: (_ key: UInt64, _ id: UInt64) -> Void,
                             malformed: () -> Void) throws {
        for dbi in handles.both {
            try txn.scan(dbi) { key, value in
                guard key.count == 8, value.count == 8 else { malformed(); return true }
                body(key.loadUnaligned(as: UInt64.self), value.loadUnaligned(as: UInt64.self))
                return true
            }
        }
    }
}
