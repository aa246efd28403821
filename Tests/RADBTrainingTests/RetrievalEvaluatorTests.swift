import RADBNeural
import RADBTraining
import XCTest

final class RetrievalEvaluatorTests: XCTestCase {
    func set(_ points: [Float], labels: [Int], classes: Int = 2) throws -> LabeledFeatures {
        try LabeledFeatures(features: Tensor(shape: [labels.count, points.count / labels.count], storage: points),
                            labels: labels, classNames: (0..<classes).map { "c\($0)" })
    }

    /// 1-D database at 1, 2, 3, 4, 5 with classes A B A B A; query at 0 of class A ranks them
    /// 1,2,3,4,5 → relevance 1 0 1 0 1 → AP = (1/1 + 2/3 + 3/5)/3 = 0.7555…
    func testMeanAveragePrecisionAndPrecisionMatchHandComputation() throws {
        let db = try set([1, 2, 3, 4, 5], labels: [0, 1, 0, 1, 0])
        // Second query at 6 (class B) ranks 5,4,3,2,1 → relevance 0 1 0 1 0 → AP = (1/2 + 2/4)/2 = 0.5
        let q = try set([0, 6], labels: [0, 1])
        let r = RetrievalEvaluator.evaluate(database: db, queries: q)
        XCTAssertEqual(r.meanAveragePrecision, ((1 + 2.0 / 3 + 3.0 / 5) / 3 + 0.5) / 2, accuracy: 1e-9)
        // P@10 counts hits in the top 10 over 10 even with only 5 items: (3 + 2)/10 / 2
        XCTAssertEqual(r.precisionAt10, (0.3 + 0.2) / 2, accuracy: 1e-9)
        XCTAssertEqual(r.precisionAt100, (0.03 + 0.02) / 2, accuracy: 1e-9)
        XCTAssertNil(r.twoStage)
    }

    func testPerfectSeparationGivesOneAndTwoStageMatchesExact() throws {
        // Two tight clusters far apart, anchors at the cluster centres.
        var points = [Float](), labels = [Int]()
        for i in 0..<200 { points += [Float(i % 7) * 0.01, Float(i % 5) * 0.01]; labels.append(0) }
        for i in 0..<200 { points += [10 + Float(i % 3) * 0.01, 10 + Float(i % 11) * 0.01]; labels.append(1) }
        let db = try set(points, labels: labels)
        let q = try set([0.02, 0.01, 10.01, 10.02, 0.03, 0.0], labels: [0, 1, 0])
        let anchors = Tensor(shape: [2, 2], storage: [0, 0, 10, 10])
        let r = RetrievalEvaluator.evaluate(database: db, queries: q, anchors: anchors, k: 100)
        // Queries 0 and 1 are perfect; query 2 (class 0 label, near cluster 0) also perfect.
        XCTAssertEqual(r.meanAveragePrecision, 1, accuracy: 1e-9)
        XCTAssertEqual(r.precisionAt100, 1, accuracy: 1e-9)
        XCTAssertEqual(r.anchorAccuracy ?? 0, 1, accuracy: 1e-9)
        let two = try XCTUnwrap(r.twoStage)
        XCTAssertEqual(two.meanAveragePrecision, r.meanAveragePrecision, accuracy: 1e-12)
        XCTAssertEqual(two.recallOfExactTopK, 1, accuracy: 1e-12)
        // One partition of 200 plus 2 anchors instead of 400 distances.
        XCTAssertEqual(two.distanceComputations, 202, accuracy: 1e-9)
        XCTAssertEqual(two.exactDistanceComputations, 400)
    }

    /// A query whose nearest anchor is the wrong class: the two-stage ranking puts the wrong
    /// partition first even when closer relevant items sit in the other partition.
    func testTwoStageRankingOrdersByAnchorRankThenDistance() throws {
        // 1-D: class 0 at 0, 1; class 1 at 3, 4. Anchors: class 0 at −10 (far), class 1 at 3.
        let db = try set([0, 1, 3, 4], labels: [0, 0, 1, 1])
        let q = try set([2.2], labels: [0])
        let anchors = Tensor(shape: [2, 1], storage: [-10, 3])
        let r = RetrievalEvaluator.evaluate(database: db, queries: q, anchors: anchors, k: 2)
        // Items assigned: 0,1 → anchor 1? No: |0−(−10)|=10 vs |0−3|=3 → anchor 1. Every item goes to anchor 1,
        // so the two-stage ranking equals exact: 3 (0.8), 1 (1.2), 4 (1.8), 0 (2.2) → rel 0 1 0 1.
        XCTAssertEqual(r.meanAveragePrecision, (1.0 / 2 + 2.0 / 4) / 2, accuracy: 1e-9)
        XCTAssertEqual(r.twoStage!.meanAveragePrecision, r.meanAveragePrecision, accuracy: 1e-12)
        XCTAssertEqual(r.anchorAccuracy, 0)

        // Anchors at 0.5 and 3.5 split the items 2/2; the query at 2.2 is nearer anchor 1 (3.5):
        // two-stage order 3 (0.8), 4 (1.8), then 1 (1.2), 0 (2.2) → rel 0 0 1 1 → AP = (1/3 + 2/4)/2.
        let split = RetrievalEvaluator.evaluate(database: db, queries: q, anchors: Tensor(shape: [2, 1], storage: [0.5, 3.5]), k: 2)
        XCTAssertEqual(split.twoStage!.meanAveragePrecision, (1.0 / 3 + 2.0 / 4) / 2, accuracy: 1e-9)
        // Exact top-2 = {3, 1}; two-stage top-2 = {3, 4} → recall 0.5.
        XCTAssertEqual(split.twoStage!.recallOfExactTopK, 0.5, accuracy: 1e-12)
    }

    func testClassMeans() throws {
        let s = try set([0, 0, 2, 2, 10, 10], labels: [0, 0, 1])
        XCTAssertEqual(RetrievalEvaluator.classMeans(of: s).storage, [1, 1, 10, 10])
    }
}
