import RADBNeural
import RADBTraining
import XCTest

final class OptimizerTests: XCTestCase {
    /// Values computed by hand from torch.optim.SGD's update rule.
    func testSGDMomentumAndWeightDecayMatchTorchRule() {
        var sgd = SGD(momentum: 0.9, weightDecay: 0.1)
        var p = [Tensor(shape: [1], storage: [1])]
        sgd.step(parameters: &p, gradients: [Tensor(shape: [1], storage: [0.5])], learningRate: 0.1)
        // g = 0.5 + 0.1·1 = 0.6; v = 0.6; w = 1 − 0.06 = 0.94
        XCTAssertEqual(p[0].storage[0], 0.94, accuracy: 1e-6)
        sgd.step(parameters: &p, gradients: [Tensor(shape: [1], storage: [0.5])], learningRate: 0.1)
        // g = 0.5 + 0.094 = 0.594; v = 0.54 + 0.594 = 1.134; w = 0.94 − 0.1134 = 0.8266
        XCTAssertEqual(p[0].storage[0], 0.8266, accuracy: 1e-6)
    }

    func testAdamWFirstStepMovesByLearningRateAndDecays() {
        var adam = AdamW(weightDecay: 0.1)
        var p = [Tensor(shape: [2], storage: [1, -2])]
        adam.step(parameters: &p, gradients: [Tensor(shape: [2], storage: [3, -0.001])], learningRate: 0.01)
        // First bias-corrected step is lr·sign(g) (ε negligible), after decoupled decay w·(1 − lr·λ).
        XCTAssertEqual(p[0].storage[0], 1 * 0.999 - 0.01, accuracy: 1e-5)
        XCTAssertEqual(p[0].storage[1], -2 * 0.999 + 0.01, accuracy: 1e-5)
    }

    func testAdamWMinimisesAQuadratic() {
        var adam = AdamW(weightDecay: 0)
        var p = [Tensor(shape: [3], storage: [5, -3, 2])]
        for _ in 0..<2000 {
            adam.step(parameters: &p, gradients: [Tensor(shape: [3], storage: p[0].storage.map { 2 * $0 })], learningRate: 0.05)
        }
        XCTAssertTrue(p[0].storage.allSatisfy { abs($0) < 1e-2 }, "\(p[0].storage)")
    }

    func testSchedules() {
        let cosine = LearningRateSchedule.cosine(warmupSteps: 10, totalSteps: 110, minimumFactor: 0)
        XCTAssertEqual(cosine.rate(base: 1, step: 0), 0.1, accuracy: 1e-6)
        XCTAssertEqual(cosine.rate(base: 1, step: 9), 1, accuracy: 1e-6)
        XCTAssertEqual(cosine.rate(base: 1, step: 60), 0.5, accuracy: 1e-6)
        XCTAssertEqual(cosine.rate(base: 1, step: 110), 0, accuracy: 1e-6)
        let step = LearningRateSchedule.step(stepSize: 10, gamma: 0.1)
        XCTAssertEqual(step.rate(base: 1, step: 9), 1)
        XCTAssertEqual(step.rate(base: 1, step: 25), 0.01, accuracy: 1e-7)
    }

    func testSeededGeneratorIsReproducibleAndRestorable() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7), c = SeededGenerator(seed: 8)
        let seqA = (0..<5).map { _ in a.next() }
        XCTAssertEqual(seqA, (0..<5).map { _ in b.next() })
        XCTAssertNotEqual(seqA, (0..<5).map { _ in c.next() })
        var restored = SeededGenerator(stateWords: a.stateWords)
        XCTAssertEqual(a.next(), restored.next())
    }
}
