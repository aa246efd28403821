import CLMDB

/// Brings the LMDB half of a format-1/2 database to format 3 in one write transaction: the id
/// map's block/slot entries (`ItemLocation`) become positions (`ItemPosition`), every partition
/// record gets its count of large blocks, and meta records the merge factor the database has
/// always used (`VectorBlockLayout.legacyMergeFactor`) and format 3. Blocks are not touched.
///
/// Runs under the writer lock after the content-index upgrade (format 2). A crash before its
/// commit leaves the database at format 2, which the next writer upgrades again.
enum IDMapUpgrade {
    static func run(txn: LMDBTransaction, layout: VectorBlockLayout) throws {
        let env = txn.environment
        func corrupt(_ why: String) -> StoreError { .corruptVectorStore(path: env.directory, reason: why) }

        // Walk every block in key order (partition by partition, block by block); a vector's
        // position is the number of vectors before it in its partition.
        var positions: [(id: UInt64, position: ItemPosition)] = []
        positions.reserveCapacity(try txn.entryCount(env.idsDB))
        var largeBlocks: [(anchor: Int32, large: UInt32)] = []
        var current: Int32?, count: UInt32 = 0, large: UInt32 = 0, smallSeen = false, lastFull = true
        try txn.scan(env.blocksDB) { key, value in
            guard key.count == 8 else { throw corrupt("a block key has \(key.count) bytes") }
            let a = anchor(fromPartitionKey: UInt32(truncatingIfNeeded: key.loadUnaligned(as: UInt64.self) >> 32))
            if a != current {
                if let c = current { largeBlocks.append((c, large)) }
                current = a; count = 0; large = 0; smallSeen = false; lastFull = true
            }
            let view = try BlockView(raw: value, layout: layout, path: env.directory)
            guard lastFull else { throw corrupt("partition \(a) has a block that is not full before its last block") }
            if view.capacity == layout.largeCapacity {
                guard !smallSeen else { throw corrupt("partition \(a) has a large block after a small one") }
                large += 1
            } else {
                smallSeen = true
            }
            for i in 0..<view.count {
                positions.append((view.ids[i], ItemPosition(anchor: a, position: count + UInt32(i))))
            }
            count += UInt32(view.count)
            lastFull = view.isFull
            return true
        }
        if let c = current { largeBlocks.append((c, large)) }

        for (a, large) in largeBlocks {
            guard var record = try txn.value(env.partitionsDB, partitionKey(a), as: PartitionRecord.self) else {
                throw corrupt("partition \(a) has blocks but no partition record")
            }
            record.largeBlocks = large
            try txn.put(env.partitionsDB, partitionKey(a), value: record)
        }

        // Rewrite the id map in id order with MDB_APPEND: dense pages, one pass.
        positions.sort { $0.id < $1.id }
        try txn.empty(env.idsDB)
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn.handle, env.idsDB, &cursor), "mdb_cursor_open(ids)")
        defer { mdb_cursor_close(cursor) }
        var previous: UInt64?
        for var (id, p) in positions {
            guard id != previous else { throw corrupt("id \(id) is stored twice") }
            previous = id
            let rc = withUnsafeMutableBytes(of: &id) { k in
                withUnsafeMutableBytes(of: &p) { v in
                    var kv = MDB_val(mv_size: 8, mv_data: k.baseAddress), vv = MDB_val(mv_size: v.count, mv_data: v.baseAddress)
                    return mdb_cursor_put(cursor, &kv, &vv, UInt32(MDB_APPEND))
                }
            }
            try LMDBError.check(rc, "mdb_cursor_put(ids, append)")
        }
        try txn.putMeta("mergeFactor", UInt64(layout.mergeFactor))
        try txn.putMeta("format", 3)
    }
}
