import XCTest
import RADBNeural

/// The ResNetSmall training step on its reusable workspace: SIMD-width batch norm (channel counts
/// that are multiples of 8 take the vector path) against finite differences, batch slices run
/// concurrently (lanes = 2) against a single lane, and a reused workspace against a fresh one.
final class ResNetTrainingStepTests: XCTestCase {
    var rng = SeededGenerator(seed: 11)

    func randn(_ shape: [Int], std: Float = 1) -> Tensor { Tensor.randomNormal(shape: shape, std: std, using: &rng) }

    func maxRelativeDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1) / max(1, abs($1.0))) }
    }

    func testBatchNormSixteenChannelsMatchesStatisticsAndFiniteDifferences() {
        // Offset mean (5) on purpose: the one-pass variance must stay accurate away from zero.
        let x = randn([4, 5, 5, 16], std: 2)
        var shifted = x
        for i in shifted.storage.indices { shifted.storage[i] += 5 }
        var bn = BatchNorm2D(channels: 16)
        bn.gamma = randn([16]); bn.beta = randn([16])
        var probe = bn
        let (y, cache) = probe.forwardTraining(shifted)
        // Per channel, y has mean β and standard deviation |γ| (biased, up to ε).
        let m = x.count / 16
        for c in 0..<16 {
            var mean = 0.0, sq = 0.0
            for r in 0..<m { mean += Double(y.storage[r * 16 + c]) }
            mean /= Double(m)
            for r in 0..<m { let d = Double(y.storage[r * 16 + c]) - mean; sq += d * d }
            XCTAssertEqual(mean, Double(bn.beta.storage[c]), accuracy: 1e-4)
            XCTAssertEqual((sq / Double(m)).squareRoot(), Double(abs(bn.gamma.storage[c])), accuracy: 2e-3)
        }
        let r = randn(x.shape)
        let g = bn.backward(cache: cache, gradOutput: r)
        func loss(_ t: Tensor) -> Double {
            var b = bn
            return zip(b.forwardTraining(t).output.storage, r.storage).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        var worst: Float = 0
        for i in Swift.stride(from: 0, to: x.count, by: 37) {
            var plus = shifted, minus = shifted
            plus.storage[i] += 1e-2; minus.storage[i] -= 1e-2
            let numeric = Float((loss(plus) - loss(minus)) / 2e-2)
            worst = max(worst, abs(numeric - g.input.storage[i]) / max(1, abs(numeric)))
        }
        XCTAssertLessThan(worst, 3e-2, "batch norm (16 channels) dx: worst relative error \(worst)")
    }

    func testResNetSmallTwoLanesAgreeWithOneLaneAndWorkspaceReuseIsClean() {
        let net = ResNetSmall(inChannels: 3, widths: [8, 16], embeddingDimension: 8, using: &rng)
        let x = randn([6, 8, 8, 3])
        let de = randn([6, 8])
        func step(_ ws: ResNetSmall.TrainingWorkspace) -> (e: [Float], grads: [[Float]], running: [Float]) {
            var copy = net
            let (e, cache) = copy.forwardTraining(x, workspace: ws)
            let grads = copy.backward(cache: cache, outputGradient: de)
            return (e.storage, grads.map(\.storage), copy.stemBN.runningVar.storage + copy.blocks[1].bn2.runningMean.storage)
        }
        let one = step(ResNetSmall.TrainingWorkspace(lanes: 1))
        let reused = ResNetSmall.TrainingWorkspace(lanes: 2)
        // A larger batch first, so the second step runs on buffers that already hold other values.
        var warm = net
        let big = randn([10, 8, 8, 3])
        _ = warm.backward(cache: warm.forwardTraining(big, workspace: reused).cache, outputGradient: randn([10, 8]))
        let two = step(reused)
        XCTAssertLessThan(maxRelativeDifference(one.e, two.e), 1e-4)
        XCTAssertLessThan(maxRelativeDifference(one.running, two.running), 1e-4)
        XCTAssertEqual(one.grads.count, net.parameters.count)
        for (p, (a, b)) in zip(one.grads, two.grads).enumerated() {
            XCTAssertLessThan(maxRelativeDifference(a, b), 1e-3, "parameter \(p)")
        }
        // The gradient is not trivially zero.
        XCTAssertGreaterThan(one.grads[0].map { abs($0) }.max() ?? 0, 1e-4)
        // Same lanes, fresh vs reused workspace: bit-identical.
        let fresh = step(ResNetSmall.TrainingWorkspace(lanes: 2))
        XCTAssertEqual(fresh.e, two.e)
        XCTAssertEqual(fresh.grads, two.grads)
    }

    func testResNetSmallVectorWidthGradientsMatchFiniteDifferences() {
        let net = ResNetSmall(inChannels: 1, widths: [8, 16], embeddingDimension: 4, using: &rng)
        let x = randn([4, 6, 6, 1])
        let r = randn([4, 4])
        func loss(_ n: ResNetSmall) -> Double {
            var copy = n
            return zip(copy.forwardTraining(x).output.storage, r.storage).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        var copy = net
        let (_, cache) = copy.forwardTraining(x)
        let grads = net.backward(cache: cache, outputGradient: r)
        // A small step: with 8–16 channels a larger one flips ReLUs and biases the difference quotient.
        let h: Float = 1e-3
        var worst: Float = 0
        for p in net.parameters.indices {
            for i in Swift.stride(from: 0, to: net.parameters[p].count, by: max(1, net.parameters[p].count / 4)) {
                var plus = net, minus = net
                var pp = plus.parameters; pp[p].storage[i] += h; plus.parameters = pp
                var mp = minus.parameters; mp[p].storage[i] -= h; minus.parameters = mp
                let numeric = Float((loss(plus) - loss(minus)) / (2 * Double(h)))
                let e = abs(numeric - grads[p].storage[i]) / max(1, abs(numeric))
                worst = max(worst, e)
            }
        }
        XCTAssertLessThan(worst, 3e-2, "worst relative gradient error \(worst)")
    }
}

/// Inference folds every batch norm into its convolution; it must equal the layer-by-layer network.
final class ResNetSmallInferenceTests: XCTestCase {
    func testFoldedInferenceMatchesLayerByLayerNetwork() {
        var rng = SeededGenerator(seed: 3)
        var net = ResNetSmall(inChannels: 3, widths: [8, 16, 16], embeddingDimension: 12, using: &rng)
        // Move the running statistics away from (0, 1) with a few training forwards.
        for _ in 0..<3 { _ = net.forwardTraining(Tensor.randomNormal(shape: [5, 12, 12, 3], mean: 0.5, std: 2, using: &rng)) }
        let x = Tensor.randomNormal(shape: [4, 12, 12, 3], std: 1, using: &rng)
        var h = Activation.relu.forward(net.stemBN.forward(net.stem.forward(x)))
        for b in net.blocks {
            let r = Activation.relu.forward(b.bn1.forward(b.conv1.forward(h)))
            let y = b.bn2.forward(b.conv2.forward(r))
            let s = b.shortcut.map { $0.bn.forward($0.conv.forward(h)) } ?? h
            h = Activation.relu.forward(ResidualAdd.forward(y, s))
        }
        let reference = net.fc.forward(GlobalAvgPool.forward(h))
        let folded = net.forward(x)
        XCTAssertEqual(folded.shape, [4, 12])
        let worst = zip(folded.storage, reference.storage).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        XCTAssertLessThan(worst, 1e-4, "folded vs layer-by-layer: max difference \(worst)")
        XCTAssertGreaterThan(reference.storage.map { abs($0) }.max() ?? 0, 1e-2)
    }
}
