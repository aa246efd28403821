import XCTest
import RADBIndex

/// Routed search (`nprobe: n`) must equal brute force over exactly the partitions it probes, and
/// fall back to further partitions when those hold fewer than k vectors.
final class RoutedSearchTests: XCTestCase {
    private let d = 20

    private func fixture(blockCapacity: Int? = nil) throws -> (AnchorIndex<MemoryInvertedLists>, [Float], [UInt64], [Int32]) {
        let n = 3000
        let (points, _, _) = TestData.blobs(count: n, clusters: 30, dimension: d, seed: 21, centreSpread: 2)
        let ids = (0..<UInt64(n)).map { $0 * 2 }
        var config = KMeansConfiguration(anchorCount: 30)
        config.seed = 5
        let router = try AnchorRouter.train(vectors: points, dimension: d, configuration: config)
        let index = try TestData.index(vectors: points, ids: ids, router: router, blockCapacity: blockCapacity)
        return (index, points, ids, try router.nearestAnchors(of: points))
    }

    func testRoutedEqualsBruteForceOverProbedPartitions() throws {
        let (index, points, ids, assignment) = try fixture(blockCapacity: 50)
        let queries = TestData.gaussian(count: 30, dimension: d, seed: 22, scale: 2)
        for q in 0..<30 {
            let query = TestData.row(queries, q, d)
            for nprobe in [1, 2, 5, 29] {
                let probed = Set(try index.router.rankAnchors(for: query, limit: nprobe).map { Int32($0) })
                let allowed = Set(ids.indices.filter { probed.contains(assignment[$0]) }.map { ids[$0] })
                guard allowed.count >= 10 else { continue }
                let expected = TestData.bruteForce(query: query, vectors: points, ids: ids, dimension: d, k: 10,
                                                   allowed: allowed)
                let result = try index.search(query, k: 10, nprobe: .count(nprobe))
                XCTAssertEqual(result.hits, expected, "query \(q) nprobe \(nprobe)")
                XCTAssertEqual(result.stats.partitionsScanned, nprobe)
                // Every vector of the probed partitions is scored once (a certification rescan scores them again).
                if result.stats.certificationRescans == 0 {
                    XCTAssertEqual(result.stats.distanceComputations, allowed.count)
                } else {
                    XCTAssertEqual(result.stats.distanceComputations, 2 * allowed.count)
                }
                XCTAssertEqual(result.stats.anchorDistanceComputations, 30)
            }
        }
    }

    func testProbingEveryAnchorEqualsExact() throws {
        let (index, _, _, _) = try fixture()
        let queries = TestData.gaussian(count: 20, dimension: d, seed: 23, scale: 2)
        let exact = try index.search(batch: queries, k: 12, nprobe: .all)
        XCTAssertEqual(try index.search(batch: queries, k: 12, nprobe: 30).hits, exact.hits)
        XCTAssertEqual(try index.search(batch: queries, k: 12, nprobe: 500).hits, exact.hits)  // clamped
        // One short of all partitions uses the routed path and still misses only what it skips.
        let nearlyAll = try index.search(batch: queries, k: 12, nprobe: 29)
        XCTAssertEqual(nearlyAll.stats.anchorDistanceComputations, 20 * 30)
        XCTAssertEqual(nearlyAll.stats.partitionsScanned, 20 * 29)
    }

    func testRoutedSearchFewerDistancesThanExact() throws {
        let (index, _, _, _) = try fixture()
        let queries = TestData.gaussian(count: 10, dimension: d, seed: 24, scale: 2)
        let exact = try index.search(batch: queries, k: 10)
        let routed = try index.search(batch: queries, k: 10, nprobe: 3)
        XCTAssertEqual(exact.stats.distanceComputations, 10 * 3000)
        XCTAssertLessThan(routed.stats.distanceComputations, exact.stats.distanceComputations / 4)
    }

    func testContinuesToNextAnchorsWhenProbedPartitionsHoldFewerThanK() throws {
        // Two far-apart groups: 5 vectors near anchor 0, 500 near anchor 1.
        let d = 4
        var points: [Float] = []
        for i in 0..<5 { points += [Float(i) * 0.01, 0, 0, 0] }
        for i in 0..<500 { points += [100 + Float(i % 10) * 0.01, Float(i / 10) * 0.01, 0, 0] }
        let ids = (0..<UInt64(505)).map { $0 }
        let router = try AnchorRouter(anchors: [0, 0, 0, 0, 100, 0, 0, 0, 40, 40, 40, 40], dimension: d)
        let index = try TestData.index(vectors: points, ids: ids, router: router)
        XCTAssertEqual(index.lists.count(ofList: 2), 0)
        let query: [Float] = [0, 0, 0, 0]
        let result = try index.search(query, k: 8, nprobe: 1)
        let expected = TestData.bruteForce(query: query, vectors: points, ids: ids, dimension: d, k: 8)
        XCTAssertEqual(result.hits, expected)
        XCTAssertEqual(result.hits.prefix(5).map(\.id), [0, 1, 2, 3, 4])
        // Anchor order for the query: 0 (5 items), 2 (empty), 1 — so three partitions were needed.
        XCTAssertEqual(result.stats.partitionsScanned, 3)
    }

    func testRecallToolMeasuresRoutedAgainstExact() throws {
        let (index, _, _, _) = try fixture()
        let queries = TestData.gaussian(count: 50, dimension: d, seed: 25, scale: 2)
        let full = try index.recall(queries: queries, k: 10, nprobe: .all)
        XCTAssertEqual(full.recall, 1)
        let one = try index.recall(queries: queries, k: 10, nprobe: 1)
        let eight = try index.recall(queries: queries, k: 10, nprobe: 8)
        XCTAssertLessThan(one.recall, 1)  // overlapping blobs: one partition cannot hold every neighbour
        XCTAssertGreaterThanOrEqual(eight.recall, one.recall)
        XCTAssertLessThan(one.routedStats.distanceComputations, one.exactStats.distanceComputations)
        XCTAssertEqual(one.perQuery.count, 50)
        // Recomputed by hand for one query.
        let q = TestData.row(queries, 7, d)
        let truth = Set(try index.search(q, k: 10).hits.map(\.id))
        let found = try index.search(q, k: 10, nprobe: 1).hits.filter { truth.contains($0.id) }.count
        XCTAssertEqual(one.perQuery[7], Double(found) / 10)
    }
}
