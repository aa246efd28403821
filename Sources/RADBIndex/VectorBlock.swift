/// A run of stored vectors laid out the way BLAS wants them: `count` ids, `count × dimension`
/// contiguous row-major floats, and each row's squared L2 norm.
///
/// It exists so the search engine can score vectors straight from wherever they live — an array in
/// memory, or a page of the store's LMDB memory map — without copying them first.
///
/// Invariants the producer guarantees:
/// - `ids.count == squaredNorms.count == count` and `vectors.count == count × dimension`;
/// - `vectors` is 4-byte aligned and every value is finite;
/// - `squaredNorms[i]` is ‖row i‖² computed with at most float accumulation error
///   (the engine's rounding bound allows for `dimension × 2⁻²⁴` relative error).
public struct VectorBlock {
    public let ids: UnsafeBufferPointer<UInt64>
    public let vectors: UnsafeBufferPointer<Float>
    public let squaredNorms: UnsafeBufferPointer<Float>

    /// Number of vectors in the block.
    @inlinable public var count: Int { ids.count }

    public init(ids: UnsafeBufferPointer<UInt64>, vectors: UnsafeBufferPointer<Float>,
                squaredNorms: UnsafeBufferPointer<Float>) {
        precondition(ids.count == squaredNorms.count, "VectorBlock: ids and squaredNorms differ in length")
        precondition(ids.isEmpty || vectors.count % ids.count == 0, "VectorBlock: vectors not count × dimension")
        self.ids = ids
        self.vectors = vectors
        self.squaredNorms = squaredNorms
    }

    /// Largest squared norm in the block (used for the engine's rounding bound).
    var maxSquaredNorm: Float {
        L2Kernels.maxSquaredNorm(squaredNorms)
    }
}
