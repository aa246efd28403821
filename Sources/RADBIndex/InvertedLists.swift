/// The data a search runs over: vectors grouped into `listCount` partitions, one per anchor.
///
/// This is radb's equivalent of FAISS's `InvertedLists`: the engine (`AnchorIndex`) is written
/// once against it, and both `MemoryInvertedLists` (tests, benchmarks) and the store's read-only
/// snapshot of its LMDB partitions conform, so the store plugs in without copying vectors.
///
/// Contract for conformers:
/// - List `i` holds the vectors assigned to anchor `i`; every id appears in exactly one list.
/// - `forEachBlock` hands out blocks whose pointers stay valid until the lists are next mutated
///   (for a store snapshot: until the snapshot is closed). The engine may keep them for the
///   duration of one search call and read them from several threads, but never beyond the call.
/// - Calls are made from one thread at a time; the engine does its own parallelism over the
///   blocks it has collected.
public protocol InvertedLists {
    /// Number of components of every vector.
    var dimension: Int { get }
    /// Number of partitions; equals the router's anchor count.
    var listCount: Int { get }
    /// Number of vectors over all partitions. The default sums `count(ofList:)`; conformers that can
    /// answer in O(1) should (every search reads it).
    var totalCount: Int { get }
    /// Number of vectors stored in partition `list`.
    func count(ofList list: Int) -> Int
    /// Calls `body` with each block of partition `list`, in storage order.
    func forEachBlock(ofList list: Int, _ body: (VectorBlock) throws -> Void) throws
    /// Copies the vectors of `ids` (row `i` to `buffer + i × dimension`) and reports which ids
    /// exist; rows of missing ids are left untouched. Used to score a selective filter directly.
    func gatherVectors(ids: [UInt64], into buffer: UnsafeMutablePointer<Float>) throws -> [Bool]
}

extension InvertedLists {
    /// Number of vectors over all partitions: the sum of `count(ofList:)`.
    public var totalCount: Int {
        var total = 0
        for list in 0..<listCount { total += count(ofList: list) }
        return total
    }
}
