import XCTest
import RADBIndex

/// Exact mode (`nprobe: .all`) must return what a naive brute-force loop returns: same ids, same
/// order, same distances, ties by id.
final class ExactSearchTests: XCTestCase {
    func testExactEqualsBruteForceOnRandomData() throws {
        let d = 24, n = 3000
        let vectors = TestData.gaussian(count: n, dimension: d, seed: 1)
        let ids = (0..<n).map { UInt64($0 * 7 + 3) }  // non-contiguous ids
        let router = try TestData.routerFromRows(vectors, dimension: d, count: 17)
        let queries = TestData.gaussian(count: 25, dimension: d, seed: 2)
        for (blockCapacity, parallelism) in [(nil, Parallelism.serial), (64, .workers(2)), (1000, .workers(3))] {
            let index = try TestData.index(vectors: vectors, ids: ids, router: router, blockCapacity: blockCapacity,
                                           parallelism: parallelism)
            for q in 0..<25 {
                let query = TestData.row(queries, q, d)
                for k in [1, 10, 57] {
                    let expected = TestData.bruteForce(query: query, vectors: vectors, ids: ids, dimension: d, k: k)
                    let result = try index.search(query, k: k, nprobe: .all)
                    XCTAssertEqual(result.hits, expected, "query \(q) k \(k) blocks \(String(describing: blockCapacity))")
                    XCTAssertEqual(result.stats.distanceComputations, n)
                    XCTAssertEqual(result.stats.anchorDistanceComputations, 0)
                }
            }
        }
    }

    func testExactEqualsBruteForceOnClusteredDataWithDuplicatesAndTies() throws {
        let d = 16
        var (points, _, _) = TestData.blobs(count: 2000, clusters: 12, dimension: d, seed: 3, centreSpread: 4)
        // 60 exact copies of one vector, and 30 copies of another at integer coordinates (exact ties).
        let dup = TestData.row(points, 5, d)
        for _ in 0..<60 { points += dup }
        let lattice = (0..<d).map { Float($0 % 3) }
        for _ in 0..<30 { points += lattice }
        let n = points.count / d
        var rng = SplitMix64(seed: 4)
        var ids = Array((0..<UInt64(n)).map { $0 * 3 + 1 })
        ids.shuffle(using: &rng)  // ties must be broken by id, not by storage order
        let router = try TestData.routerFromRows(points, dimension: d, count: 12)
        let index = try TestData.index(vectors: points, ids: ids, router: router, blockCapacity: 100)
        var rescans = 0
        // Queries: the duplicated vector itself, a lattice point (many exact ties), random points.
        var queries: [[Float]] = [dup, lattice, lattice.map { $0 + 0.5 }]
        for q in 0..<10 { queries.append(TestData.row(points, q * 97, d)) }
        for query in queries {
            for k in [1, 10, 45, 100] {
                let expected = TestData.bruteForce(query: query, vectors: points, ids: ids, dimension: d, k: k)
                let result = try index.search(query, k: k)
                XCTAssertEqual(result.hits, expected)
                rescans += result.stats.certificationRescans
            }
        }
        // The duplicates defeat the BLAS-score certificate, so the thresholded rescan must have run.
        XCTAssertGreaterThan(rescans, 0)
        // The duplicate query's first hits are the 60 copies plus row 5 itself, at distance 0, in id order.
        let zero = try index.search(dup, k: 61).hits
        XCTAssertTrue(zero.allSatisfy { $0.distance == 0 })
        XCTAssertEqual(zero.map(\.id), zero.map(\.id).sorted())
    }

    /// Near-duplicates far from the origin: ‖x‖² ≈ 10⁶ makes the BLAS form ‖x‖²+‖q‖²−2q·x err by
    /// more than the gaps between distances, so only the exact re-scoring ranks them right.
    func testNearDuplicatesWithLargeNormsAreNotReorderedByRounding() throws {
        let d = 64
        let base = TestData.gaussian(count: 1, dimension: d, seed: 5, scale: 1, offset: 120)
        var points: [Float] = []
        var rng = SplitMix64(seed: 6)
        for _ in 0..<400 {
            points += base.map { $0 + Float(rng.nextGaussian()) * 0.002 }
        }
        let n = 400
        let ids = (0..<UInt64(n)).map { $0 }
        let router = try TestData.routerFromRows(points, dimension: d, count: 4)
        for parallelism in [Parallelism.serial, .workers(2)] {
            let index = try TestData.index(vectors: points, ids: ids, router: router, parallelism: parallelism)
            for q in 0..<8 {
                let query = base.map { $0 + Float(rng.nextGaussian()) * 0.001 }
                let expected = TestData.bruteForce(query: query, vectors: points, ids: ids, dimension: d, k: 10)
                XCTAssertEqual(try index.search(query, k: 10).hits, expected, "query \(q)")
                let batch = try index.search(batch: query + query, k: 10)
                XCTAssertEqual(batch.hits, [expected, expected])
            }
        }
    }

    func testKLargerThanDatabaseReturnsEverythingInOrder() throws {
        let d = 8, n = 150
        let vectors = TestData.gaussian(count: n, dimension: d, seed: 7)
        let ids = (0..<UInt64(n)).map { 1000 - $0 }
        let router = try TestData.routerFromRows(vectors, dimension: d, count: 5)
        let index = try TestData.index(vectors: vectors, ids: ids, router: router)
        let query = TestData.gaussian(count: 1, dimension: d, seed: 8)
        let expected = TestData.bruteForce(query: query, vectors: vectors, ids: ids, dimension: d, k: n)
        XCTAssertEqual(try index.search(query, k: 10_000).hits, expected)
        XCTAssertEqual(try index.search(query, k: 10_000, nprobe: 1).hits, expected)  // continues to every partition
        XCTAssertEqual(try index.search(batch: query, k: n + 1, nprobe: 2).hits, [expected])
    }

    func testBatchEqualsSingleQueries() throws {
        let d = 32, n = 4000
        let (points, _, _) = TestData.blobs(count: n, clusters: 20, dimension: d, seed: 9, centreSpread: 3)
        let ids = (0..<UInt64(n)).map { $0 }
        var config = KMeansConfiguration(anchorCount: 20)
        config.seed = 1
        let router = try AnchorRouter.train(vectors: points, dimension: d, configuration: config)
        let index = try TestData.index(vectors: points, ids: ids, router: router, blockCapacity: 300)
        let queries = TestData.gaussian(count: 40, dimension: d, seed: 10, scale: 3)
        for nprobe in [NProbe.count(1), 3, .all] {
            let batch = try index.search(batch: queries, k: 15, nprobe: nprobe)
            XCTAssertEqual(batch.hits.count, 40)
            var single = SearchStats()
            for q in 0..<40 {
                let one = try index.search(TestData.row(queries, q, d), k: 15, nprobe: nprobe)
                XCTAssertEqual(batch.hits[q], one.hits, "query \(q) nprobe \(nprobe)")
                single.add(one.stats)
            }
            XCTAssertEqual(batch.stats.partitionsScanned, single.partitionsScanned)
        }
    }
}

private extension SearchStats {
    mutating func add(_ other: SearchStats) {
        distanceComputations += other.distanceComputations
        partitionsScanned += other.partitionsScanned
        certificationRescans += other.certificationRescans
    }
}
