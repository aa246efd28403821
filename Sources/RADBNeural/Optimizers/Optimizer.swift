/// Updates a list of parameter tensors from their gradients — the common face of SGD and AdamW
/// so the training loop does not care which one it drives.
///
/// Invariant: `parameters` and `gradients` have the same count, order and shapes on every call;
/// the optimiser keeps per-parameter state slots in that order. `state` exposes those slots so a
/// checkpoint can store and restore them and a resumed run continues bit-identically.
public protocol Optimizer: Sendable {
    mutating func step(parameters: inout [Tensor], gradients: [Tensor], learningRate: Float)
    /// All internal state as tensors (momenta, moments, step count).
    var state: [Tensor] { get set }
}
