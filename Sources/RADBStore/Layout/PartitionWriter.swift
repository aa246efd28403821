import CLMDB

/// Edits partitions inside one LMDB write transaction.
///
/// Blocks touched by an operation are decoded once into `BlockBuffer`s, edited in memory
/// (append to the tail, swap-remove from anywhere), and written back once by `flush()`; the id
/// map is updated at the end too, so a batch costs one write per touched block, not per vector.
final class PartitionWriter {
    let txn: LMDBTransaction
    let layout: VectorBlockLayout
    private var partitions: [Int32: PartitionState] = [:]
    /// Ids whose location changed in this transaction (appended, moved, swapped into a hole).
    private var newLocations: [UInt64: ItemLocation] = [:]
    /// Ids removed in this transaction.
    private var removed: Set<UInt64> = []
    /// Locations of ids appended by `appendRun`'s direct path (fresh ids, never edited again
    /// in this transaction).
    private var appendedDirectly: [(id: UInt64, location: ItemLocation)] = []
    /// Partitions written by `appendRun`'s direct path; they must not be edited again.
    private var writtenDirectly: Set<Int32> = []
    /// Scratch copy of a tail block being extended.
    private var scratch: [UInt8] = []

    init(txn: LMDBTransaction, layout: VectorBlockLayout) {
        self.txn = txn
        self.layout = layout
    }

    /// One vector decoded from a block.
    struct Entry {
        var id: UInt64
        var norm: Float
        var vector: [Float]
    }

    /// The mutable copy of one block.
    struct BlockBuffer {
        var ids: [UInt64] = []
        var norms: [Float] = []
        var vectors: [Float] = []
    }

    /// The edit state of one partition.
    final class PartitionState {
        let anchor: Int32
        let originalBlockCount: UInt32
        var record: PartitionRecord
        var blocks: [UInt32: BlockBuffer] = [:]
        var dirty: Set<UInt32> = []
        init(anchor: Int32, record: PartitionRecord) {
            self.anchor = anchor
            self.record = record
            originalBlockCount = record.blockCount
        }
    }

    // MARK: - Lookup

    /// Current location of `id` in this transaction, or nil if unknown or removed.
    func location(of id: UInt64) throws -> ItemLocation? {
        if removed.contains(id) { return nil }
        if let loc = newLocations[id] { return loc }
        return try txn.value(txn.environment.idsDB, id, as: ItemLocation.self)
    }

    private func state(_ anchor: Int32) throws -> PartitionState {
        if let s = partitions[anchor] { return s }
        let record = try txn.value(txn.environment.partitionsDB, partitionKey(anchor), as: PartitionRecord.self)
            ?? PartitionRecord(count: 0, blockCount: 0)
        let s = PartitionState(anchor: anchor, record: record)
        partitions[anchor] = s
        return s
    }

    private func block(_ s: PartitionState, _ number: UInt32) throws -> BlockBuffer {
        if let b = s.blocks[number] { return b }
        guard let raw = try txn.get(txn.environment.blocksDB, blockKey(s.anchor, number)) else {
            throw StoreError.corruptVectorStore(path: txn.environment.directory,
                                                reason: "block \(number) of partition \(s.anchor) is missing")
        }
        let view = try BlockView(raw: raw, layout: layout, path: txn.environment.directory)
        let b = BlockBuffer(ids: Array(view.ids), norms: Array(view.squaredNorms), vectors: Array(view.vectors))
        s.blocks[number] = b
        return b
    }

    // MARK: - Editing

    /// Appends one vector to the tail of partition `anchor` and records its location.
    func append(id: UInt64, anchor: Int32, norm: Float, vector: UnsafeBufferPointer<Float>) throws {
        let s = try state(anchor)
        var tailNumber = s.record.blockCount &- 1
        var tail: BlockBuffer
        if s.record.blockCount > 0, case let t = try block(s, tailNumber), t.ids.count < layout.capacity {
            tail = t
        } else {
            tailNumber = s.record.blockCount
            s.record.blockCount += 1
            tail = BlockBuffer()
            tail.ids.reserveCapacity(layout.capacity)
            tail.norms.reserveCapacity(layout.capacity)
            tail.vectors.reserveCapacity(layout.capacity * layout.dimension)
        }
        s.blocks[tailNumber] = nil // keep the buffer uniquely referenced while appending
        tail.ids.append(id)
        tail.norms.append(norm)
        tail.vectors.append(contentsOf: vector)
        newLocations[id] = ItemLocation(anchor: anchor, block: tailNumber, slot: UInt32(tail.ids.count - 1))
        removed.remove(id)
        s.blocks[tailNumber] = tail
        s.dirty.insert(tailNumber)
        s.record.count += 1
    }

