/// How a convolution or pooling window treats the border.
public enum Padding: Sendable, Equatable {
    /// No padding: output = ⌊(in − k) / s⌋ + 1.
    case valid
    /// TensorFlow / TFLite "SAME": output = ⌈in / s⌉; the total padding
    /// max((out − 1)·s + k − in, 0) is split with the smaller half before (top/left).
    /// This is what the converted MobileNets were trained with (it is *not* PyTorch's padding=1
    /// at stride 2, which pads one row on top as well).
    case same
    /// PyTorch-style symmetric padding of `p` on every side: output = ⌊(in + 2p − k) / s⌋ + 1.
    case symmetric(Int)
}

/// The spatial arithmetic of one sliding-window layer: output extent and top/left padding for a
/// given input extent, kernel and stride. Shared by convolutions and pooling so they agree.
public struct ConvGeometry: Sendable, Equatable {
    public var inH: Int, inW: Int
    public var kernelH: Int, kernelW: Int
    public var stride: Int
    public var outH: Int, outW: Int
    public var padTop: Int, padLeft: Int

    public init(inH: Int, inW: Int, kernelH: Int, kernelW: Int, stride: Int, padding: Padding) {
        precondition(stride >= 1 && kernelH >= 1 && kernelW >= 1, "kernel and stride must be positive")
        self.inH = inH; self.inW = inW; self.kernelH = kernelH; self.kernelW = kernelW; self.stride = stride
        func axis(_ n: Int, _ k: Int) -> (out: Int, before: Int) {
            switch padding {
            case .valid: return (max(0, (n - k) / stride + 1), 0)
            case .same:
                let out = (n + stride - 1) / stride
                let total = max((out - 1) * stride + k - n, 0)
                return (out, total / 2)
            case let .symmetric(p): return (max(0, (n + 2 * p - k) / stride + 1), p)
            }
        }
        (outH, padTop) = axis(inH, kernelH)
        (outW, padLeft) = axis(inW, kernelW)
    }
}
