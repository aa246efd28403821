import CLMDB

/// The index from content hash to ids, kept in LMDB (database `contents`, vector format ≥ 2).
///
/// Why LMDB and not a SQLite index: the index is keyed by a hash, so every insert lands on a
/// random page. In SQLite that page is rewritten into the WAL and again by the checkpoint, at
/// ~3 µs per row (measured, see BENCHMARKS.md); in LMDB it is one copy-on-write in the same
/// transaction as the vectors, so it is also atomic with them and needs no recovery of its own.
///
/// Layout: key = `ContentIndex.key(hash)` (FNV-1a 64 of the hash's UTF-8, native UInt64),
/// duplicates = the ids holding that content (UInt64, sorted). Two different hashes may share a
/// key: lookups compare the catalog's `content_hash`, so a collision only costs a row read.
///
/// Invariant (checked by `VectorStore.check()`): the pairs (key(row.content_hash), row.id) over
/// all catalog rows are exactly the pairs stored here, each once.
enum ContentIndex {
    /// The 64-bit key of a content hash (FNV-1a over its UTF-8; also the catalog's `content_key`).
    static func key(_ hash: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in hash.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// One entry: a content key and an id holding that content.
    struct Entry: Comparable {
        var key: UInt64
        var id: UInt64
        static func < (a: Entry, b: Entry) -> Bool { (a.key, a.id) < (b.key, b.id) }
    }

    /// Adds `entries` (sorted by key then id: neighbouring puts then share the pages they touch).
    static func insert(_ entries: [Entry], txn: LMDBTransaction, dbi: MDB_dbi) throws {
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
            // MDB_KEYEXIST: the pair is already there (an idempotent replay); anything else fails.
            if rc != MDB_KEYEXIST { try LMDBError.check(rc, "mdb_cursor_put(contents)") }
        }
    }

    /// Fills an empty `contents` from all catalog rows at once (upgrade of a format-1 store):
    /// sorted entries go in with MDB_APPEND / MDB_APPENDDUP, so pages are filled densely.
    static func build(_ entries: [Entry], txn: LMDBTransaction, dbi: MDB_dbi) throws {
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn.handle, dbi, &cursor), "mdb_cursor_open(contents)")
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

    /// Removes `entries`; a pair that is absent is ignored (an idempotent replay).
    static func remove(_ entries: [Entry], txn: LMDBTransaction, dbi: MDB_dbi) throws {
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

    /// Ids whose content key is `key(hash)` (candidates; the caller compares the hash itself).
    static func candidates(_ hash: String, txn: LMDBTransaction, dbi: MDB_dbi) throws -> [UInt64] {
        try txn.duplicates(dbi, key: key(hash))
    }
}
