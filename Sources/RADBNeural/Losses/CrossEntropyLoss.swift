import Foundation

/// Softmax cross-entropy on a linear classifier over the embedding — the paper's "CE"
/// baseline; the retrieval embedding is the layer before the classifier.
///
///     logits = e·Wᵀ + b  [B, t];   L = mean_b −log softmax(logits_b)[y_b]
public struct CrossEntropyLoss: EmbeddingLoss {
    public let name = "ce"
    /// weight [t, d], bias [t]
    public var classifier: Linear

    public var parameters: [Tensor] {
        get { [classifier.weight, classifier.bias] }
        set { classifier.weight = newValue[0]; classifier.bias = newValue[1] }
    }
    public var parameterNames: [String] { ["classifier.weight", "classifier.bias"] }
    public var settings: [String: String] { ["loss": name] }

    public init(classes: Int, dimension: Int, using generator: inout some RandomNumberGenerator) {
        precondition(classes >= 2, "CrossEntropyLoss needs at least two classes")
        classifier = Linear(inFeatures: dimension, outFeatures: classes, using: &generator)
    }

    /// embeddings [B, d], labels [B] → L, dL/de [B, d], dL/dW [t, d], dL/db [t]
    public func evaluate(embeddings: Tensor, labels: [Int]) -> LossEvaluation {
        validateBatch(embeddings, labels, classes: classifier.outFeatures, loss: "CrossEntropyLoss")
        let (value, gradLogits) = softmaxCrossEntropy(logits: classifier.forward(embeddings), labels: labels)
        let g = classifier.backward(input: embeddings, outputGradient: gradLogits)
        return LossEvaluation(value: value, terms: [("ce", value)], embeddingGradient: g.input,
                              parameterGradients: [g.weight, g.bias])
    }
}

/// logits [B, t], labels [B] → (mean −log p_y, dL/dlogits [B, t] = (softmax − onehot)/B).
/// Uses the max-shifted log-sum-exp so large logits cannot overflow.
func softmaxCrossEntropy(logits: Tensor, labels: [Int]) -> (Float, Tensor) {
    let batch = logits.shape[0], t = logits.shape[1]
    var grad = [Float](repeating: 0, count: batch * t)
    var total: Double = 0
    let inv = 1 / Float(max(batch, 1))
    for b in 0..<batch {
        let row = b * t
        var mx = -Float.infinity
        for k in 0..<t { mx = max(mx, logits.storage[row + k]) }
        var z: Float = 0
        for k in 0..<t { let v = expf(logits.storage[row + k] - mx); grad[row + k] = v; z += v }
        total += Double(logf(z) + mx - logits.storage[row + labels[b]])
        for k in 0..<t { grad[row + k] = grad[row + k] / z * inv }
        grad[row + labels[b]] -= inv
    }
    return (Float(total) * inv, Tensor(shape: [batch, t], storage: grad))
}
