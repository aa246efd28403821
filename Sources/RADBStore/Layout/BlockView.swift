/// A validated, read-only view of one block value in the memory map.
struct BlockView {
    let count: Int
    let capacity: Int
    let ids: UnsafeBufferPointer<UInt64>
    let squaredNorms: UnsafeBufferPointer<Float>
    let vectors: UnsafeBufferPointer<Float>

    var isFull: Bool { count == capacity }

    /// Checks the header against `layout` and the alignment LMDB guarantees for overflow
    /// values; any mismatch is corruption, reported with `path`.
    init(raw: UnsafeRawBufferPointer, layout: VectorBlockLayout, path: String) throws {
        func corrupt(_ why: String) -> StoreError { .corruptVectorStore(path: path, reason: why) }
        guard raw.count >= VectorBlockLayout.headerSize, let base = raw.baseAddress else {
            throw corrupt("a block value is shorter than its header")
        }
        guard base.load(as: UInt32.self) == VectorBlockLayout.magic else { throw corrupt("a block has a bad magic number") }
        let count = Int(base.load(fromByteOffset: 4, as: UInt32.self))
        let capacity = Int(base.load(fromByteOffset: 8, as: UInt32.self))
        let dimension = Int(base.load(fromByteOffset: 12, as: UInt32.self))
        guard layout.isValidCapacity(capacity), dimension == layout.dimension else {
            throw corrupt("a block has capacity \(capacity)/dimension \(dimension), expected \(layout.smallCapacity) or \(layout.largeCapacity)/\(layout.dimension)")
        }
        guard count >= 1, count <= capacity, raw.count >= layout.contentSize(count: count, capacity: capacity) else {
            throw corrupt("a block claims \(count) vectors in \(raw.count) bytes")
        }
        guard Int(bitPattern: base) % 8 == 0 else { throw corrupt("a block is not 8-byte aligned in the map") }
        self.count = count
        self.capacity = capacity
        ids = UnsafeBufferPointer(start: (base + layout.idsOffset).assumingMemoryBound(to: UInt64.self), count: count)
        squaredNorms = UnsafeBufferPointer(start: (base + layout.normsOffset(capacity: capacity)).assumingMemoryBound(to: Float.self), count: count)
        vectors = UnsafeBufferPointer(start: (base + layout.vectorsOffset(capacity: capacity)).assumingMemoryBound(to: Float.self),
                                      count: count * dimension)
    }
}

extension LMDBTransaction {
    /// Calls `body` with every stored block (its partition's anchor and the block viewed in
    /// place, validated against `layout`), partition by partition, in one pass of one cursor.
    /// A malformed key or block ends the scan with `StoreError.corruptVectorStore`.
    func forEachBlockView(layout: VectorBlockLayout, path: String, _ body: (Int32, BlockView) throws -> Void) throws {
        var failure: Error?
        try scan(environment.blocksDB) { key, value in
            guard key.count == 8 else {
                failure = StoreError.corruptVectorStore(path: path, reason: "a block key has \(key.count) bytes")
                return false
            }
            let anchor = RADBStore.anchor(fromPartitionKey: UInt32(truncatingIfNeeded: key.loadUnaligned(as: UInt64.self) >> 32))
            do {
                try body(anchor, try BlockView(raw: value, layout: layout, path: path))
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
    }
}
