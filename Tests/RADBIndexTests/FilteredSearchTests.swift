import XCTest
import RADBIndex

/// Filtered search returns exactly the nearest neighbours among the allowed ids, k of them
/// whenever k match, by either strategy.
final class FilteredSearchTests: XCTestCase {
    private let d = 16
    private let n = 4000

    private func fixture() throws -> (AnchorIndex<MemoryInvertedLists>, [Float], [UInt64]) {
        let (points, _, _) = TestData.blobs(count: n, clusters: 25, dimension: d, seed: 31, centreSpread: 3)
        let ids = (0..<UInt64(n)).map { $0 * 5 + 2 }
        var config = KMeansConfiguration(anchorCount: 25)
        config.seed = 9
        let router = try AnchorRouter.train(vectors: points, dimension: d, configuration: config)
        return (try TestData.index(vectors: points, ids: ids, router: router, blockCapacity: 128), points, ids)
    }

    func testFiltersReturnNearestMatchingItemsForEveryStrategyAndSelectivity() throws {
        let (index, points, ids) = try fixture()
        var rng = SplitMix64(seed: 32)
        let queries = TestData.gaussian(count: 8, dimension: d, seed: 33, scale: 3)
        // Very selective (3 and 12 ids), moderate (10 %), unselective (90 %).
        for fraction in [0.00075, 0.003, 0.1, 0.9] {
            let allowed = Set(ids.filter { _ in rng.nextUnit() < fraction })
            let filter = IDFilter(allowed)
            for strategy in [FilterStrategy.automatic, .scanPartitions, .scoreMatchesDirectly] {
                for q in 0..<8 {
                    let query = TestData.row(queries, q, d)
                    let expected = TestData.bruteForce(query: query, vectors: points, ids: ids, dimension: d, k: 10,
                                                       allowed: allowed)
                    let exact = try index.search(query, k: 10, nprobe: .all, filter: filter, filterStrategy: strategy)
                    XCTAssertEqual(exact.hits, expected, "fraction \(fraction) \(strategy) query \(q)")
                    // Routed: still k results whenever k match, all of them allowed.
                    let routed = try index.search(query, k: 10, nprobe: 1, filter: filter, filterStrategy: strategy)
                    XCTAssertEqual(routed.hits.count, min(10, allowed.count))
                    XCTAssertTrue(routed.hits.allSatisfy { allowed.contains($0.id) })
                    XCTAssertEqual(routed.hits, routed.hits.sorted(by: SearchHit.precedes))
                }
            }
        }
    }

    func testAutomaticStrategyScoresSelectiveFiltersDirectlyAndScansUnselectiveOnes() throws {
        let (index, _, ids) = try fixture()
        let query = TestData.gaussian(count: 1, dimension: d, seed: 34)
        let selective = try index.search(query, k: 5, filter: IDFilter(ids.prefix(20)))
        XCTAssertEqual(selective.stats.directlyScoredQueries, 1)
        XCTAssertEqual(selective.stats.distanceComputations, 20)
        let broad = try index.search(query, k: 5, filter: IDFilter(ids.prefix(3000)))
        XCTAssertEqual(broad.stats.directlyScoredQueries, 0)
        XCTAssertEqual(broad.stats.distanceComputations, n)
    }

    func testFilteredBatchEqualsFilteredSingles() throws {
        let (index, _, ids) = try fixture()
        let queries = TestData.gaussian(count: 12, dimension: d, seed: 35, scale: 3)
        for filter in [IDFilter(ids.filter { $0 % 3 == 0 }), IDFilter(ids.prefix(7))] {
            for nprobe in [NProbe.count(2), .all] {
                let batch = try index.search(batch: queries, k: 10, nprobe: nprobe, filter: filter)
                for q in 0..<12 {
                    let single = try index.search(TestData.row(queries, q, d), k: 10, nprobe: nprobe, filter: filter)
                    XCTAssertEqual(batch.hits[q], single.hits)
                }
            }
        }
    }

    func testFilterWithUnknownOrNoIds() throws {
        let (index, _, ids) = try fixture()
        let query = TestData.gaussian(count: 1, dimension: d, seed: 36)
        XCTAssertEqual(try index.search(query, k: 5, filter: IDFilter([])).hits, [])
        XCTAssertEqual(try index.search(query, k: 5, filter: IDFilter([1, 3, 999_999])).hits, [])  // none stored
        let mixed = try index.search(query, k: 5, filter: IDFilter([ids[10], 999_999, ids[20]]))
        XCTAssertEqual(Set(mixed.hits.map(\.id)), [ids[10], ids[20]])
    }

    func testIDFilterMembershipDenseAndSparse() {
        let dense = IDFilter([5, 3, 3, 64, 0])
        XCTAssertEqual(dense.ids, [0, 3, 5, 64])
        XCTAssertTrue(dense.contains(64) && dense.contains(0) && !dense.contains(63) && !dense.contains(1 << 40))
        let sparse = IDFilter([1 << 50, 7, UInt64.max])
        XCTAssertEqual(sparse.count, 3)
        XCTAssertTrue(sparse.contains(UInt64.max) && sparse.contains(7) && !sparse.contains(8))
    }
}
