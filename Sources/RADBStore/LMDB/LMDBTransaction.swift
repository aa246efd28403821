import CLMDB

/// A borrowed LMDB transaction handle with typed get/put helpers.
///
/// Values returned by `get` point into the memory map (or the txn's dirty pages) and are
/// valid only until the transaction ends or the same key is written again.
package struct LMDBTransaction {
    package let environment: LMDBEnvironment
    package let handle: OpaquePointer

    // MARK: - Raw access

    func get(_ dbi: MDB_dbi, key: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(handle, dbi, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "mdb_get")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    func put(_ dbi: MDB_dbi, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: Int32 = 0) throws {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try LMDBError.check(mdb_put(handle, dbi, &k, &v, UInt32(flags)), "mdb_put")
    }

    /// Reserves `size` bytes for `key` and returns writable memory to fill before the txn ends.
    func reserve(_ dbi: MDB_dbi, key: UnsafeRawBufferPointer, size: Int) throws -> UnsafeMutableRawBufferPointer {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: size, mv_data: nil)
        try LMDBError.check(mdb_put(handle, dbi, &k, &v, UInt32(MDB_RESERVE)), "mdb_put(reserve)")
        return UnsafeMutableRawBufferPointer(start: v.mv_data, count: size)
    }

    /// Deletes `key`; returns false if it was absent.
    @discardableResult
    package func delete(_ dbi: MDB_dbi, key: UnsafeRawBufferPointer) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(handle, dbi, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        try LMDBError.check(rc, "mdb_del")
        return true
    }

    // MARK: - Typed keys

    func get<K>(_ dbi: MDB_dbi, _ key: K) throws -> UnsafeRawBufferPointer? {
        try withUnsafeBytes(of: key) { try get(dbi, key: $0) }
    }

    func put<K>(_ dbi: MDB_dbi, _ key: K, bytes: UnsafeRawBufferPointer, flags: Int32 = 0) throws {
        try withUnsafeBytes(of: key) { try put(dbi, key: $0, value: bytes, flags: flags) }
    }

    package func put<K, V>(_ dbi: MDB_dbi, _ key: K, value: V, flags: Int32 = 0) throws {
        try withUnsafeBytes(of: key) { k in
            try withUnsafeBytes(of: value) { try put(dbi, key: k, value: $0, flags: flags) }
        }
    }

    func reserve<K>(_ dbi: MDB_dbi, _ key: K, size: Int) throws -> UnsafeMutableRawBufferPointer {
        try withUnsafeBytes(of: key) { try reserve(dbi, key: $0, size: size) }
    }

    @discardableResult
    func delete<K>(_ dbi: MDB_dbi, _ key: K) throws -> Bool {
        try withUnsafeBytes(of: key) { try delete(dbi, key: $0) }
    }

    /// Loads a trivially-copyable value stored under `key`, if present and of the right size.
    func value<K, V>(_ dbi: MDB_dbi, _ key: K, as type: V.Type) throws -> V? {
        guard let raw = try get(dbi, key), raw.count == MemoryLayout<V>.size else { return nil }
        return raw.loadUnaligned(as: V.self)
    }

    // MARK: - Meta strings

    package func metaBytes(_ name: String) throws -> UnsafeRawBufferPointer? {
        var name = name
        return try name.withUTF8 { try get(environment.metaDB, key: UnsafeRawBufferPointer($0)) }
    }

    package func putMeta(_ name: String, bytes: UnsafeRawBufferPointer) throws {
        var name = name
        try name.withUTF8 { try put(environment.metaDB, key: UnsafeRawBufferPointer($0), value: bytes) }
    }

    package func metaUInt64(_ name: String) throws -> UInt64? {
        guard let raw = try metaBytes(name), raw.count == 8 else { return nil }
        return raw.loadUnaligned(as: UInt64.self)
    }

    package func putMeta(_ name: String, _ value: UInt64) throws {
        try withUnsafeBytes(of: value) { try putMeta(name, bytes: $0) }
    }

    func metaString(_ name: String) throws -> String? {
        guard let raw = try metaBytes(name) else { return nil }
        return String(decoding: raw, as: UTF8.self)
    }

    func putMeta(_ name: String, _ value: String) throws {
        var value = value
        try value.withUTF8 { try putMeta(name, bytes: UnsafeRawBufferPointer($0)) }
    }

    // MARK: - Cursors

    /// Iterates `dbi` from the first key ≥ `start` (or the beginning) while `body` returns true.
    package func scan(_ dbi: MDB_dbi, from start: UInt64? = nil,
              _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Bool) throws {
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(handle, dbi, &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val(), v = MDB_val()
        var startKey = start ?? 0
        var rc: Int32
        if start != nil {
            rc = withUnsafeMutableBytes(of: &startKey) { buf in
                k = MDB_val(mv_size: 8, mv_data: buf.baseAddress)
                return mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE)
            }
        } else {
            rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
        }
        while rc == 0 {
            let key = UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size)
            let value = UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
            if try !body(key, value) { return }
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
        }
        if rc != MDB_NOTFOUND { try LMDBError.check(rc, "mdb_cursor_get") }
    }

    /// Deletes every entry of `dbi` (the database itself stays).
    func empty(_ dbi: MDB_dbi) throws {
        try LMDBError.check(mdb_drop(handle, dbi, 0), "mdb_drop")
    }

    /// Number of entries in `dbi`.
    package func entryCount(_ dbi: MDB_dbi) throws -> Int {
        var stat = MDB_stat()
        try LMDBError.check(mdb_stat(handle, dbi, &stat), "mdb_stat")
        return Int(stat.ms_entries)
    }
}

// MARK: - Sorted duplicates

extension LMDBTransaction {
    /// The UInt64 values stored under `key` in a `MDB_DUPSORT | MDB_DUPFIXED` database, ascending.
    func duplicates(_ dbi: MDB_dbi, key: UInt64) throws -> [UInt64] {
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(handle, dbi, &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        var out: [UInt64] = []
        var keyValue = key
        var rc: Int32 = withUnsafeMutableBytes(of: &keyValue) { buf in
            var k = MDB_val(mv_size: 8, mv_data: buf.baseAddress), v = MDB_val()
            let rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_KEY)
            if rc == 0, v.mv_size == 8 { out.append(v.mv_data.loadUnaligned(as: UInt64.self)) }
            return rc
        }
        while rc == 0 {
            var k = MDB_val(), v = MDB_val()
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT_DUP)
            if rc == 0, v.mv_size == 8 { out.append(v.mv_data.loadUnaligned(as: UInt64.self)) }
        }
        if rc != MDB_NOTFOUND { try LMDBError.check(rc, "mdb_cursor_get(duplicates)") }
        return out
    }
}
