/// Centre loss plus cross-entropy (Wen et al. 2016) — one of the paper's baselines.
///
/// Like CAM it pulls embeddings to a learnable per-class point, but the classes are kept apart
/// by the softmax classifier rather than by a margin between the points.
///
///     L = CE(e·Wᵀ + b, y) + λ · mean_b ½‖e_b − c_{y_b}‖²
public struct CenterLoss: EmbeddingLoss {
    public let name = "centre"
    public var crossEntropy: CrossEntropyLoss
    /// [t, d]
    public var centres: Tensor
    /// λ, the weight of the centre term.
    public var centreWeight: Float

    public var parameters: [Tensor] {
        get { crossEntropy.parameters + [centres] }
        set { crossEntropy.parameters = Array(newValue[0..<2]); centres = newValue[2] }
    }
    public var parameterNames: [String] { crossEntropy.parameterNames + ["centres"] }
    public var settings: [String: String] { ["loss": name, "centre_weight": "\(centreWeight)"] }

    public init(classes: Int, dimension: Int, centreWeight: Float = 0.1,
                using generator: inout some RandomNumberGenerator) {
        crossEntropy = CrossEntropyLoss(classes: classes, dimension: dimension, using: &generator)
        centres = Tensor(shape: [classes, dimension])
        self.centreWeight = centreWeight
    }

    /// embeddings [B, d], labels [B] → L, dL/de [B, d], dL/dW [t, d], dL/db [t], dL/dcentres [t, d]
    public func evaluate(embeddings: Tensor, labels: [Int]) -> LossEvaluation {
        let t = centres.shape[0], d = centres.shape[1], batch = embeddings.shape[0]
        validateBatch(embeddings, labels, classes: t, loss: "CenterLoss")
        var ce = crossEntropy.evaluate(embeddings: embeddings, labels: labels)
        var gradC = [Float](repeating: 0, count: t * d)
        var centreTerm: Float = 0
        let scale = centreWeight / Float(max(batch, 1))
        for b in 0..<batch {
            let y = labels[b]
            for k in 0..<d {
                let diff = embeddings.storage[b * d + k] - centres.storage[y * d + k]
                centreTerm += 0.5 * diff * diff
                ce.embeddingGradient.storage[b * d + k] += scale * diff
                gradC[y * d + k] -= scale * diff
            }
        }
        centreTerm *= scale
        return LossEvaluation(value: ce.value + centreTerm, terms: [("ce", ce.value), ("centre", centreTerm)],
                              embeddingGradient: ce.embeddingGradient,
                              parameterGradients: ce.parameterGradients + [Tensor(shape: [t, d], storage: gradC)])
    }
}
