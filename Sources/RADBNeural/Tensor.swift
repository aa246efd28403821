import Foundation

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

// MARK: - Construction helpers

extension Tensor {
    /// Values drawn from N(0, std²) (Box–Muller), for weight initialisation and tests.
    public static func randomNormal<G: RandomNumberGenerator>(shape: [Int], mean: Float = 0, std: Float,
                                                               using generator: inout G) -> Tensor {
        var t = Tensor(shape: shape)
        var i = 0
        while i < t.count {
            let u1 = Float.random(in: Float.ulpOfOne..<1, using: &generator)
            let u2 = Float.random(in: 0..<1, using: &generator)
            let r = (-2 * logf(u1)).squareRoot()
            t.storage[i] = mean + std * r * cosf(2 * .pi * u2)
            if i + 1 < t.count { t.storage[i + 1] = mean + std * r * sinf(2 * .pi * u2) }
            i += 2
        }
        return t
    }

    /// Values drawn uniformly from `range`.
    public static func randomUniform<G: RandomNumberGenerator>(shape: [Int], in range: ClosedRange<Float>,
                                                               using generator: inout G) -> Tensor {
        Tensor(shape: shape, storage: (0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &generator) })
    }

    /// The same values viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) -> Tensor { Tensor(shape: newShape, storage: storage) }
}
