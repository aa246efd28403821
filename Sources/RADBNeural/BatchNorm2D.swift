/// Batch normalisation over the channel axis of NHWC tensors (statistics over N·H·W).
///
/// Training uses batch statistics and updates the running ones (PyTorch convention:
/// running = (1 − momentum)·running + momentum·batch, unbiased variance for the running value);
/// inference uses the running statistics, and for speed is folded into the preceding
/// convolution with `Conv2D.folding(_:)` so it costs nothing at run time.
public struct BatchNorm2D: Sendable {
    public var gamma: Tensor         // [C]
    public var beta: Tensor          // [C]
    public var runningMean: Tensor   // [C]
    public var runningVar: Tensor    // [C]
    public var epsilon: Float
    public var momentum: Float

    public var channels: Int { gamma.count }

    /// γ = 1, β = 0, running mean 0 and variance 1.
    public init(channels: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        gamma = Tensor(shape: [channels], repeating: 1)
        beta = Tensor(shape: [channels])
        runningMean = Tensor(shape: [channels])
        runningVar = Tensor(shape: [channels], repeating: 1)
        self.epsilon = epsilon
        self.momentum = momentum
    }

    /// What the backward pass needs from a training-mode forward.
    public struct Cache: Sendable {
        /// Normalised input x̂, [N, H, W, C].
        public var normalized: Tensor
        /// 1 / √(σ²_batch + ε), [C].
        public var inverseStd: [Float]
    }

    // MARK: - Forward (inference)

    /// y = (x − μ_running) / √(σ²_running + ε) · γ + β.  Shapes: x [N, H, W, C] → y [N, H, W, C].
    public func forward(_ x: Tensor) -> Tensor {
        let c = channels
        precondition(x.shape.last == c, "BatchNorm2D expects \(c) channels, got \(x.shape)")
        var scale = [Float](repeating: 0, count: c), shift = scale
        for i in 0..<c {
            scale[i] = gamma.storage[i] / (runningVar.storage[i] + epsilon).squareRoot()
            shift[i] = beta.storage[i] - runningMean.storage[i] * scale[i]
        }
        var y = x
        for r in 0..<(x.count / max(c, 1)) { for i in 0..<c { y.storage[r * c + i] = x.storage[r * c + i] * scale[i] + shift[i] } }
        return y
    }

    // MARK: - Forward (training) / backward

    /// Normalises with the batch statistics and updates the running statistics.
    /// Shapes: x [N, H, W, C] → y [N, H, W, C], cache (x̂ [N, H, W, C], 1/σ [C]).
    public mutating func forwardTraining(_ x: Tensor) -> (output: Tensor, cache: Cache) {
        let c = channels
        precondition(x.shape.last == c, "BatchNorm2D expects \(c) channels, got \(x.shape)")
        let m = x.count / c
        precondition(m > 1, "BatchNorm2D training needs more than one value per channel")
        var mean = [Double](repeating: 0, count: c), variance = mean
        for r in 0..<m { for i in 0..<c { mean[i] += Double(x.storage[r * c + i]) } }
        for i in 0..<c { mean[i] /= Double(m) }
        for r in 0..<m { for i in 0..<c { let d = Double(x.storage[r * c + i]) - mean[i]; variance[i] += d * d } }
        var invStd = [Float](repeating: 0, count: c)
        for i in 0..<c {
            let biased = variance[i] / Double(m)
            invStd[i] = Float(1 / (biased + Double(epsilon)).squareRoot())
            runningMean.storage[i] = (1 - momentum) * runningMean.storage[i] + momentum * Float(mean[i])
            runningVar.storage[i] = (1 - momentum) * runningVar.storage[i] + momentum * Float(variance[i] / Double(m - 1))
        }
        var xhat = x, y = x
        for r in 0..<m { for i in 0..<c {
            let v = (x.storage[r * c + i] - Float(mean[i])) * invStd[i]
            xhat.storage[r * c + i] = v
            y.storage[r * c + i] = v * gamma.storage[i] + beta.storage[i]
        } }
        return (y, Cache(normalized: xhat, inverseStd: invStd))
    }

    /// Gradients through the training-mode forward.
    /// Shapes: dy [N, H, W, C] → dx [N, H, W, C], dγ [C], dβ [C].
    ///   dβ = Σ dy;  dγ = Σ dy·x̂;  dx = γ/σ · (dy − dβ/M − x̂·dγ/M).
    public func backward(cache: Cache, gradOutput dy: Tensor) -> (input: Tensor, gamma: Tensor, beta: Tensor) {
        let c = channels, m = dy.count / c
        precondition(dy.shape == cache.normalized.shape, "BatchNorm2D backward: dy \(dy.shape) vs forward \(cache.normalized.shape)")
        var dgamma = Tensor(shape: [c]), dbeta = Tensor(shape: [c])
        for r in 0..<m { for i in 0..<c {
            dbeta.storage[i] += dy.storage[r * c + i]
            dgamma.storage[i] += dy.storage[r * c + i] * cache.normalized.storage[r * c + i]
        } }
        var dx = dy
        let invM = 1 / Float(m)
        for r in 0..<m { for i in 0..<c {
            let k = r * c + i
            dx.storage[k] = gamma.storage[i] * cache.inverseStd[i]
                * (dy.storage[k] - dbeta.storage[i] * invM - cache.normalized.storage[k] * dgamma.storage[i] * invM)
        } }
        return (dx, dgamma, dbeta)
    }
}

extension Conv2D {
    /// This convolution followed by `bn` (inference statistics) as one convolution:
    /// W'[…, o] = W[…, o]·s[o],  b'[o] = (b[o] − μ[o])·s[o] + β[o],  s = γ / √(σ² + ε).
    public func folding(_ bn: BatchNorm2D) -> Conv2D {
        precondition(bn.channels == outChannels, "fold: BatchNorm2D has \(bn.channels) channels, conv has \(outChannels)")
        var folded = self
        for o in 0..<outChannels {
            let s = bn.gamma.storage[o] / (bn.runningVar.storage[o] + bn.epsilon).squareRoot()
            for i in Swift.stride(from: o, to: weight.count, by: outChannels) { folded.weight.storage[i] *= s }
            folded.bias.storage[o] = (bias.storage[o] - bn.runningMean.storage[o]) * s + bn.beta.storage[o]
        }
        return folded
    }
}