    /// Removes `id` by moving the partition's last vector into its slot. Returns its entry.
    @discardableResult
    func remove(id: UInt64) throws -> Entry {
        guard let loc = try location(of: id) else {
            throw StoreError.unknownIDs(path: txn.environment.directory, ids: [id])
        }
        let s = try state(loc.anchor)
        guard s.record.blockCount > loc.block else {
            throw StoreError.corruptVectorStore(path: txn.environment.directory,
                                                reason: "id \(id) points past the end of partition \(loc.anchor)")
        }
        let d = layout.dimension
        var hole = try block(s, loc.block)
        let slot = Int(loc.slot)
        guard slot < hole.ids.count, hole.ids[slot] == id else {
            throw StoreError.corruptVectorStore(path: txn.environment.directory,
                                                reason: "id map of \(id) does not match block \(loc.block) of partition \(loc.anchor)")
        }
        let entry = Entry(id: id, norm: hole.norms[slot], vector: Array(hole.vectors[slot * d ..< (slot + 1) * d]))
        let tailNumber = s.record.blockCount - 1
        if loc.block == tailNumber {
            // Hole in the tail block: swap with the tail's own last vector.
            let last = hole.ids.count - 1
            if slot != last { moveWithin(&hole, from: last, to: slot, anchor: loc.anchor, block: loc.block) }
            popLast(&hole)
            s.blocks[loc.block] = hole
            s.dirty.insert(loc.block)
            if hole.ids.isEmpty { s.record.blockCount -= 1 }
        } else {
            var tail = try block(s, tailNumber)
            let last = tail.ids.count - 1
            hole.ids[slot] = tail.ids[last]
            hole.norms[slot] = tail.norms[last]
            for c in 0..<d { hole.vectors[slot * d + c] = tail.vectors[last * d + c] }
            newLocations[tail.ids[last]] = ItemLocation(anchor: loc.anchor, block: loc.block, slot: loc.slot)
            popLast(&tail)
            s.blocks[loc.block] = hole
            s.blocks[tailNumber] = tail
            s.dirty.insert(loc.block)
            s.dirty.insert(tailNumber)
            if tail.ids.isEmpty { s.record.blockCount -= 1 }
        }
        s.record.count -= 1
        newLocations[id] = nil
        removed.insert(id)
        return entry
    }

    private func moveWithin(_ b: inout BlockBuffer, from: Int, to: Int, anchor: Int32, block: UInt32) {
        let d = layout.dimension
        b.ids[to] = b.ids[from]
        b.norms[to] = b.norms[from]
        for c in 0..<d { b.vectors[to * d + c] = b.vectors[from * d + c] }
        newLocations[b.ids[to]] = ItemLocation(anchor: anchor, block: block, slot: UInt32(to))
    }

    private func popLast(_ b: inout BlockBuffer) {
        b.ids.removeLast()
        b.norms.removeLast()
        b.vectors.removeLast(layout.dimension)
    }

