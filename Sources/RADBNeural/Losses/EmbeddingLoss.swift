/// A loss on a batch of embeddings and their class labels, possibly with learnable parameters
/// of its own (CAM anchors, a classifier, class centres).
///
/// Every loss returns its value, the value of each named term (for progress output), the
/// gradient with respect to the embeddings and the gradients of its own parameters in the
/// order of `parameters`, so one optimiser step can update head and loss together.
public protocol EmbeddingLoss: Sendable {
    /// Short identifier used in model metadata and on the command line ("cam", "ce", …).
    var name: String { get }
    /// The loss's own learnable tensors (may be empty).
    var parameters: [Tensor] { get set }
    /// Names of `parameters`, as stored in model files and checkpoints.
    var parameterNames: [String] { get }
    /// Settings worth recording in a model file (margin, weights, …), as strings.
    var settings: [String: String] { get }
    /// embeddings [B, d], labels [B] in 0..<classes.
    func evaluate(embeddings: Tensor, labels: [Int]) -> LossEvaluation
}

/// The value and gradients of an `EmbeddingLoss` on one batch.
public struct LossEvaluation: Sendable {
    /// The total loss (sum of weighted terms).
    public var value: Float
    /// Each weighted term, in a fixed order (e.g. attractor, repeller, norm).
    public var terms: [(name: String, value: Float)]
    /// dL/d embeddings, [B, d].
    public var embeddingGradient: Tensor
    /// dL/d parameter, in the order of `EmbeddingLoss.parameters`.
    public var parameterGradients: [Tensor]

    public init(value: Float, terms: [(name: String, value: Float)], embeddingGradient: Tensor, parameterGradients: [Tensor]) {
        self.value = value
        self.terms = terms
        self.embeddingGradient = embeddingGradient
        self.parameterGradients = parameterGradients
    }
}

/// How a loss term combines its per-item (or per-pair) values.
public enum LossReduction: String, Sendable, Codable, CaseIterable {
    case mean
    case sum
}

// MARK: - Shared helpers for the losses

/// Squared Euclidean distance between row `i` of `a` and row `j` of `b` (both row-major, width `d`).
@inline(__always)
func squaredDistance(_ a: UnsafeBufferPointer<Float>, _ i: Int, _ b: UnsafeBufferPointer<Float>, _ j: Int, _ d: Int) -> Float {
    var s: Float = 0
    let ai = i * d, bj = j * d
    for k in 0..<d { let t = a[ai + k] - b[bj + k]; s += t * t }
    return s
}

/// Checks shared by every loss: a 2-D embedding batch whose labels are in range.
func validateBatch(_ embeddings: Tensor, _ labels: [Int], classes: Int?, loss: String) {
    precondition(embeddings.rank == 2, "\(loss): embeddings must be [B, d], got \(embeddings.shape)")
    precondition(labels.count == embeddings.shape[0], "\(loss): \(labels.count) labels for \(embeddings.shape[0]) embeddings")
    if let classes { precondition(labels.allSatisfy { $0 >= 0 && $0 < classes }, "\(loss): label out of 0..<\(classes)") }
}
