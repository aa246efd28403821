import Foundation

/// The Class Anchor Margin loss (Ghiță & Ionescu, arXiv 2306.00630; DESIGN §5): a
/// repeller-attractor objective with one learnable anchor per class.
///
/// The anchors it learns become the coarse layer of radb's two-stage index, so the loss is
/// written for that use: embeddings are pulled to their class anchor (attractor), anchors are
/// pushed at least 2m apart (repeller) and kept at least p away from the origin (minimum norm).
///
///     L_A = ½‖e − c_y‖²                    reduced over the batch (default mean)
///     L_R = ½ Σ_{i≠j} max(0, 2m − ‖c_i − c_j‖)²   reduced over ordered pairs (default sum)
///     L_N = Σ_i max(0, p − ‖c_i‖)            reduced over anchors (default sum)
///     L   = w_A·L_A + w_R·L_R + w_N·L_N
public struct CAMLoss: EmbeddingLoss {
    /// Tunable parts of the loss; defaults are the paper's (m = 1, p = 1, weights 1).
    public struct Configuration: Sendable, Codable, Equatable {
        public var margin: Float = 1
        public var minimumNorm: Float = 1
        public var attractorWeight: Float = 1
        public var repellerWeight: Float = 1
        public var normWeight: Float = 1
        public var attractorReduction: LossReduction = .mean
        public var repellerReduction: LossReduction = .sum
        public var normReduction: LossReduction = .sum
        public init() {}
    }

    public let name = "cam"
    public var configuration: Configuration
    /// [t, d] — one anchor per class.
    public var anchors: Tensor

    public var parameters: [Tensor] {
        get { [anchors] }
        set { anchors = newValue[0] }
    }
    public var parameterNames: [String] { ["anchors"] }
    public var settings: [String: String] {
        ["loss": name, "margin": "\(configuration.margin)", "min_norm": "\(configuration.minimumNorm)",
         "attractor_weight": "\(configuration.attractorWeight)", "repeller_weight": "\(configuration.repellerWeight)",
         "norm_weight": "\(configuration.normWeight)",
         "reductions": "\(configuration.attractorReduction.rawValue),\(configuration.repellerReduction.rawValue),\(configuration.normReduction.rawValue)"]
    }

    /// Random anchors ~ N(0, 1) per coordinate (the paper's random initialisation).
    public init(classes: Int, dimension: Int, configuration: Configuration = .init(),
                using generator: inout some RandomNumberGenerator) {
        precondition(classes >= 2 && dimension >= 1, "CAMLoss needs at least two classes")
        self.configuration = configuration
        anchors = Tensor(shape: [classes, dimension],
                         storage: (0..<(classes * dimension)).map { _ in gaussian(using: &generator) })
    }

    /// Wraps existing anchors [t, d].
    public init(anchors: Tensor, configuration: Configuration = .init()) {
        precondition(anchors.rank == 2 && anchors.shape[0] >= 2, "CAMLoss: anchors must be [t ≥ 2, d]")
        self.anchors = anchors
        self.configuration = configuration
    }

    // MARK: - Forward and backward

    /// embeddings [B, d], labels [B] → L, dL/de [B, d], dL/dC [t, d]
    public func evaluate(embeddings: Tensor, labels: [Int]) -> LossEvaluation {
        let t = anchors.shape[0], d = anchors.shape[1], batch = embeddings.shape[0]
        validateBatch(embeddings, labels, classes: t, loss: "CAMLoss")
        precondition(embeddings.shape[1] == d, "CAMLoss: embedding width \(embeddings.shape[1]) ≠ anchor width \(d)")
        let cfg = configuration
        var gradE = [Float](repeating: 0, count: batch * d)
        var gradC = [Float](repeating: 0, count: t * d)
        let c = anchors.storage, e = embeddings.storage

        // Attractor: ½‖e_b − c_{y_b}‖²; d/de_b = (e_b − c_y)·s, d/dc_y = −(e_b − c_y)·s.
        var attractor: Float = 0
        let aScale = cfg.attractorWeight / (cfg.attractorReduction == .mean ? Float(max(batch, 1)) : 1)
        for b in 0..<batch {
            let y = labels[b]
            for k in 0..<d {
                let diff = e[b * d + k] - c[y * d + k]
                attractor += 0.5 * diff * diff
                gradE[b * d + k] = aScale * diff
                gradC[y * d + k] -= aScale * diff
            }
        }
        attractor *= aScale

        // Repeller over ordered pairs i≠j: each unordered pair appears twice, so with the ½ the
        // sum equals Σ_{i<j} h², h = max(0, 2m − D); d/dc_i = −2h·(c_i − c_j)/D per unordered pair.
        var repeller: Float = 0
        let pairs = Float(max(t * (t - 1), 1))
        let rScale = cfg.repellerWeight / (cfg.repellerReduction == .mean ? pairs : 1)
        let twoM = 2 * cfg.margin
        for i in 0..<t {
            for j in (i + 1)..<t {
                var dist2: Float = 0
                for k in 0..<d { let diff = c[i * d + k] - c[j * d + k]; dist2 += diff * diff }
                let dist = dist2.squareRoot()
                let h = twoM - dist
                guard h > 0 else { continue }
                repeller += h * h
                // At coincident anchors the direction is undefined; no gradient is the safe subgradient.
                guard dist > 1e-12 else { continue }
                let g = -2 * h / dist * rScale
                for k in 0..<d {
                    let diff = c[i * d + k] - c[j * d + k]
                    gradC[i * d + k] += g * diff
                    gradC[j * d + k] -= g * diff
                }
            }
        }
        repeller *= rScale

        // Minimum norm: max(0, p − ‖c_i‖); d/dc_i = −c_i/‖c_i‖ while active.
        var normTerm: Float = 0
        let nScale = cfg.normWeight / (cfg.normReduction == .mean ? Float(t) : 1)
        for i in 0..<t {
            var n2: Float = 0
            for k in 0..<d { n2 += c[i * d + k] * c[i * d + k] }
            let n = n2.squareRoot()
            guard cfg.minimumNorm - n > 0 else { continue }
            normTerm += cfg.minimumNorm - n
            guard n > 1e-12 else { continue }
            for k in 0..<d { gradC[i * d + k] -= nScale * c[i * d + k] / n }
        }
        normTerm *= nScale

        return LossEvaluation(value: attractor + repeller + normTerm,
                              terms: [("attract", attractor), ("repel", repeller), ("norm", normTerm)],
                              embeddingGradient: Tensor(shape: [batch, d], storage: gradE),
                              parameterGradients: [Tensor(shape: [t, d], storage: gradC)])
    }
}

/// A standard normal sample (Box–Muller), deterministic for a seeded generator.
func gaussian(using generator: inout some RandomNumberGenerator) -> Float {
    let u1 = Float.random(in: Float.ulpOfOne..<1, using: &generator)
    let u2 = Float.random(in: 0..<1, using: &generator)
    return (-2 * logf(u1)).squareRoot() * cosf(2 * .pi * u2)
}