    /// Appends a run of fresh vectors (new ids) to partition `anchor`, writing the blocks
    /// straight into LMDB: the tail block is extended once and full blocks are filled from
    /// the caller's memory, with no intermediate per-vector buffers. This is the insert path;
    /// a partition already edited in this transaction falls back to `append`.
    /// `vectors` holds the run's vectors back to back (`ids.count × dimension`).
    func appendRun(anchor: Int32, ids: [UInt64], norms: [Float], vectors: UnsafeBufferPointer<Float>) throws {
        let d = layout.dimension
        precondition(vectors.count == ids.count * d && norms.count == ids.count)
        guard partitions[anchor] == nil, !writtenDirectly.contains(anchor) else {
            for i in ids.indices {
                try append(id: ids[i], anchor: anchor, norm: norms[i], vector: UnsafeBufferPointer(rebasing: vectors[i * d ..< (i + 1) * d]))
            }
            return
        }
        writtenDirectly.insert(anchor)
        let env = txn.environment
        var record = try txn.value(env.partitionsDB, partitionKey(anchor), as: PartitionRecord.self)
            ?? PartitionRecord(count: 0, blockCount: 0)
        var next = 0 // index into the run

        /// Writes block `number` holding `old` existing vectors (copied from `scratch`) plus
        /// `take` vectors of the run starting at `next`.
        func writeBlock(_ number: UInt32, old: Int, take: Int) throws {
            let count = old + take
            let out = try txn.reserve(env.blocksDB, blockKey(anchor, number), size: layout.valueLength(count: count))
            let base = out.baseAddress!
            base.initializeMemory(as: UInt8.self, repeating: 0, count: out.count)
            base.storeBytes(of: VectorBlockLayout.magic, toByteOffset: 0, as: UInt32.self)
            base.storeBytes(of: UInt32(count), toByteOffset: 4, as: UInt32.self)
            base.storeBytes(of: UInt32(layout.capacity), toByteOffset: 8, as: UInt32.self)
            base.storeBytes(of: UInt32(d), toByteOffset: 12, as: UInt32.self)
            let idsOut = (base + layout.idsOffset).assumingMemoryBound(to: UInt64.self)
            let normsOut = (base + layout.normsOffset).assumingMemoryBound(to: Float.self)
            let vectorsOut = (base + layout.vectorsOffset).assumingMemoryBound(to: Float.self)
            if old > 0 {
                scratch.withUnsafeBytes { raw in
                    let src = raw.baseAddress!
                    (base + layout.idsOffset).copyMemory(from: src + layout.idsOffset, byteCount: 8 * old)
                    (base + layout.normsOffset).copyMemory(from: src + layout.normsOffset, byteCount: 4 * old)
                    (base + layout.vectorsOffset).copyMemory(from: src + layout.vectorsOffset, byteCount: 4 * d * old)
                }
            }
            for k in 0..<take {
                let slot = old + k, i = next + k
                idsOut[slot] = ids[i]
                normsOut[slot] = norms[i]
                (vectorsOut + slot * d).update(from: vectors.baseAddress! + i * d, count: d)
                appendedDirectly.append((ids[i], ItemLocation(anchor: anchor, block: number, slot: UInt32(slot))))
            }
            next += take
        }

        // Extend the tail block if it has room.
        if record.blockCount > 0 {
            let tailNumber = record.blockCount - 1
            guard let raw = try txn.get(env.blocksDB, blockKey(anchor, tailNumber)) else {
                throw StoreError.corruptVectorStore(path: env.directory, reason: "block \(tailNumber) of partition \(anchor) is missing")
            }
            let view = try BlockView(raw: raw, layout: layout, path: env.directory)
            if view.count < layout.capacity {
                let used = layout.contentSize(count: view.count)
                if scratch.count < used { scratch = [UInt8](repeating: 0, count: layout.contentSize(count: layout.capacity)) }
                scratch.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: used) }
                try writeBlock(tailNumber, old: view.count, take: min(layout.capacity - view.count, ids.count))
            }
        }
        while next < ids.count {
            try writeBlock(record.blockCount, old: 0, take: min(layout.capacity, ids.count - next))
            record.blockCount += 1
        }
        record.count += UInt64(ids.count)
        try txn.put(env.partitionsDB, partitionKey(anchor), value: record)
    }

    // MARK: - Flush

    /// Writes every touched block, partition record and id-map entry into the transaction.
    func flush() throws {
        let env = txn.environment
        for s in partitions.values {
            for number in s.dirty where number < s.record.blockCount {
                guard let b = s.blocks[number] else { continue }
                try write(b, anchor: s.anchor, number: number)
            }
            if s.originalBlockCount > s.record.blockCount {
                for number in s.record.blockCount..<s.originalBlockCount {
                    try txn.delete(env.blocksDB, blockKey(s.anchor, number))
                }
            }
            if s.record.count == 0 {
                try txn.delete(env.partitionsDB, partitionKey(s.anchor))
            } else {
                try txn.put(env.partitionsDB, partitionKey(s.anchor), value: s.record)
            }
        }
        for id in removed { try txn.delete(env.idsDB, id) }
        // New ids are larger than every stored id, so they go in with MDB_APPEND (dense pages).
        let maxStored = try lastStoredID()
        var updates = appendedDirectly
        updates.reserveCapacity(updates.count + newLocations.count)
        for (id, loc) in newLocations { updates.append((id, loc)) }
        updates.sort { $0.id < $1.id }
        for (id, loc) in updates {
            try txn.put(env.idsDB, id, value: loc, flags: id > maxStored ? MDB_APPEND : 0)
        }
        partitions = [:]
        newLocations = [:]
        removed = []
        appendedDirectly = []
        writtenDirectly = []
    }

    private func lastStoredID() throws -> UInt64 {
        var last: UInt64 = 0
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn.handle, txn.environment.idsDB, &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val(), v = MDB_val()
        if mdb_cursor_get(cursor, &k, &v, MDB_LAST) == 0, k.mv_size == 8 {
            last = k.mv_data.loadUnaligned(as: UInt64.self)
        }
        return last
    }

    private func write(_ b: BlockBuffer, anchor: Int32, number: UInt32) throws {
        let count = b.ids.count
        let out = try txn.reserve(txn.environment.blocksDB, blockKey(anchor, number), size: layout.valueLength(count: count))
        let base = out.baseAddress!
        base.storeBytes(of: VectorBlockLayout.magic, toByteOffset: 0, as: UInt32.self)
        base.storeBytes(of: UInt32(count), toByteOffset: 4, as: UInt32.self)
        base.storeBytes(of: UInt32(layout.capacity), toByteOffset: 8, as: UInt32.self)
        base.storeBytes(of: UInt32(layout.dimension), toByteOffset: 12, as: UInt32.self)
        b.ids.withUnsafeBytes { (base + layout.idsOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        b.norms.withUnsafeBytes { (base + layout.normsOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        b.vectors.withUnsafeBytes { (base + layout.vectorsOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        // Zero the unused tail so identical content gives identical bytes (and backups compress).
        let used = layout.contentSize(count: count)
        (base + used).initializeMemory(as: UInt8.self, repeating: 0, count: out.count - used)
        let idsEnd = layout.idsOffset + 8 * count
        (base + idsEnd).initializeMemory(as: UInt8.self, repeating: 0, count: layout.normsOffset - idsEnd)
        let normsEnd = layout.normsOffset + 4 * count
        (base + normsEnd).initializeMemory(as: UInt8.self, repeating: 0, count: layout.vectorsOffset - normsEnd)
    }
}
