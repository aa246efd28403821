import CLMDB

/// The index from content hash to ids, kept in LMDB (vector format ≥ 2).
///
/// Why LMDB and not a SQLite index: the index is keyed by a hash, so every insert lands on a
/// random page. In SQLite that page is rewritten into the WAL and again by the checkpoint, at
/// ~3 µs per row (measured, see BENCHMARKS.md); in LMDB it is written in the same transaction
/// as the vectors, so it is also atomic with them and needs no recovery of its own.
///
/// Why not one B-tree: a 10,000-row batch of random keys touches most leaf pages of a
/// million-entry B-tree, and LMDB's copy-on-write rewrites every touched page at each commit
/// (measured: +1.5 KB written and +2 µs per inserted vector at 1M items). So the index is a
/// small log-structured merge:
///
/// - `contentRuns` (format ≥ 3): each write appends its new entries as one *run*, a value
///   holding the sorted (key, id) pairs (16 bytes each) under an increasing run number — written
///   once, densely, with no B-tree search per entry. When there are more than `maxRuns` runs
///   they are combined into one (a merge of sorted arrays).
/// - `contents`: the main B-tree. Once the runs hold more than `mergeThreshold(main:minimum:)` entries
///   they are merged into it in one sorted pass and dropped — each page of `contents` is then
///   rewritten once per merge instead of once per batch.
/// - `contentsRecent`: format 2's small B-tree in front of `contents`; empty from format 3 on
///   (the upgrade merges it), still read so that a format-2 database opened read-only works.
///
/// A lookup reads `contents` and `contentsRecent` (two B-tree descents) and binary-searches
/// every run (at most `maxRuns` + 1). Removing entries (delete, metadata update) deletes them
/// from the B-trees and rewrites the runs that hold them.
///
/// Layout: key = `ContentIndex.key(hash)` (FNV-1a 64 of the hash's UTF-8, native UInt64); in
/// the B-trees the ids holding that content are sorted fixed-size duplicates (UInt64), in a run
/// the pairs are (key, id) sorted by key then id. Two different hashes may share a key: lookups
/// compare the catalog's `content_hash`, so a collision only costs a row read.
///
/// Invariant (checked by `VectorStore.check()`): the pairs (key(row.content_hash), row.id) over
/// all catalog rows are exactly the pairs stored in `contents` ∪ `contentsRecent` ∪ runs, each
/// once; every run is sorted and non-empty.
package enum ContentIndex {
    /// The databases of the index.
    package struct Handles: Sendable, Equatable {
        package let main: MDB_dbi
        package let recent: MDB_dbi
        /// nil in a format-2 environment (read-only stores read those as they are).
        package let runs: MDB_dbi?
        package var trees: [MDB_dbi] { [main, recent] }
    }

    /// Runs kept before they are combined into one.
    static let maxRuns = 16

    /// The 64-bit key of a content hash (FNV-1a over its UTF-8; also the catalog's `content_key`).
    package static func key(_ hash: String) -> UInt64 {
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

    /// One entry: a content key and an id holding that content. Also the 16-byte record of a
    /// run (key, then id, native byte order).
    package struct Entry: Comparable, Hashable {
        package var key: UInt64
        package var id: UInt64
        package init(key: UInt64, id: UInt64) {
            self.key = key
            self.id = id
        }
        package static func < (a: Entry, b: Entry) -> Bool { (a.key, a.id) < (b.key, b.id) }
    }

    /// The runs are merged into `main` once they hold this many entries: main/4 (a merge
    /// rewrites nearly all of main's pages, so it should be rare; runs are dense, 16 bytes an
    /// entry, so holding many in them costs no space), and never fewer than `minimum`.
    static func mergeThreshold(main: Int, minimum: Int) -> Int { max(minimum, main / 4) }

    // MARK: - Writing

    private static func runsDB(_ handles: Handles, _ txn: LMDBTransaction) throws -> MDB_dbi {
        guard let runs = handles.runs else {
            throw StoreError.corruptVectorStore(path: txn.environment.directory,
                reason: "the content-hash index has no runs database (vector format 2 opened for writing without its upgrade)")
        }
        return runs
    }

    /// Adds `entries` (sorted by key then id) as a new run, combining or merging runs when
    /// they have grown past their limits.
    package static func insert(_ entries: [Entry], txn: LMDBTransaction, handles: Handles, mergeMinimum: Int) throws {
        guard !entries.isEmpty else { return }
        let runs = try runsDB(handles, txn)
        let last = try lastRunNumber(txn, runs)
        try entries.withUnsafeBytes { try txn.put(runs, last + 1, bytes: $0, flags: MDB_APPEND) }
        let runCount = try txn.entryCount(runs)
        let pending = try runEntryCount(txn, runs)
        if pending >= mergeThreshold(main: try txn.entryCount(handles.main), minimum: mergeMinimum) {
            try mergeRunsIntoMain(txn: txn, handles: handles)
        } else if runCount > maxRuns {
            try combineRuns(txn: txn, runs: runs)
        }
    }

    /// Every entry of every run, sorted.
    package static func allRunEntries(_ txn: LMDBTransaction, _ runs: MDB_dbi) throws -> [Entry] {
        var out: [Entry] = []
        try txn.scan(runs) { _, value in
            appendEntries(of: value, to: &out)
            return true
        }
        out.sort()
        return out
    }

    private static func appendEntries(of value: UnsafeRawBufferPointer, to out: inout [Entry]) {
        let n = value.count / MemoryLayout<Entry>.stride
        out.reserveCapacity(out.count + n)
        for i in 0..<n { out.append(value.loadUnaligned(fromByteOffset: i * 16, as: Entry.self)) }
    }

    /// Replaces all runs by one (under the last run number).
    static func combineRuns(txn: LMDBTransaction, runs: MDB_dbi) throws {
        let last = try lastRunNumber(txn, runs)
        let entries = try allRunEntries(txn, runs)
        try txn.empty(runs)
        try entries.withUnsafeBytes { try txn.put(runs, last, bytes: $0, flags: MDB_APPEND) }
    }

    /// Moves every entry of the runs (and of format 2's `recent`) into `main` in one pass in
    /// key order, leaving them empty.
    static func mergeRunsIntoMain(txn: LMDBTransaction, handles: Handles) throws {
        var entries = try handles.runs.map { try allRunEntries(txn, $0) } ?? []
        try txn.scan(handles.recent) { key, value in
            entries.append(Entry(key: key.loadUnaligned(as: UInt64.self), id: value.loadUnaligned(as: UInt64.self)))
            return true
        }
        entries.sort()
        try put(entries, txn: txn, dbi: handles.main)
        if let runs = handles.runs { try txn.empty(runs) }
        try txn.empty(handles.recent)
    }

    private static func lastRunNumber(_ txn: LMDBTransaction, _ runs: MDB_dbi) throws -> UInt64 {
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn.handle, runs, &cursor), "mdb_cursor_open(contentRuns)")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val(), v = MDB_val()
        let rc = mdb_cursor_get(cursor, &k, &v, MDB_LAST)
        if rc == MDB_NOTFOUND { return 0 }
        try LMDBError.check(rc, "mdb_cursor_get(contentRuns, last)")
        return k.mv_data.loadUnaligned(as: UInt64.self)
    }

    private static func runEntryCount(_ txn: LMDBTransaction, _ runs: MDB_dbi) throws -> Int {
        var n = 0
        try txn.scan(runs) { _, value in n += value.count / 16; return true }
        return n
    }

    /// Puts sorted `entries` into the B-tree `dbi` (pairs already there are skipped).
    package static func put(_ entries: [Entry], txn: LMDBTransaction, dbi: MDB_dbi) throws {
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
        if let runs = handles.runs { try txn.empty(runs) }
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

    /// Removes `entries` from wherever they are; absent pairs are ignored. Runs holding one
    /// of them are rewritten without it (or deleted when nothing is left).
    package static func remove(_ entries: [Entry], txn: LMDBTransaction, handles: Handles) throws {
        guard !entries.isEmpty else { return }
        for dbi in handles.trees {
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
        guard let runs = handles.runs else { return }
        let doomed = Set(entries)
        var rewrites: [(number: UInt64, entries: [Entry])] = []
        try txn.scan(runs) { key, value in
            var kept: [Entry] = []
            appendEntries(of: value, to: &kept)
            let before = kept.count
            kept.removeAll { doomed.contains($0) }
            if kept.count != before { rewrites.append((key.loadUnaligned(as: UInt64.self), kept)) }
            return true
        }
        for (number, kept) in rewrites {
            if kept.isEmpty {
                try txn.delete(runs, number)
            } else {
                try kept.withUnsafeBytes { try txn.put(runs, number, bytes: $0) }
            }
        }
    }

    // MARK: - Reading

    /// Ids whose content key is `key(hash)`, ascending (candidates: the caller compares the
    /// hash itself).
    static func candidates(_ hash: String, txn: LMDBTransaction, handles: Handles) throws -> [UInt64] {
        let k = key(hash)
        var out = try txn.duplicates(handles.main, key: k) + txn.duplicates(handles.recent, key: k)
        if let runs = handles.runs {
            try txn.scan(runs) { _, value in
                // Lower bound of k in the sorted pairs, then every pair with key k.
                var low = 0, high = value.count / 16
                while low < high {
                    let mid = (low + high) / 2
                    if value.loadUnaligned(fromByteOffset: mid * 16, as: UInt64.self) < k { low = mid + 1 } else { high = mid }
                }
                while low < value.count / 16, value.loadUnaligned(fromByteOffset: low * 16, as: UInt64.self) == k {
                    out.append(value.loadUnaligned(fromByteOffset: low * 16 + 8, as: UInt64.self))
                    low += 1
                }
                return true
            }
        }
        return out.sorted()
    }

    /// Every entry of the index, as (key, id), for `check()`; `malformed` is called for a
    /// B-tree entry of the wrong size or a run that is not a non-empty sorted list of pairs.
    static func forEachEntry(txn: LMDBTransaction, handles: Handles, _ body: (_ key: UInt64, _ id: UInt64) -> Void,
                             malformed: (String) -> Void) throws {
        for dbi in handles.trees {
            try txn.scan(dbi) { key, value in
                guard key.count == 8, value.count == 8 else { malformed("a content-index entry has the wrong size"); return true }
                body(key.loadUnaligned(as: UInt64.self), value.loadUnaligned(as: UInt64.self))
                return true
            }
        }
        guard let runs = handles.runs else { return }
        try txn.scan(runs) { key, value in
            let number = key.count == 8 ? key.loadUnaligned(as: UInt64.self) : 0
            guard key.count == 8, value.count > 0, value.count % 16 == 0 else {
                malformed("content-index run \(number) has \(value.count) bytes, not a non-empty list of 16-byte pairs")
                return true
            }
            var previous: Entry?
            for i in 0..<(value.count / 16) {
                let e = value.loadUnaligned(fromByteOffset: i * 16, as: Entry.self)
                if let p = previous, !(p < e) { malformed("content-index run \(number) is not sorted") }
                previous = e
                body(e.key, e.id)
            }
            return true
        }
    }
}
