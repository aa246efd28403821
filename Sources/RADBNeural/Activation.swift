/// Elementwise nonlinearities; `Activation` is also the epilogue that convolutions fuse into
/// their bias pass so an inference step touches each output once.
public enum Activation: Sendable, Equatable {
    case identity, relu, relu6

    /// Applies the activation elementwise.
    @inlinable public func apply(_ v: Float) -> Float {
        switch self {
        case .identity: return v
        case .relu: return max(v, 0)
        case .relu6: return min(max(v, 0), 6)
        }
    }

    // MARK: - Forward / backward

    /// y = f(x).  Shapes: x [*] → y [*].
    public func forward(_ x: Tensor) -> Tensor {
        var y = x
        if self == .identity { return y }
        y.storage.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = apply(p[i]) }
        }
        return y
    }

    /// dx = dy · f'(x), with the subgradient 0 at the kinks (x = 0, and x = 6 for ReLU6).
    /// Shapes: x [*], dy [*] → dx [*].
    public func backward(input x: Tensor, gradOutput dy: Tensor) -> Tensor {
        precondition(x.shape == dy.shape, "activation backward: shapes \(x.shape) vs \(dy.shape)")
        var dx = dy
        switch self {
        case .identity: break
        case .relu:
            for i in dx.storage.indices where x.storage[i] <= 0 { dx.storage[i] = 0 }
        case .relu6:
            for i in dx.storage.indices where x.storage[i] <= 0 || x.storage[i] >= 6 { dx.storage[i] = 0 }
        }
        return dx
    }

    // MARK: - Fused epilogue

    /// out[r, c] = f(out[r, c] + bias[c]) for rows `rows` of a row-major [*, channels] buffer.
    @inlinable
    package func applyBias(_ out: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
                           rows: Range<Int>, channels: Int) {
        for r in rows {
            let row = out + r * channels
            switch (self, bias) {
            case let (.identity, b?): for c in 0..<channels { row[c] += b[c] }
            case let (.relu, b?): for c in 0..<channels { row[c] = max(row[c] + b[c], 0) }
            case let (.relu6, b?): for c in 0..<channels { row[c] = min(max(row[c] + b[c], 0), 6) }
            case (.identity, nil): return
            case (.relu, nil): for c in 0..<channels { row[c] = max(row[c], 0) }
            case (.relu6, nil): for c in 0..<channels { row[c] = min(max(row[c], 0), 6) }
            }
        }
    }
}
