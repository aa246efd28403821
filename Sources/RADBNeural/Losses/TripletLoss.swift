/// Triplet loss with batch-hard mining (Hermans et al. 2017) — a baseline of the paper.
/// For each item, its farthest same-class item and nearest other-class item in the batch
/// form the triplet.
///
///     ℓ_a = max(0, ‖e_a − e_p*‖ − ‖e_a − e_n*‖ + margin),  L = mean over items having both
public struct TripletLoss: EmbeddingLoss {
    public let name = "triplet"
    public var margin: Float
    public var parameters: [Tensor] { get { [] } set {} }
    public var parameterNames: [String] { [] }
    public var settings: [String: String] { ["loss": name, "margin": "\(margin)", "mining": "batch-hard"] }

    public init(margin: Float = 1) { self.margin = margin }

    /// embeddings [B, d], labels [B] → L, dL/de [B, d]
    public func evaluate(embeddings: Tensor, labels: [Int]) -> LossEvaluation {
        validateBatch(embeddings, labels, classes: nil, loss: "TripletLoss")
        let batch = embeddings.shape[0], d = embeddings.shape[1]
        var grad = [Float](repeating: 0, count: batch * d)
        var dist = [Float](repeating: 0, count: batch * batch)
        embeddings.storage.withUnsafeBufferPointer { e in
            for i in 0..<batch {
                for j in (i + 1)..<batch {
                    let v = squaredDistance(e, i, e, j, d).squareRoot()
                    dist[i * batch + j] = v
                    dist[j * batch + i] = v
                }
            }
        }
        var triplets: [(a: Int, p: Int, n: Int)] = []
        var total: Float = 0
        for a in 0..<batch {
            var p = -1, n = -1
            for j in 0..<batch where j != a {
                if labels[j] == labels[a] {
                    if p < 0 || dist[a * batch + j] > dist[a * batch + p] { p = j }
                } else if n < 0 || dist[a * batch + j] < dist[a * batch + n] { n = j }
            }
            guard p >= 0, n >= 0 else { continue }
            triplets.append((a, p, n))
            let l = dist[a * batch + p] - dist[a * batch + n] + margin
            if l > 0 { total += l } else { triplets[triplets.count - 1].p = -1 }
        }
        let valid = Float(max(triplets.count, 1))
        let e = embeddings.storage
        for tr in triplets where tr.p >= 0 {
            let dap = dist[tr.a * batch + tr.p], dan = dist[tr.a * batch + tr.n]
            // d‖a−p‖/da = (a−p)/‖a−p‖ ; the negative enters with the opposite sign.
            let gp: Float = dap > 1e-12 ? 1 / (dap * valid) : 0
            let gn: Float = dan > 1e-12 ? 1 / (dan * valid) : 0
            for k in 0..<d {
                let ap = e[tr.a * d + k] - e[tr.p * d + k]
                let an = e[tr.a * d + k] - e[tr.n * d + k]
                grad[tr.a * d + k] += gp * ap - gn * an
                grad[tr.p * d + k] -= gp * ap
                grad[tr.n * d + k] += gn * an
            }
        }
        let value = total / valid
        return LossEvaluation(value: value, terms: [("triplet", value)],
                              embeddingGradient: Tensor(shape: [batch, d], storage: grad), parameterGradients: [])
    }
}
