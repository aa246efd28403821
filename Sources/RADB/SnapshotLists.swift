import RADBIndex
import RADBStore

/// A store snapshot seen as the search engine's inverted lists: partition `i` of the store is
/// list `i`, and its blocks are handed over in place from the LMDB memory map — no copies.
///
/// Valid only inside the `read { }` closure that produced the snapshot.
struct SnapshotLists: InvertedLists {
    let snapshot: StoreSnapshot
    /// The router's anchor count (partitions with no vectors are empty lists).
    let listCount: Int
    /// Vectors per partition, read once when the lists are made.
    private let counts: [Int]

    init(snapshot: StoreSnapshot, listCount: Int) throws {
        self.snapshot = snapshot
        self.listCount = listCount
        var counts = [Int](repeating: 0, count: listCount)
        for p in try snapshot.partitions where p.anchor >= 0 && Int(p.anchor) < listCount { counts[Int(p.anchor)] = p.count }
        self.counts = counts
    }

    var dimension: Int { snapshot.dimension }

    func count(ofList list: Int) -> Int { counts[list] }

    func forEachBlock(ofList list: Int, _ body: (VectorBlock) throws -> Void) throws {
        try snapshot.forEachBlock(partition: Int32(list)) { block in
            try body(VectorBlock(ids: block.ids, vectors: block.vectors, squaredNorms: block.squaredNorms))
        }
    }

    func gatherVectors(ids: [UInt64], into buffer: UnsafeMutablePointer<Float>) throws -> [Bool] {
        let d = dimension
        do {
            try snapshot.gatherVectors(ids: ids, into: UnsafeMutableBufferPointer(start: buffer, count: ids.count * d))
            return [Bool](repeating: true, count: ids.count)
        } catch StoreError.unknownIDs(_, let missing) {
            // Rare (the filter's ids come from the same snapshot): gather the known rows one by one.
            let absent = Set(missing)
            var found = [Bool](repeating: false, count: ids.count)
            for (row, id) in ids.enumerated() where !absent.contains(id) {
                try snapshot.gatherVectors(ids: [id], into: UnsafeMutableBufferPointer(start: buffer + row * d, count: d))
                found[row] = true
            }
            return found
        }
    }
}
