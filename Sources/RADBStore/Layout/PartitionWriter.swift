import CLMDB

/// Edits partitions inside one LMDB write transaction.
///
/// Two paths. `appendRun` (insert) writes a run of new vectors straight into LMDB: the tail
/// block is extended once and new blocks are filled from the caller's memory. `append` and
/// `remove` (delete, re-anchoring) decode the touched blocks once into `BlockBuffer`s, edit
/// them in memory (swap-remove keeps partitions dense) and write them back in `flush()`.
/// `flush()` then merges trailing full small blocks into large ones (see VectorBlockLayout)
/// and writes the id map, so a batch costs one write per touched block, not per vector.
final class PartitionWriter {
    let txn: LMDBTransaction
    let layout: VectorBlockLayout
    /// The content-hash index of this environment, and when its recent part is merged.
    let contents: ContentIndex.Handles
    let contentMergeMinimum: Int
    private var partitions: [Int32: PartitionState] = [:]
    /// Ids whose location changed in this transaction (appended, moved, swapped into a hole).
    private var newLocations: [UInt64: ItemLocation] = [:]
    /// Ids removed in this transaction.
    private var removed: Set<UInt64> = []
    /// Locations of fresh ids appended by `appendRun` (insert only: never edited again here).
    private var appendedDirectly: [(id: UInt64, location: ItemLocation)] = []
    /// Locations of ids that merges moved. Merges run in `flush()` after every other edit and
    /// after the last `location(of:)` lookup, so a list suffices and its entries win.
    private var mergedLocations: [(id: UInt64, location: ItemLocation)] = []
    /// Partitions written in this transaction (candidates for merging).
    private var touched: Set<Int32> = []
    /// Partitions that may now end in `mergeFactor` full small blocks: those edited in memory,
    /// and those where `appendRun` filled a small block. (Every earlier transaction merged, so
    /// a partition that gained no full small block needs no merge: this skips reading the
    /// trailing block headers of most partitions at every batch.)
    private var mergeCandidates: Set<Int32> = []

    init(txn: LMDBTransaction, layout: VectorBlockLayout, contents: ContentIndex.Handles, contentMergeMinimum: Int) {
        self.txn = txn
        self.layout = layout
        self.contents = contents
        self.contentMergeMinimum = contentMergeMinimum
    }

    /// One vector decoded from a block.
    struct Entry {
        var id: UInt64
        var norm: Float
        var vector: [Float]
    }

    /// The mutable copy of one block.
    struct BlockBuffer {
        var capacity: Int
        var ids: [UInt64] = []
        var norms: [Float] = []
        var vectors: [Float] = []
        var isFull: Bool { ids.count == capacity }
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

    private var env: LMDBEnvironment { txn.environment }

    private func corrupt(_ why: String) -> StoreError { .corruptVectorStore(path: env.directory, reason: why) }

    // MARK: - Lookup

    /// Current location of `id` in this transaction, or nil if unknown or removed.
    func location(of id: UInt64) throws -> ItemLocation? {
        if removed.contains(id) { return nil }
        if let loc = newLocations[id] { return loc }
        return try txn.value(env.idsDB, id, as: ItemLocation.self)
    }

    private func state(_ anchor: Int32) throws -> PartitionState {
        if let s = partitions[anchor] { return s }
        let record = try txn.value(env.partitionsDB, partitionKey(anchor), as: PartitionRecord.self)
            ?? PartitionRecord(count: 0, blockCount: 0)
        let s = PartitionState(anchor: anchor, record: record)
        partitions[anchor] = s
        touched.insert(anchor)
        mergeCandidates.insert(anchor)
        return s
    }

    private func decode(_ anchor: Int32, _ number: UInt32) throws -> BlockBuffer {
        guard let raw = try txn.get(env.blocksDB, blockKey(anchor, number)) else {
            throw corrupt("block \(number) of partition \(anchor) is missing")
        }
        let view = try BlockView(raw: raw, layout: layout, path: env.directory)
        return BlockBuffer(capacity: view.capacity, ids: Array(view.ids), norms: Array(view.squaredNorms), vectors: Array(view.vectors))
    }

