import XCTest
import RADBIndex

final class KMeansTests: XCTestCase {
    func testSameSeedGivesSameAnchorsAndOtherSeedDiffers() throws {
        let (points, _, _) = TestData.blobs(count: 3000, clusters: 10, dimension: 12, seed: 41)
        var config = KMeansConfiguration(anchorCount: 10)
        config.seed = 77
        let a = try AnchorRouter.train(vectors: points, dimension: 12, configuration: config)
        let b = try AnchorRouter.train(vectors: points, dimension: 12, configuration: config)
        XCTAssertEqual(a.anchors, b.anchors)
        config.parallelism = .serial
        XCTAssertEqual(try AnchorRouter.train(vectors: points, dimension: 12, configuration: config).anchors, a.anchors)
        config.seed = 78
        config.iterations = 0  // seeding only: a different seed picks different points
        XCTAssertNotEqual(try AnchorRouter.train(vectors: points, dimension: 12, configuration: config).anchors, a.anchors)
    }

    func testRecoversWellSeparatedBlobs() throws {
        let d = 8, clusters = 6
        let (points, labels, centres) = TestData.blobs(count: 1200, clusters: clusters, dimension: d, seed: 42,
                                                       centreSpread: 20, noise: 0.5)
        var config = KMeansConfiguration(anchorCount: clusters, iterations: 20)
        config.seed = 3
        let router = try AnchorRouter.train(vectors: points, dimension: d, configuration: config)
        let assignment = try router.nearestAnchors(of: points)
        // Each blob lands in exactly one anchor, and distinct blobs in distinct anchors.
        var anchorOfBlob = [Int32: Int32]()
        for (i, a) in assignment.enumerated() {
            let blob = Int32(labels[i])
            if let seen = anchorOfBlob[blob] { XCTAssertEqual(seen, a, "blob \(blob) split") } else { anchorOfBlob[blob] = a }
        }
        XCTAssertEqual(Set(anchorOfBlob.values).count, clusters)
        // Each anchor sits at its blob's centre, within the noise of a 200-point mean.
        for (blob, anchor) in anchorOfBlob {
            let centre = TestData.row(centres, Int(blob), d)
            let dist = zip(router.anchor(Int(anchor)), centre).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
            XCTAssertLessThan(dist, 0.05, "anchor \(anchor) is \(dist) from blob \(blob)'s centre")
        }
    }

    func testNearestAnchorAssignmentMatchesNaiveLoop() throws {
        let d = 10
        let anchors = TestData.gaussian(count: 37, dimension: d, seed: 43)
        let router = try AnchorRouter(anchors: anchors, dimension: d)
        let points = TestData.gaussian(count: 5000, dimension: d, seed: 44)
        let assigned = try router.nearestAnchors(of: points, parallelism: .workers(2))
        var disagreements = 0
        for i in 0..<5000 {
            let best = TestData.bruteForce(query: TestData.row(points, i, d), vectors: anchors,
                                           ids: (0..<UInt64(37)).map { $0 }, dimension: d, k: 2)
            // The GEMM form may only disagree on near-ties between the two nearest anchors.
            if Int(assigned[i]) != Int(best[0].id) {
                disagreements += 1
                XCTAssertLessThan(best[1].distance - best[0].distance, 1e-4)
            }
        }
        XCTAssertLessThan(disagreements, 3)
        XCTAssertEqual(try router.rankAnchors(for: TestData.row(anchors, 11, d), limit: 1), [11])
        let ranking = try router.rankAnchors(for: TestData.row(points, 0, d))
        XCTAssertEqual(ranking.count, 37)
        XCTAssertEqual(Set(ranking).count, 37)
        XCTAssertEqual(ranking[0], Int(assigned[0]))
    }

    func testTrainingRejectsBadInput() {
        let config = KMeansConfiguration(anchorCount: 5)
        XCTAssertThrowsError(try AnchorRouter.train(vectors: [Float](repeating: 1, count: 12), dimension: 4,
                                                    configuration: config)) { error in
            guard case IndexError.invalidAnchors = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("at least one vector per anchor"))
        }
        var points = TestData.gaussian(count: 50, dimension: 4, seed: 45)
        points[17] = .nan
        XCTAssertThrowsError(try AnchorRouter.train(vectors: points, dimension: 4, configuration: config)) { error in
            XCTAssertEqual(error as? IndexError, .nonFiniteValue(what: "training vectors", index: 17))
        }
        XCTAssertThrowsError(try AnchorRouter.train(vectors: Array(points.prefix(10)), dimension: 3, configuration: config))
        var cancelled = false
        XCTAssertThrowsError(try AnchorRouter.train(vectors: TestData.gaussian(count: 50, dimension: 4, seed: 46),
                                                    dimension: 4, configuration: config,
                                                    progress: { _, _ in cancelled = true; return false })) { error in
            guard case IndexError.cancelled = error else { return XCTFail("\(error)") }
        }
        XCTAssertTrue(cancelled)
    }
}
