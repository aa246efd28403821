import RADBNeural
import RADBTraining
import XCTest

/// Finite-difference checks of every loss and of the head's backward pass. Central differences
/// in Double around Float computations: step 2e-3 on values of order 1 keeps the rounding error
/// (~1e-7/2e-3) far below the tolerance while the curvature error stays small.
final class GradientCheckTests: XCTestCase {
    var rng = SeededGenerator(seed: 42)

    func randomTensor(_ shape: [Int], scale: Float = 1) -> Tensor {
        Tensor(shape: shape, storage: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -scale...scale, using: &rng) })
    }

    /// Compares `analytic` with central differences of `f` for every coordinate of `x`.
    func check(_ name: String, _ x: Tensor, analytic: Tensor, tolerance: Double = 2e-2, _ f: (Tensor) -> Float) {
        XCTAssertEqual(x.shape, analytic.shape, name)
        let h: Float = 2e-3
        var worst = 0.0
        for i in 0..<x.count {
            var plus = x, minus = x
            plus.storage[i] += h
            minus.storage[i] -= h
            let numeric = (Double(f(plus)) - Double(f(minus))) / (2 * Double(h))
            let error = abs(numeric - Double(analytic.storage[i])) / max(1, abs(numeric))
            worst = max(worst, error)
        }
        XCTAssertLessThan(worst, tolerance, "\(name): worst relative gradient error \(worst)")
    }

    func checkLoss(_ loss: some EmbeddingLoss, batch: Int = 8, d: Int = 5, classes: Int = 3) {
        let e = randomTensor([batch, d])
        let labels = (0..<batch).map { $0 % classes }
        let ev = loss.evaluate(embeddings: e, labels: labels)
        XCTAssertTrue(ev.value.isFinite)
        XCTAssertGreaterThan(ev.value, 0, "\(loss.name) should be active on random inputs")
        check("\(loss.name) dL/de", e, analytic: ev.embeddingGradient) { loss.evaluate(embeddings: $0, labels: labels).value }
        for p in loss.parameters.indices {
            check("\(loss.name) dL/d\(loss.parameterNames[p])", loss.parameters[p], analytic: ev.parameterGradients[p]) { value in
                var copy = loss
                copy.parameters[p] = value
                return copy.evaluate(embeddings: e, labels: labels).value
            }
        }
    }

    func testCAMLossGradients() {
        // Anchors close together and small so the repeller and the norm term are active.
        var config = CAMLoss.Configuration()
        config.margin = 1.5
        config.minimumNorm = 1.2
        let loss = CAMLoss(anchors: randomTensor([3, 5], scale: 0.5), configuration: config)
        let ev = loss.evaluate(embeddings: randomTensor([8, 5]), labels: (0..<8).map { $0 % 3 })
        XCTAssertEqual(ev.terms.map(\.name), ["attract", "repel", "norm"])
        XCTAssertTrue(ev.terms.allSatisfy { $0.value > 0 }, "every CAM term must be active here: \(ev.terms)")
        checkLoss(loss)
    }

    func testCAMLossWithSumAndMeanReductionsAndWeights() {
        var config = CAMLoss.Configuration()
        config.attractorReduction = .sum
        config.repellerReduction = .mean
        config.normReduction = .mean
        config.attractorWeight = 0.5
        config.repellerWeight = 2
        config.normWeight = 3
        config.margin = 2
        checkLoss(CAMLoss(anchors: randomTensor([3, 5], scale: 0.4), configuration: config))
    }

    func testCAMLossMatchesHandComputedValue() {
        // Two 1-D anchors at 0.25 and -0.25 (distance 0.5), one embedding 1.25 of class 0.
        // L_A = ½·1² = 0.5; L_R = (2 − 0.5)² = 2.25; L_N = 2·(1 − 0.25) = 1.5.
        let loss = CAMLoss(anchors: Tensor(shape: [2, 1], storage: [0.25, -0.25]))
        let ev = loss.evaluate(embeddings: Tensor(shape: [1, 1], storage: [1.25]), labels: [0])
        XCTAssertEqual(ev.terms[0].value, 0.5, accuracy: 1e-6)
        XCTAssertEqual(ev.terms[1].value, 2.25, accuracy: 1e-6)
        XCTAssertEqual(ev.terms[2].value, 1.5, accuracy: 1e-6)
        XCTAssertEqual(ev.value, 4.25, accuracy: 1e-6)
    }

    func testCrossEntropyGradients() { checkLoss(CrossEntropyLoss(classes: 3, dimension: 5, using: &rng)) }

    func testContrastiveGradients() { checkLoss(ContrastiveLoss(margin: 2.5)) }

    func testTripletGradients() { checkLoss(TripletLoss(margin: 1)) }

    func testCentreLossGradients() {
        var loss = CenterLoss(classes: 3, dimension: 5, centreWeight: 0.5, using: &rng)
        loss.centres = randomTensor([3, 5])
        checkLoss(loss)
    }

    func testLinearAndMLPHeadGradients() {
        let head = EmbeddingHead(widths: [6, 7, 4], using: &rng)
        let x = randomTensor([5, 6])
        let target = randomTensor([5, 4])
        // L = ½‖head(x) − target‖², so dL/de = e − target.
        func lossOf(_ h: EmbeddingHead, _ input: Tensor) -> Float {
            zip(h(input).storage, target.storage).reduce(0) { $0 + 0.5 * ($1.0 - $1.1) * ($1.0 - $1.1) }
        }
        let acts = head.forwardKeepingActivations(x)
        var dy = acts.last!
        for i in 0..<dy.count { dy.storage[i] -= target.storage[i] }
        let grads = head.backward(activations: acts, outputGradient: dy)
        check("head dL/dx", x, analytic: grads.input) { lossOf(head, $0) }
        for p in head.parameters.indices {
            check("head dL/d\(head.parameterNames[p])", head.parameters[p], analytic: grads.parameters[p]) { value in
                var copy = head
                copy.parameters[p] = value
                return lossOf(copy, x)
            }
        }
    }

    func testLinearUsesTorchLayout() {
        // y = x·Wᵀ + b with W [out=2, in=3].
        let layer = Linear(weight: Tensor(shape: [2, 3], storage: [1, 2, 3, 4, 5, 6]), bias: Tensor(shape: [2], storage: [0.5, -1]))
        let y = layer.forward(Tensor(shape: [1, 3], storage: [1, 0, -1]))
        XCTAssertEqual(y.storage, [1 - 3 + 0.5, 4 - 6 - 1])
    }
}
