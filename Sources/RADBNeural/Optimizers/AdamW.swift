import Foundation

/// Adam with decoupled weight decay (Loshchilov & Hutter), matching `torch.optim.AdamW`.
///
///     w ← w·(1 − lr·λ);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
///     w ← w − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)
public struct AdamW: Optimizer {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    private var m: [[Float]] = []
    private var v: [[Float]] = []
    private var stepCount: Int = 0

    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// [step count] followed by every first moment, then every second moment.
    public var state: [Tensor] {
        get {
            [Tensor(shape: [1], storage: [Float(stepCount)])]
                + m.map { Tensor(shape: [$0.count], storage: $0) } + v.map { Tensor(shape: [$0.count], storage: $0) }
        }
        set {
            stepCount = newValue.isEmpty ? 0 : Int(newValue[0].storage[0])
            let rest = newValue.dropFirst()
            let half = rest.count / 2
            m = rest.prefix(half).map(\.storage)
            v = rest.suffix(half).map(\.storage)
        }
    }

    public mutating func step(parameters: inout [Tensor], gradients: [Tensor], learningRate: Float) {
        precondition(parameters.count == gradients.count, "AdamW: \(parameters.count) parameters, \(gradients.count) gradients")
        if m.isEmpty {
            m = parameters.map { [Float](repeating: 0, count: $0.count) }
            v = m
        }
        stepCount += 1
        let b1 = beta1, b2 = beta2, eps = epsilon, lr = learningRate
        let c1 = 1 - powf(b1, Float(stepCount)), c2 = 1 - powf(b2, Float(stepCount))
        let decay = 1 - lr * weightDecay
        for p in parameters.indices {
            precondition(parameters[p].count == gradients[p].count && m[p].count == gradients[p].count,
                         "AdamW: shape of parameter \(p) changed")
            gradients[p].storage.withUnsafeBufferPointer { g in
                m[p].withUnsafeMutableBufferPointer { mp in
                    v[p].withUnsafeMutableBufferPointer { vp in
                        parameters[p].storage.withUnsafeMutableBufferPointer { w in
                            for i in 0..<w.count {
                                w[i] *= decay
                                mp[i] = b1 * mp[i] + (1 - b1) * g[i]
                                vp[i] = b2 * vp[i] + (1 - b2) * g[i] * g[i]
                                w[i] -= lr * (mp[i] / c1) / ((vp[i] / c2).squareRoot() + eps)
                            }
                        }
                    }
                }
            }
        }
    }
}
