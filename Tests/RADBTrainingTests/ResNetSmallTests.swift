import Foundation
import RADBNeural
import RADBTraining
import XCTest

/// Mode (b): the small ResNet's backward pass against finite differences, and real training steps.
final class ResNetSmallTests: XCTestCase {
    func testResNetSmallGradientsMatchFiniteDifferences() {
        var rng = SeededGenerator(seed: 5)
        let net = ResNetSmall(inChannels: 2, widths: [3, 4], embeddingDimension: 3, using: &rng)
        let x = Tensor(shape: [3, 6, 6, 2], storage: (0..<(3 * 6 * 6 * 2)).map { _ in Float.random(in: -1...1, using: &rng) })
        let target = Tensor(shape: [3, 3], storage: (0..<9).map { _ in Float.random(in: -1...1, using: &rng) })
        // L = ½‖e − target‖² with batch-statistics batch norm.
        func loss(_ n: ResNetSmall) -> Double {
            var copy = n
            let e = copy.forwardTraining(x).output
            return zip(e.storage, target.storage).reduce(0.0) { $0 + 0.5 * Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
        }
        var copy = net
        let (e, cache) = copy.forwardTraining(x)
        var de = e
        for i in 0..<de.count { de.storage[i] -= target.storage[i] }
        let grads = net.backward(cache: cache, outputGradient: de)
        XCTAssertEqual(grads.count, net.parameters.count)
        let h: Float = 1e-2
        var worst = 0.0
        for p in net.parameters.indices {
            // A few coordinates per tensor keep the check fast.
            for i in Swift.stride(from: 0, to: net.parameters[p].count, by: max(1, net.parameters[p].count / 5)) {
                var plus = net, minus = net
                var pp = plus.parameters; pp[p].storage[i] += h; plus.parameters = pp
                var mp = minus.parameters; mp[p].storage[i] -= h; minus.parameters = mp
                let numeric = (loss(plus) - loss(minus)) / (2 * Double(h))
                worst = max(worst, abs(numeric - Double(grads[p].storage[i])) / max(1, abs(numeric)))
            }
        }
        XCTAssertLessThan(worst, 3e-2, "worst relative gradient error \(worst)")
    }

    func testScratchTrainingStepsReduceCAMLossOnRealImagesNeedsFashionMNIST() throws {
        let dir = FashionMNIST.defaultDirectory
        guard FileManager.default.fileExists(atPath: dir + "/train-labels-idx1-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not installed at \(dir) (apt-get install -y dataset-fashion-mnist)")
        }
        BLASThreads.set(1)  // tiny GEMMs: threads only add hand-off cost on a busy machine
        let data = try FashionMNIST.load(split: "train", limit: 32)
        var config = TrainerConfiguration()
        config.embeddingDimension = 8
        config.learningRate = 3e-3
        var trainer = ScratchTrainer(configuration: config, imageSize: 28, channels: 1)
        trainer.widths = [4, 8]
        var (net, loss, optimizer, _) = trainer.makeModel(classes: 10)
        let x = Tensor(shape: [32, 28, 28, 1], storage: data.features.storage)
        var first: Float = 0, last: Float = 0
        for s in 0..<10 {
            let ev = ScratchTrainer.step(net: &net, loss: &loss, optimizer: &optimizer, x: x, labels: data.labels, learningRate: 3e-3)
            if s == 0 { first = ev.value }
            last = ev.value
        }
        XCTAssertLessThan(last, first * 0.8, "CAM loss \(first) → \(last)")
    }
}
