import RADBNeural

/// The trainable part of head mode: a linear map or a small MLP (Linear–ReLU–…–Linear) from
/// frozen backbone features to the d-dimensional retrieval embedding.
///
/// Tensor names follow `torch.nn.Sequential`: a Linear at sequence position i stores
/// `head.<i>.weight` / `head.<i>.bias`; ReLUs occupy the odd positions between them.
public struct EmbeddingHead: Sendable, Equatable {
    public var layers: [Linear]

    /// "linear" for one layer, "mlp" otherwise (model metadata `head`).
    public var kind: String { layers.count == 1 ? "linear" : "mlp" }
    public var inputDimension: Int { layers[0].inFeatures }
    public var outputDimension: Int { layers[layers.count - 1].outFeatures }

    /// `widths` = [input, hidden…, output]; two entries make a linear head.
    public init(widths: [Int], using generator: inout some RandomNumberGenerator) {
        precondition(widths.count >= 2, "EmbeddingHead needs at least input and output widths")
        layers = (0..<(widths.count - 1)).map { Linear(inFeatures: widths[$0], outFeatures: widths[$0 + 1], using: &generator) }
    }

    public init(layers: [Linear]) {
        precondition(!layers.isEmpty, "EmbeddingHead needs a layer")
        self.layers = layers
    }

    /// Parameter tensors in the order [w0, b0, w1, b1, …].
    public var parameters: [Tensor] {
        get { layers.flatMap { [$0.weight, $0.bias] } }
        set { for i in layers.indices { layers[i].weight = newValue[2 * i]; layers[i].bias = newValue[2 * i + 1] } }
    }

    public var parameterNames: [String] {
        layers.indices.flatMap { ["head.\(2 * $0).weight", "head.\(2 * $0).bias"] }
    }

    // MARK: - Forward and backward

    /// x [B, in] → e [B, d]
    public func callAsFunction(_ x: Tensor) -> Tensor { forwardKeepingActivations(x).last! }

    /// Returns the input of every layer followed by the output: count = layers + 1.
    public func forwardKeepingActivations(_ x: Tensor) -> [Tensor] {
        var activations = [x]
        for (i, layer) in layers.enumerated() {
            var y = layer.forward(activations[i])
            if i < layers.count - 1 { relu(&y) }
            activations.append(y)
        }
        return activations
    }

    /// Given the activations of `forwardKeepingActivations` and dL/de [B, d], the parameter
    /// gradients in `parameters` order and dL/dx.
    public func backward(activations: [Tensor], outputGradient: Tensor) -> (parameters: [Tensor], input: Tensor) {
        var grads = [Tensor](repeating: Tensor(shape: [0]), count: 2 * layers.count)
        var dy = outputGradient
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            if i < layers.count - 1 {
                // ReLU backward: the gradient passes where the layer's (post-ReLU) output is positive.
                let out = activations[i + 1].storage
                for k in 0..<dy.count where out[k] <= 0 { dy.storage[k] = 0 }
            }
            let g = layers[i].backward(input: activations[i], outputGradient: dy)
            grads[2 * i] = g.weight
            grads[2 * i + 1] = g.bias
            dy = g.input
        }
        return (grads, dy)
    }

    /// Embeds `x` [n, in] in batches (keeps memory bounded for large feature sets).
    public func embed(_ x: Tensor, batchSize: Int = 4096) -> Tensor {
        let n = x.shape[0], inF = x.shape[1]
        var out = [Float]()
        out.reserveCapacity(n * outputDimension)
        var start = 0
        while start < n {
            let end = min(start + batchSize, n)
            let chunk = Tensor(shape: [end - start, inF], storage: Array(x.storage[(start * inF)..<(end * inF)]))
            out += self(chunk).storage
            start = end
        }
        return Tensor(shape: [n, outputDimension], storage: out)
    }
}

@inline(__always) func relu(_ t: inout Tensor) {
    t.storage.withUnsafeMutableBufferPointer { p in for i in 0..<p.count where p[i] < 0 { p[i] = 0 } }
}
