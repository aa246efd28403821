import CLMDB

/// Edits partitions inside one LMDB write transaction.
///
/// Two paths. `appendRun` (insert) writes a run of new vectors straight into LMDB: the tail
/// block is extended once and new blocks are filled from the caller's memory. `append` and
/// `remove` (delete, re-anchoring) decode the touched blocks once into `BlockBuffer`s, edit
/// them in memory (swap-remove keeps partitions dense) and write them back in `flush()`.
/// `flush()` then merges trailing full small blocks into large ones (see VectorBlockLayout)
/// and writes the id map, so a batch costs one write per touched block, not per vector.
///
/// The id map holds positions (vector format 3): an append gets position `count`, a
/// swap-remove gives the moved vector the hole's position, and merges change no position.
/// Writers only ever run on format-3 databases (opening for writing upgrades older ones).
final class PartitionWriter {
    let txn: LMDBTransaction
    let layout: VectorBlockLayout
    /// The content-hash index of this environment, and when its recent part is merged.
    let contents: ContentIndex.Handles
    let contentMergeMinimum: Int
    private var partitions: [Int32: PartitionState] = [:]
    /// Ids whose position changed in this transaction (appended, moved, swapped into a hole).
    private var newPositions: [UInt64: ItemPosition] = [:]
    /// Ids removed in this transaction.
    private var removed: Set<UInt64> = []
    /// Positions of fresh ids appended by `appendRun` (insert only: never edited again here),
    /// in ascending id order.
    private var appendedDirectly: [(id: UInt64, position: ItemPosition)] = []
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

    /// Current position of `id` in this transaction, or nil if unknown or removed.
    func position(of id: UInt64) throws -> ItemPosition? {
        if removed.contains(id) { return nil }
        if let p = newPositions[id] { return p }
        switch try txn.storedPosition(of: id) {
        case nil: return nil
        case let .position(p)?: return p
        case .location?: throw corrupt("the id map entry of \(id) is in the format-2 layout in a format-3 database")
        }
    }

