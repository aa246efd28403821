import RADBIndex
import RADBStore

/// A store snapshot seen as the search engine's inverted lists: list `i` is the store's
/// partition `partitions[i]`, and its blocks are handed over in place from the LMDB memory map
/// — no copies.
///
/// A routed search lists the generation's anchors (`partitions[i] == i`); an exact search lists
/// every partition that exists in the snapshot, so it reaches every stored item even where a
/// partition has no anchor. Valid only inside the `read { }` closure that produced the snapshot.
struct SnapshotLists: InvertedLists {
    let snapshot: StoreSnapshot
    /// The store partition of each list.
    let partitions: [Int32]
    var listCount: Int { partitions.count }
    /// Vectors per list, read once when the lists are made.
    private let counts: [Int]

    /// Lists for partitions `0..<anchorCount` (partitions with no vectors are empty lists).
    init(snapshot: StoreSnapshot, anchorCount: Int) throws {
        try self.init(snapshot: snapshot, partitions: (0..<anchorCount).map { Int32(truncatingIfNeeded: $0) })
    }

    /// Lists for exactly the partitions the snapshot holds, in partition order.
    init(everyPartitionOf snapshot: StoreSnapshot) throws {
        try self.init(snapshot: snapshot, partitions: try snapshot.partitions.map(\.anchor).sorted())
    }

    init(snapshot: StoreSnapshot, partitions: [Int32]) throws {
        self.snapshot = snapshot
        self.partitions = partitions
        let stored = Dictionary(try snapshot.partitions.map { ($0.anchor, $0.count) }, uniquingKeysWith: { a, _ in a })
        counts = partitions.map { stored[$0] ?? 0 }
    }

    var dimension: Int { snapshot.dimension }

    func count(ofList list: Int) -> Int { counts[list] }

    func forEachBlock(ofList list: Int, _ body: (VectorBlock) throws -> Void) throws {
        try snapshot.forEachBlock(partition: partitions[list]) { block in
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
