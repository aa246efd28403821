import CBLAS

/// A fully connected layer `y = x·Wᵀ + b`, the building block of embedding heads.
///
/// Weights use PyTorch's layout (`weight` [out, in], `bias` [out]) so a head trained here
/// loads into `torch.nn.Linear` unchanged. Forward and backward are single SGEMMs; the layer
/// holds no activations, so the caller keeps the input it needs for `backward`.
public struct Linear: Sendable, Equatable {
    /// [outFeatures, inFeatures]
    public var weight: Tensor
    /// [outFeatures]
    public var bias: Tensor

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }

    /// Kaiming-uniform initialisation as in `torch.nn.Linear` (bound 1/√in for weight and bias).
    public init(inFeatures: Int, outFeatures: Int, using generator: inout some RandomNumberGenerator) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear needs positive sizes")
        let bound = 1 / Float(inFeatures).squareRoot()
        weight = Tensor(shape: [outFeatures, inFeatures],
                        storage: (0..<(outFeatures * inFeatures)).map { _ in Float.random(in: -bound...bound, using: &generator) })
        bias = Tensor(shape: [outFeatures],
                      storage: (0..<outFeatures).map { _ in Float.random(in: -bound...bound, using: &generator) })
    }

    /// Wraps existing parameters; shapes must be [out, in] and [out].
    public init(weight: Tensor, bias: Tensor) {
        precondition(weight.rank == 2 && bias.shape == [weight.shape[0]], "Linear: weight [out,in], bias [out]")
        self.weight = weight
        self.bias = bias
    }

    // MARK: - Forward

    /// x [B, in] → y [B, out]
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 2 && x.shape[1] == inFeatures, "Linear.forward: expected [B, \(inFeatures)], got \(x.shape)")
        let batch = x.shape[0], out = outFeatures, inF = inFeatures
        var y = [Float](repeating: 0, count: batch * out)
        // Start from the broadcast bias, then accumulate x·Wᵀ (beta = 1).
        for row in 0..<batch { for o in 0..<out { y[row * out + o] = bias.storage[o] } }
        if batch > 0 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(batch), Int32(out), Int32(inF),
                        1, x.storage, Int32(inF), weight.storage, Int32(inF), 1, &y, Int32(out))
        }
        return Tensor(shape: [batch, out], storage: y)
    }

    // MARK: - Backward

    /// Gradients of a scalar loss given x [B, in] and dL/dy [B, out]:
    /// dx [B, in] = dy·W, dW [out, in] = dyᵀ·x, db [out] = Σ_rows dy.
    public func backward(input x: Tensor, outputGradient dy: Tensor) -> (input: Tensor, weight: Tensor, bias: Tensor) {
        let batch = x.shape[0], out = outFeatures, inF = inFeatures
        precondition(dy.shape == [batch, out], "Linear.backward: dy \(dy.shape) vs [\(batch), \(out)]")
        var dx = [Float](repeating: 0, count: batch * inF)
        var dW = [Float](repeating: 0, count: out * inF)
        var db = [Float](repeating: 0, count: out)
        if batch > 0 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(batch), Int32(inF), Int32(out),
                        1, dy.storage, Int32(out), weight.storage, Int32(inF), 0, &dx, Int32(inF))
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(out), Int32(inF), Int32(batch),
                        1, dy.storage, Int32(out), x.storage, Int32(inF), 0, &dW, Int32(inF))
            for row in 0..<batch { for o in 0..<out { db[o] += dy.storage[row * out + o] } }
        }
        return (Tensor(shape: [batch, inF], storage: dx), Tensor(shape: [out, inF], storage: dW), Tensor(shape: [out], storage: db))
    }
}
