/// A dense, row-major float tensor: the value every layer consumes and produces.
///
/// Images and feature maps are laid out **NHWC** (batch, height, width, channels) so that a
/// 1×1 convolution is one GEMM over `[N·H·W, C]` and depthwise kernels vectorise across channels.
/// Matrices are `[rows, cols]`. The storage is a plain `[Float]`, so a tensor is a value
/// (copy-on-write) and is `Sendable`.
public struct Tensor: Sendable, Equatable {
    /// Extent of each dimension, outermost first.
    public var shape: [Int]
    /// `shape.reduce(1, *)` values in row-major order.
    public var storage: [Float]

    /// A tensor of the given shape filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape must be non-negative: \(shape)")
        self.shape = shape
        self.storage = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// A tensor wrapping existing values; `storage.count` must equal the product of `shape`.
    public init(shape: [Int], storage: [Float]) {
        precondition(shape.reduce(1, *) == storage.count,
                     "Tensor shape \(shape) needs \(shape.reduce(1, *)) values, got \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    /// Number of values.
    public var count: Int { storage.count }
    /// Number of dimensions.
    public var rank: Int { shape.count }
}
