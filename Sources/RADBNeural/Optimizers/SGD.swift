/// Stochastic gradient descent with (heavy-ball) momentum and L2 weight decay, matching
/// `torch.optim.SGD(momentum:, weight_decay:)` with dampening 0 and no Nesterov.
///
///     g ← g + λ·w;  v ← μ·v + g;  w ← w − lr·v
public struct SGD: Optimizer {
    public var momentum: Float
    public var weightDecay: Float
    private var velocity: [[Float]] = []

    public init(momentum: Float = 0.9, weightDecay: Float = 0) {
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public var state: [Tensor] {
        get { velocity.map { Tensor(shape: [$0.count], storage: $0) } }
        set { velocity = newValue.map(\.storage) }
    }

    public mutating func step(parameters: inout [Tensor], gradients: [Tensor], learningRate: Float) {
        precondition(parameters.count == gradients.count, "SGD: \(parameters.count) parameters, \(gradients.count) gradients")
        if velocity.isEmpty { velocity = parameters.map { [Float](repeating: 0, count: $0.count) } }
        for p in parameters.indices {
            precondition(parameters[p].count == gradients[p].count && velocity[p].count == gradients[p].count,
                         "SGD: shape of parameter \(p) changed")
            let mu = momentum, wd = weightDecay, lr = learningRate
            gradients[p].storage.withUnsafeBufferPointer { g in
                velocity[p].withUnsafeMutableBufferPointer { v in
                    parameters[p].storage.withUnsafeMutableBufferPointer { w in
                        for i in 0..<w.count {
                            let gi = g[i] + wd * w[i]
                            v[i] = mu * v[i] + gi
                            w[i] -= lr * v[i]
                        }
                    }
                }
            }
        }
    }
}
