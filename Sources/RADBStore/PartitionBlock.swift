/// One block of a partition, read in place from the LMDB memory map.
///
/// Exists so that search can hand whole runs of vectors to BLAS without copying: `vectors`
/// is `count × dimension` Float32, row-major, contiguous and 4-byte aligned; `ids[i]` and
/// `squaredNorms[i]` belong to row `i`. The pointers are valid only inside the
/// `forEachBlock` callback that produced the block — never keep them.
public struct PartitionBlock {
    /// The anchor (partition) this block belongs to.
    public let anchor: Int32
    /// Number of vectors in the block (≥ 1).
    public let count: Int
    /// Vectors the block can hold (`VectorStore.blockCapacity` or `largeBlockCapacity`);
    /// every block of a partition but the last is full.
    public let capacity: Int
    /// Vector dimension of the store.
    public let dimension: Int
    /// Item ids, one per row.
    public let ids: UnsafeBufferPointer<UInt64>
    /// ‖v‖² of each row, as a Float sum in component order.
    public let squaredNorms: UnsafeBufferPointer<Float>
    /// `count × dimension` components, row-major.
    public let vectors: UnsafeBufferPointer<Float>

    /// Row `i` as a buffer of `dimension` floats.
    public func vector(at i: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(rebasing: vectors[i * dimension ..< (i + 1) * dimension])
    }
}