    private func block(_ s: PartitionState, _ number: UInt32) throws -> BlockBuffer {
        if let b = s.blocks[number] { return b }
        let b = try decode(s.anchor, number)
        s.blocks[number] = b
        return b
    }

    // MARK: - Editing in memory

    /// Appends one vector to the tail of partition `anchor` and records its location.
    func append(id: UInt64, anchor: Int32, norm: Float, vector: UnsafeBufferPointer<Float>) throws {
        let s = try state(anchor)
        var tailNumber = s.record.blockCount &- 1
        var tail: BlockBuffer
        if s.record.blockCount > 0, case let t = try block(s, tailNumber), !t.isFull {
            tail = t
        } else {
            tailNumber = s.record.blockCount
            s.record.blockCount += 1
            tail = BlockBuffer(capacity: layout.smallCapacity)
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
            throw StoreError.unknownIDs(path: env.directory, ids: [id])
        }
        let s = try state(loc.anchor)
        guard s.record.blockCount > loc.block else { throw corrupt("id \(id) points past the end of partition \(loc.anchor)") }
        let d = layout.dimension
        var hole = try block(s, loc.block)
        let slot = Int(loc.slot)
        guard slot < hole.ids.count, hole.ids[slot] == id else {
            throw corrupt("id map of \(id) does not match block \(loc.block) of partition \(loc.anchor)")
        }
        let entry = Entry(id: id, norm: hole.norms[slot], vector: Array(hole.vectors[slot * d ..< (slot + 1) * d]))
        let tailNumber = s.record.blockCount - 1
        if loc.block == tailNumber {
            let last = hole.ids.count - 1
            if slot != last { move(&hole, from: last, to: slot, anchor: loc.anchor, block: loc.block) }
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
            newLocations[tail.ids[last]] = loc
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

    private func move(_ b: inout BlockBuffer, from: Int, to: Int, anchor: Int32, block: UInt32) {
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

    // MARK: - Appending straight into LMDB

    /// Appends a run of fresh vectors (new ids, `vectors` back to back) to partition `anchor`,
    /// writing blocks directly into LMDB. A partition already edited in memory in this
    /// transaction takes the `append` path instead.
    func appendRun(anchor: Int32, ids: [UInt64], norms: [Float], vectors: UnsafeBufferPointer<Float>) throws {
        let d = layout.dimension
        precondition(vectors.count == ids.count * d && norms.count == ids.count)
        guard partitions[anchor] == nil, !touched.contains(anchor) else {
            for i in ids.indices {
                try append(id: ids[i], anchor: anchor, norm: norms[i], vector: UnsafeBufferPointer(rebasing: vectors[i * d ..< (i + 1) * d]))
            }
            return
        }
        touched.insert(anchor)
        var record = try txn.value(env.partitionsDB, partitionKey(anchor), as: PartitionRecord.self)
            ?? PartitionRecord(count: 0, blockCount: 0)
        var next = 0 // index into the run

        /// Writes block `number` of `capacity` holding `old` vectors (copied from the block
        /// value at `oldBlock`) plus `take` vectors of the run starting at `next`.
        func writeBlock(_ number: UInt32, capacity: Int, old: Int, from oldBlock: UnsafeRawPointer?, take: Int) throws {
            let count = old + take
            if count == capacity, capacity == layout.smallCapacity { mergeCandidates.insert(anchor) }
            let out = try txn.reserve(env.blocksDB, blockKey(anchor, number), size: layout.valueLength(count: count, capacity: capacity))
            let base = out.baseAddress!
            writeHeader(base, count: count, capacity: capacity)
            let idsOut = (base + layout.idsOffset).assumingMemoryBound(to: UInt64.self)
            let normsOut = (base + layout.normsOffset(capacity: capacity)).assumingMemoryBound(to: Float.self)
            let vectorsOut = (base + layout.vectorsOffset(capacity: capacity)).assumingMemoryBound(to: Float.self)
            if old > 0, let src = oldBlock {
                (base + layout.idsOffset).copyMemory(from: src + layout.idsOffset, byteCount: 8 * old)
                (base + layout.normsOffset(capacity: capacity)).copyMemory(from: src + layout.normsOffset(capacity: capacity), byteCount: 4 * old)
                (base + layout.vectorsOffset(capacity: capacity)).copyMemory(from: src + layout.vectorsOffset(capacity: capacity), byteCount: 4 * d * old)
            }
            for k in 0..<take {
                let slot = old + k, i = next + k
                idsOut[slot] = ids[i]
                normsOut[slot] = norms[i]
                (vectorsOut + slot * d).update(from: vectors.baseAddress! + i * d, count: d)
                appendedDirectly.append((ids[i], ItemLocation(anchor: anchor, block: number, slot: UInt32(slot))))
            }
            next += take
            // Zero the unused id and norm slots and the tail of the last page, so that equal
            // content always gives equal bytes (the vectors region ends at the used count).
            let used = count, end = layout.contentSize(count: count, capacity: capacity)
            (base + layout.idsOffset + 8 * used).initializeMemory(as: UInt8.self, repeating: 0, count: 8 * (capacity - used))
            (base + layout.normsOffset(capacity: capacity) + 4 * used).initializeMemory(as: UInt8.self, repeating: 0, count: 4 * (capacity - used))
            (base + end).initializeMemory(as: UInt8.self, repeating: 0, count: out.count - end)
        }

        // Extend the tail block if it has room. Its old value is copied straight from the map:
        // it was committed by an earlier transaction (this partition is untouched in this one),
        // and LMDB never reuses the pages a transaction frees before that transaction commits,
        // so replacing the value under the same key leaves the old bytes in place meanwhile.
        if record.blockCount > 0 {
            let tailNumber = record.blockCount - 1
            guard let raw = try txn.get(env.blocksDB, blockKey(anchor, tailNumber)) else {
                throw corrupt("block \(tailNumber) of partition \(anchor) is missing")
            }
            let view = try BlockView(raw: raw, layout: layout, path: env.directory)
            if !view.isFull {
                try writeBlock(tailNumber, capacity: view.capacity, old: view.count, from: raw.baseAddress,
                               take: min(view.capacity - view.count, ids.count))
            }
        }
        while next < ids.count {
            try writeBlock(record.blockCount, capacity: layout.smallCapacity, old: 0, from: nil,
                           take: min(layout.smallCapacity, ids.count - next))
            record.blockCount += 1
        }
        record.count += UInt64(ids.count)
        try txn.put(env.partitionsDB, partitionKey(anchor), value: record)
    }

    private func writeHeader(_ base: UnsafeMutableRawPointer, count: Int, capacity: Int) {
        base.storeBytes(of: VectorBlockLayout.magic, toByteOffset: 0, as: UInt32.self)
        base.storeBytes(of: UInt32(count), toByteOffset: 4, as: UInt32.self)
        base.storeBytes(of: UInt32(capacity), toByteOffset: 8, as: UInt32.self)
        base.storeBytes(of: UInt32(layout.dimension), toByteOffset: 12, as: UInt32.self)
    }

    /// Writes a buffered block under (anchor, number).
    private func write(_ b: BlockBuffer, anchor: Int32, number: UInt32) throws {
        let count = b.ids.count
        let out = try txn.reserve(env.blocksDB, blockKey(anchor, number), size: layout.valueLength(count: count, capacity: b.capacity))
        let base = out.baseAddress!
        // Zero everything first so identical content gives identical bytes.
        base.initializeMemory(as: UInt8.self, repeating: 0, count: out.count)
        writeHeader(base, count: count, capacity: b.capacity)
        b.ids.withUnsafeBytes { (base + layout.idsOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        b.norms.withUnsafeBytes { (base + layout.normsOffset(capacity: b.capacity)).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        b.vectors.withUnsafeBytes { (base + layout.vectorsOffset(capacity: b.capacity)).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    // MARK: - Flush

    /// Writes every touched block, partition record and id-map entry into the transaction.
    func flush() throws {
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
        for anchor in mergeCandidates { try mergeTrailingSmallBlocks(anchor) }

        for id in removed { try txn.delete(env.idsDB, id) }
        // One list of (id, location) in the order the changes happened; sorted by id with the
        // position as tie-break, the last change of each id is the last of its run.
        var updates = appendedDirectly
        updates.reserveCapacity(appendedDirectly.count + newLocations.count + mergedLocations.count)
        for (id, loc) in newLocations { updates.append((id, loc)) }
        updates += mergedLocations
        let order = updates.indices.sorted { (updates[$0].id, $0) < (updates[$1].id, $1) }
        // New ids are larger than every stored id, so they go in with MDB_APPEND (dense pages).
        let maxStored = try lastStoredID()
        for (k, i) in order.enumerated() {
            let id = updates[i].id
            if k + 1 < order.count, updates[order[k + 1]].id == id { continue }
            try txn.put(env.idsDB, id, value: updates[i].location, flags: id > maxStored ? MDB_APPEND : 0)
        }
        partitions = [:]
        newLocations = [:]
        removed = []
        appendedDirectly = []
        mergedLocations = []
        touched = []
        mergeCandidates = []
    }

    /// Merges each group of `mergeFactor` full small blocks that trail `anchor`'s large
    /// blocks into one large block, renumbering the blocks after them. Runs on committed-
    /// in-txn state, after the in-memory edits were written.
    private func mergeTrailingSmallBlocks(_ anchor: Int32) throws {
        let k = VectorBlockLayout.mergeFactor
        guard var record = try txn.value(env.partitionsDB, partitionKey(anchor), as: PartitionRecord.self),
              record.blockCount >= UInt32(k) else { return }
        let n = Int(record.blockCount)
        // Find the run of full small blocks before the tail (the tail may be partial).
        func header(_ number: Int) throws -> (count: Int, capacity: Int) {
            guard let raw = try txn.get(env.blocksDB, blockKey(anchor, UInt32(number))) else {
                throw corrupt("block \(number) of partition \(anchor) is missing")
            }
            let v = try BlockView(raw: raw, layout: layout, path: env.directory)
            return (v.count, v.capacity)
        }
        let tail = try header(n - 1)
        var runEnd = tail.count == tail.capacity ? n - 1 : n - 2
        if runEnd < 0 { return }
        var runStart = runEnd + 1
        while runStart > 0, case let h = try header(runStart - 1), h.capacity == layout.smallCapacity, h.count == h.capacity {
            runStart -= 1
        }
        guard runEnd - runStart + 1 >= k else { return }
        runEnd = runStart + (runEnd - runStart + 1) / k * k - 1 // whole groups only

        // Rebuild blocks runStart..<n: groups of k small blocks become one large block each;
        // the blocks after the groups keep their content and move down.
        var rebuilt: [BlockBuffer] = []
        var group = BlockBuffer(capacity: layout.largeCapacity)
        for number in runStart...runEnd {
            let b = try decode(anchor, UInt32(number))
            group.ids += b.ids
            group.norms += b.norms
            group.vectors += b.vectors
            if group.isFull {
                rebuilt.append(group)
                group = BlockBuffer(capacity: layout.largeCapacity)
            }
        }
        if runEnd + 1 < n {
            for number in (runEnd + 1)..<n { rebuilt.append(try decode(anchor, UInt32(number))) }
        }
        for (offset, b) in rebuilt.enumerated() {
            let number = UInt32(runStart + offset)
            try write(b, anchor: anchor, number: number)
            for (slot, id) in b.ids.enumerated() {
                mergedLocations.append((id, ItemLocation(anchor: anchor, block: number, slot: UInt32(slot))))
            }
        }
        let newCount = runStart + rebuilt.count
        for number in newCount..<n { try txn.delete(env.blocksDB, blockKey(anchor, UInt32(number))) }
        record.blockCount = UInt32(newCount)
        try txn.put(env.partitionsDB, partitionKey(anchor), value: record)
    }

    private func lastStoredID() throws -> UInt64 {
        var last: UInt64 = 0
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(txn.handle, env.idsDB, &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val(), v = MDB_val()
        if mdb_cursor_get(cursor, &k, &v, MDB_LAST) == 0, k.mv_size == 8 {
            last = k.mv_data.loadUnaligned(as: UInt64.self)
        }
        return last
    }
}
