import XCTest
import RADBNeural

/// Backward passes against central finite differences of the scalar loss L = Σ y ⊙ r (r random),
/// whose gradient with respect to y is exactly r.
final class GradientCheckTests: XCTestCase {
    var rng = SeededGenerator(seed: 7)

    func randn(_ shape: [Int], std: Float = 1) -> Tensor { Tensor.randomNormal(shape: shape, std: std, using: &rng) }

    func loss(_ y: Tensor, _ r: Tensor) -> Double {
        zip(y.storage, r.storage).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Compares `analytic` with finite differences of `f` at up to `samples` coordinates of `x`.
    func check(_ name: String, _ x: Tensor, analytic: Tensor, eps: Float = 1e-2, tolerance: Double = 2e-2,
               samples: Int = 40, _ f: (Tensor) -> Double) {
        XCTAssertEqual(analytic.shape, x.shape, name)
        let step = max(1, x.count / samples)
        var worst = 0.0
        for i in Swift.stride(from: 0, to: x.count, by: step) {
            var plus = x, minus = x
            plus.storage[i] += eps
            minus.storage[i] -= eps
            let numeric = (f(plus) - f(minus)) / (2 * Double(eps))
            let error = abs(numeric - Double(analytic.storage[i])) / max(1, abs(numeric))
            worst = max(worst, error)
            XCTAssertLessThan(error, tolerance, "\(name)[\(i)]: numeric \(numeric), analytic \(analytic.storage[i])")
        }
        print("gradient check \(name): worst relative error \(worst)")
    }

    func testConv2DGradients() {
        let cases: [(Int, Int, Padding)] = [(3, 1, .same), (3, 2, .same), (1, 1, .valid), (3, 2, .symmetric(1)), (1, 2, .valid)]
        for (k, s, p) in cases {
            let x = randn([2, 5, 6, 3]), conv = Conv2D(weight: randn([k, k, 3, 4]), bias: randn([4]), stride: s, padding: p)
            let r = randn(conv.forward(x).shape)
            let g = conv.backward(input: x, gradOutput: r)
            let tag = "conv k\(k) s\(s) \(p)"
            check("\(tag) dx", x, analytic: g.input) { loss(conv.forward($0), r) }
            check("\(tag) dW", conv.weight, analytic: g.weight) { w in
                var c = conv; c.weight = w; return loss(c.forward(x), r)
            }
            check("\(tag) db", conv.bias, analytic: g.bias) { b in
                var c = conv; c.bias = b; return loss(c.forward(x), r)
            }
        }
    }

    func testDepthwiseGradients() {
        for s in [1, 2] {
            let x = randn([2, 5, 6, 20]), dw = DepthwiseConv2D(weight: randn([3, 3, 20]), bias: randn([20]), stride: s)
            let r = randn(dw.forward(x).shape)
            let g = dw.backward(input: x, gradOutput: r)
            check("depthwise s\(s) dx", x, analytic: g.input) { loss(dw.forward($0), r) }
            check("depthwise s\(s) dW", dw.weight, analytic: g.weight) { w in var d = dw; d.weight = w; return loss(d.forward(x), r) }
            check("depthwise s\(s) db", dw.bias, analytic: g.bias) { b in var d = dw; d.bias = b; return loss(d.forward(x), r) }
        }
    }

    func testBatchNormTrainingGradients() {
        let x = randn([3, 4, 4, 5], std: 2)
        var bn = BatchNorm2D(channels: 5)
        bn.gamma = randn([5]); bn.beta = randn([5])
        let r = randn(x.shape)
        var probe = bn
        let (_, cache) = probe.forwardTraining(x)
        let g = bn.backward(cache: cache, gradOutput: r)
        func f(_ t: Tensor, _ gamma: Tensor? = nil, _ beta: Tensor? = nil) -> Double {
            var b = bn
            if let gamma { b.gamma = gamma }
            if let beta { b.beta = beta }
            return loss(b.forwardTraining(t).output, r)
        }
        check("batchnorm dx", x, analytic: g.input, eps: 5e-3, tolerance: 3e-2) { f($0) }
        check("batchnorm dγ", bn.gamma, analytic: g.gamma) { f(x, $0) }
        check("batchnorm dβ", bn.beta, analytic: g.beta) { f(x, nil, $0) }
        // Running statistics moved towards the batch statistics by `momentum`.
        XCTAssertNotEqual(probe.runningMean, bn.runningMean)
    }

    func testActivationPoolingAndAddGradients() {
        // Keep inputs away from the kinks (0 and 6) so finite differences are well defined.
        var x = randn([2, 6, 6, 3], std: 3)
        for i in x.storage.indices where abs(x.storage[i]) < 0.05 || abs(x.storage[i] - 6) < 0.05 { x.storage[i] += 0.2 }
        for act in [Activation.relu, .relu6] {
            let r = randn(x.shape)
            check("\(act)", x, analytic: act.backward(input: x, gradOutput: r)) { loss(act.forward($0), r) }
        }
        let cases: [(Int, Int, Padding)] = [(3, 2, .same), (2, 2, .valid), (3, 2, .symmetric(1))]
        for (k, s, p) in cases {
            let avg = AvgPool2D(kernel: k, stride: s, padding: p), mx = MaxPool2D(kernel: k, stride: s, padding: p)
            let r = randn(avg.forward(x).shape)
            check("avgpool k\(k) s\(s)", x, analytic: avg.backward(input: x, gradOutput: r)) { loss(avg.forward($0), r) }
            check("maxpool k\(k) s\(s)", x, analytic: mx.backward(input: x, gradOutput: r), eps: 1e-3) { loss(mx.forward($0), r) }
        }
        let r = randn([2, 3])
        check("global avg pool", x, analytic: GlobalAvgPool.backward(input: x, gradOutput: r)) { loss(GlobalAvgPool.forward($0), r) }
        let b = randn(x.shape), ry = randn(x.shape)
        let (da, db) = ResidualAdd.backward(gradOutput: ry)
        check("add da", x, analytic: da) { loss(ResidualAdd.forward($0, b), ry) }
        check("add db", b, analytic: db) { loss(ResidualAdd.forward(x, $0), ry) }
    }
}