    /// Whether `id` is stored (in this transaction's state).
    func contains(_ id: UInt64) throws -> Bool { try position(of: id) != nil }

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
        newPositions[id] = ItemPosition(anchor: anchor, position: UInt32(s.record.count))
        removed.remove(id)
        s.blocks[tailNumber] = tail
        s.dirty.insert(tailNumber)
        s.record.count += 1
    }

    /// Removes `id` by moving the partition's last vector into its slot. Returns its entry.
    @discardableResult
    func remove(id: UInt64) throws -> Entry {
        guard let pos = try position(of: id) else {
            throw StoreError.unknownIDs(path: env.directory, ids: [id])
        }
        let s = try state(pos.anchor)
        guard UInt64(pos.position) < s.record.count else { throw corrupt("id \(id) points past the end of partition \(pos.anchor)") }
        let (holeBlock, holeSlot) = layout.blockAndSlot(position: pos.position, largeBlocks: s.record.largeBlocks)
        let loc = ItemLocation(anchor: pos.anchor, block: holeBlock, slot: holeSlot)
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
            if slot != last { move(&hole, from: last, to: slot, into: pos) }
            popLast(&hole)
            s.blocks[loc.block] = hole
            s.dirty.insert(loc.block)
            if hole.ids.isEmpty { dropTail(s, capacity: hole.capacity) }
        } else {
            var tail = try block(s, tailNumber)
            let last = tail.ids.count - 1
            hole.ids[slot] = tail.ids[last]
            hole.norms[slot] = tail.norms[last]
            for c in 0..<d { hole.vectors[slot * d + c] = tail.vectors[last * d + c] }
            newPositions[tail.ids[last]] = pos
            popLast(&tail)
            s.blocks[loc.block] = hole
            s.blocks[tailNumber] = tail
            s.dirty.insert(loc.block)
            s.dirty.insert(tailNumber)
            if tail.ids.isEmpty { dropTail(s, capacity: tail.capacity) }
        }
        s.record.count -= 1
        newPositions[id] = nil
        removed.insert(id)
        return entry
    }

    /// Moves the vector in slot `from` of `b` to slot `to`, whose position is `position`.
    private func move(_ b: inout BlockBuffer, from: Int, to: Int, into position: ItemPosition) {
        let d = layout.dimension
        b.ids[to] = b.ids[from]
        b.norms[to] = b.norms[from]
        for c in 0..<d { b.vectors[to * d + c] = b.vectors[from * d + c] }
        newPositions[b.ids[to]] = position
    }

    /// Forgets the (now empty) tail block of `s`.
    private func dropTail(_ s: PartitionState, capacity: Int) {
        s.record.blockCount -= 1
        if capacity == layout.largeCapacity, s.record.largeBlocks > 0 { s.record.largeBlocks -= 1 }
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
        let firstPosition = UInt32(record.count) // positions of the run: firstPosition + index

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
                appendedDirectly.append((ids[i], ItemPosition(anchor: anchor, position: firstPosition + UInt32(i))))
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
        // Positions edited in memory, by id; then the fresh ids of `appendRun`, which are
        // larger than every stored id and ascending, so they go in with MDB_APPEND (dense
        // pages, no B-tree search). The two sets are disjoint: an id appended by `appendRun`
        // is never edited again in the same transaction.
        for (id, p) in newPositions.sorted(by: { $0.key < $1.key }) { try txn.put(env.idsDB, id, value: p) }
        if !appendedDirectly.isEmpty {
            let maxStored = try lastStoredID()
            var cursor: OpaquePointer?
            try LMDBError.check(mdb_cursor_open(txn.handle, env.idsDB, &cursor), "mdb_cursor_open(ids)")
            defer { mdb_cursor_close(cursor) }
            for var (id, p) in Self.sortedByID(appendedDirectly) {
                let flags = id > maxStored ? UInt32(MDB_APPEND) : 0
                let rc = withUnsafeMutableBytes(of: &id) { k in
                    withUnsafeMutableBytes(of: &p) { v in
                        var kv = MDB_val(mv_size: 8, mv_data: k.baseAddress), vv = MDB_val(mv_size: v.count, mv_data: v.baseAddress)
                        return mdb_cursor_put(cursor, &kv, &vv, flags)
                    }
                }
                try LMDBError.check(rc, "mdb_cursor_put(ids)")
            }
        }
        partitions = [:]
        newPositions = [:]
        removed = []
        appendedDirectly = []
        touched = []
        mergeCandidates = []
    }

    /// Merges each group of `mergeFactor` full small blocks that trail `anchor`'s large
    /// blocks into one large block, renumbering the blocks after them. Runs on committed-
    /// in-txn state, after the in-memory edits were written. Positions do not change, so the
    /// id map is not touched.
    private func mergeTrailingSmallBlocks(_ anchor: Int32) throws {
        let k = layout.mergeFactor
        guard var record = try txn.value(env.partitionsDB, partitionKey(anchor), as: PartitionRecord.self) else { return }
        let n = Int(record.blockCount), large = Int(record.largeBlocks)
        // Blocks large..<n are small; all but the tail are full, so the full ones are those
        // whose vectors are all below `count` (none if the tail is a partial large block).
        let smallVectors = Int(record.count) - large * layout.largeCapacity
        guard n > large, smallVectors > 0 else { return }
        let groups = smallVectors / layout.smallCapacity / k
        guard groups > 0 else { return }
        let runStart = large, runEnd = large + groups * k - 1

        // Rebuild blocks runStart..<n: groups of k small blocks become one large block each;
        // the blocks after the groups keep their content and move down. Everything is read
        // before anything is written (a rewritten key frees its old pages).
        var rebuilt: [BlockBuffer] = []
        var group = BlockBuffer(capacity: layout.largeCapacity)
        group.ids.reserveCapacity(layout.largeCapacity)
        group.norms.reserveCapacity(layout.largeCapacity)
        group.vectors.reserveCapacity(layout.largeCapacity * layout.dimension)
        for number in runStart...runEnd {
            let b = try decode(anchor, UInt32(number))
            guard b.capacity == layout.smallCapacity, b.isFull else {
                throw corrupt("block \(number) of partition \(anchor) should be a full small block")
            }
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
            try write(b, anchor: anchor, number: UInt32(runStart + offset))
        }
        let newCount = runStart + rebuilt.count
        for number in newCount..<n { try txn.delete(env.blocksDB, blockKey(anchor, UInt32(number))) }
        record.blockCount = UInt32(newCount)
        record.largeBlocks += UInt32(groups)
        try txn.put(env.partitionsDB, partitionKey(anchor), value: record)
    }

    /// `entries` (distinct ids) in ascending id order. An insert's ids are one dense range,
    /// placed by index in O(n); anything else is sorted.
    private static func sortedByID(_ entries: [(id: UInt64, position: ItemPosition)]) -> [(id: UInt64, position: ItemPosition)] {
        guard let low = entries.lazy.map(\.id).min(), let high = entries.lazy.map(\.id).max(),
              high - low + 1 == UInt64(entries.count) else {
            return entries.sorted { $0.id < $1.id }
        }
        var out = [(id: UInt64, position: ItemPosition)](repeating: (0, ItemPosition(anchor: 0, position: 0)), count: entries.count)
        for e in entries { out[Int(e.id - low)] = e }
        return out
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
