/// The contrastive (siamese) loss of Hadsell et al. on every pair of the batch — a baseline of
/// the paper. Same-class pairs are pulled together, other pairs pushed to at least `margin`.
///
///     D_ij = ‖e_i − e_j‖,  ℓ_ij = ½ D² (same class) or ½ max(0, margin − D)² (different)
///     L = mean over the B(B−1)/2 unordered pairs
public struct ContrastiveLoss: EmbeddingLoss {
    public let name = "contrastive"
    public var margin: Float
    public var parameters: [Tensor] { get { [] } set {} }
    public var parameterNames: [String] { [] }
    public var settings: [String: String] { ["loss": name, "margin": "\(margin)"] }

    public init(margin: Float = 1) { self.margin = margin }

    /// embeddings [B, d], labels [B] → L, dL/de [B, d]
    public func evaluate(embeddings: Tensor, labels: [Int]) -> LossEvaluation {
        validateBatch(embeddings, labels, classes: nil, loss: "ContrastiveLoss")
        let batch = embeddings.shape[0], d = embeddings.shape[1]
        var grad = [Float](repeating: 0, count: batch * d)
        let pairs = Float(max(batch * (batch - 1) / 2, 1))
        var total: Float = 0
        embeddings.storage.withUnsafeBufferPointer { e in
            for i in 0..<batch {
                for j in (i + 1)..<batch {
                    let dist2 = squaredDistance(e, i, e, j, d)
                    // coefficient g such that dℓ/de_i = g·(e_i − e_j) and dℓ/de_j = −g·(e_i − e_j)
                    var g: Float = 0
                    if labels[i] == labels[j] {
                        total += 0.5 * dist2
                        g = 1
                    } else {
                        let dist = dist2.squareRoot()
                        let h = margin - dist
                        guard h > 0 else { continue }
                        total += 0.5 * h * h
                        guard dist > 1e-12 else { continue }
                        g = -h / dist
                    }
                    g /= pairs
                    for k in 0..<d {
                        let diff = e[i * d + k] - e[j * d + k]
                        grad[i * d + k] += g * diff
                        grad[j * d + k] -= g * diff
                    }
                }
            }
        }
        let value = total / pairs
        return LossEvaluation(value: value, terms: [("contrastive", value)],
                              embeddingGradient: Tensor(shape: [batch, d], storage: grad), parameterGradients: [])
    }
}
