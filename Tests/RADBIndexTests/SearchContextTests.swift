import Dispatch
import RADBCore
import XCTest
import RADBIndex

/// The single-query engine's reusable `SearchContext`: reuse never changes a result, results equal
/// the batch engine and brute force, split scans equal serial ones, and concurrent searches are safe.
final class SearchContextTests: XCTestCase {
    private let d = 24
    private let n = 6000

    /// Clustered data with exact duplicates (rows 0..<200 repeated at 200..<400) so ties by id and
    /// certification rescans occur; ids are sparse.
    private func fixture(parallelism: Parallelism = .serial, blockCapacity: Int? = 97, count n: Int = 6000)
        throws -> (AnchorIndex<MemoryInvertedLists>, [Float], [UInt64]) {
        var (points, _, _) = TestData.blobs(count: n, clusters: 40, dimension: d, seed: 71, centreSpread: 2)
        for i in 0..<200 { for j in 0..<d { points[(200 + i) * d + j] = points[i * d + j] } }
        let ids = (0..<UInt64(n)).map { $0 * 3 + 1 }
        var config = KMeansConfiguration(anchorCount: 40)
        config.seed = 3
        let router = try AnchorRouter.train(vectors: points, dimension: d, configuration: config)
        return (try TestData.index(vectors: points, ids: ids, router: router, blockCapacity: blockCapacity,
                                   parallelism: parallelism), points, ids)
    }

    /// One context serves a sequence of searches with different k, nprobe, filters and strategies;
    /// each answer (hits and stats) equals the same search on a fresh context and the batch engine's
    /// answer for that query, and exact answers equal brute force.
    func testReusedContextGivesSameResultsAsFreshContextsAndTheBatchEngine() throws {
        let (index, points, ids) = try fixture()
        var rng = SplitMix64(seed: 72)
        let sparse = IDFilter(ids.filter { _ in rng.nextUnit() < 0.01 })
        let dense = IDFilter(ids.filter { _ in rng.nextUnit() < 0.6 })
        // Queries: fresh points, and stored duplicates (distance-0 ties).
        var queries = TestData.gaussian(count: 6, dimension: d, seed: 73, scale: 2)
        queries += TestData.row(points, 5, d) + TestData.row(points, 17, d)
        let settings: [(k: Int, nprobe: NProbe, filter: IDFilter?, strategy: FilterStrategy)] = [
            (10, 1, nil, .automatic), (1, .all, nil, .automatic), (300, 3, nil, .automatic),
            (7, 2, sparse, .scanPartitions), (25, .all, dense, .automatic), (10, 1, dense, .scanPartitions),
            (4, 5, sparse, .scoreMatchesDirectly), (2000, 1, nil, .automatic), (10, 40, nil, .automatic),
            (3, 1, nil, .automatic),
        ]
        let shared = SearchContext()
        for round in 0..<2 {
            for (s, setting) in settings.enumerated() {
                for q in 0..<queries.count / d {
                    let query = TestData.row(queries, q, d)
                    let label = "round \(round) setting \(s) query \(q)"
                    let reused = try index.search(query, k: setting.k, nprobe: setting.nprobe, filter: setting.filter,
                                                  filterStrategy: setting.strategy, context: shared)
                    let fresh = try index.search(query, k: setting.k, nprobe: setting.nprobe, filter: setting.filter,
                                                 filterStrategy: setting.strategy, context: SearchContext())
                    XCTAssertEqual(reused, fresh, label)
                    // The batch engine (two queries, so it does not take the single-query path).
                    let batch = try index.search(batch: query + query, k: setting.k, nprobe: setting.nprobe,
                                                 filter: setting.filter, filterStrategy: setting.strategy)
                    XCTAssertEqual(reused.hits, batch.hits[0], label)
                    XCTAssertEqual(reused.hits.count, min(setting.k, setting.filter?.count ?? n), label)
                    if setting.nprobe == .all || setting.nprobe == 40 {
                        let allowed = setting.filter.map { Set($0.ids) }
                        XCTAssertEqual(reused.hits, TestData.bruteForce(query: query, vectors: points, ids: ids,
                                                                        dimension: d, k: setting.k, allowed: allowed),
                                       label)
                    }
                }
            }
        }
    }

    /// A scan large enough to be cut into pieces over two workers (≥ 2²² multiply-adds) returns
    /// exactly what the serial scan returns (and brute force, for exact search), including ties.
    func testSplitScanEqualsSerialScan() throws {
        let n = 200_000
        let (serial, points, ids) = try fixture(parallelism: .serial, blockCapacity: 333, count: n)
        let split = try AnchorIndex(router: serial.router, lists: serial.lists, parallelism: .workers(2))
        let queries = TestData.gaussian(count: 5, dimension: d, seed: 74, scale: 2) + TestData.row(points, 9, d)
        for q in 0..<queries.count / d {
            let query = TestData.row(queries, q, d)
            for (k, nprobe) in [(10, NProbe.all), (50, .all), (10, 38), (1, 39)] {
                let a = try split.search(query, k: k, nprobe: nprobe)
                XCTAssertEqual(a, try serial.search(query, k: k, nprobe: nprobe), "query \(q) k \(k) nprobe \(nprobe)")
                if nprobe == .all {
                    XCTAssertEqual(a.hits, TestData.bruteForce(query: query, vectors: points, ids: ids, dimension: d, k: k))
                    XCTAssertEqual(a.stats.distanceComputations, n * (a.stats.certificationRescans + 1))
                }
            }
        }
    }

    /// Many threads searching one index at once (each taking a context from the index's pool) get
    /// the answers a sequential run gets; afterwards the pool holds its contexts for reuse.
    func testConcurrentSearchesThroughThePoolEqualSequentialSearches() throws {
        let (index, _, _) = try fixture(parallelism: .workers(2))
        let queries = TestData.gaussian(count: 64, dimension: d, seed: 75, scale: 2)
        let settings: [(Int, NProbe)] = [(10, 1), (5, .all), (20, 4)]
        var expected: [[SearchHit]] = []
        for q in 0..<64 {
            let (k, nprobe) = settings[q % 3]
            expected.append(try index.search(TestData.row(queries, q, d), k: k, nprobe: nprobe).hits)
        }
        let results = UnsafeMutableBufferPointer<[SearchHit]?>.allocate(capacity: 64 * 4)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        Parallel.forEachDisjoint(8) { worker in // each iteration writes its own slots
            for r in 0..<32 {
                let slot = worker * 32 + r
                let q = slot % 64
                let (k, nprobe) = settings[q % 3]
                results[slot] = try? index.search(TestData.row(queries, q, d), k: k, nprobe: nprobe).hits
            }
        }
        for slot in 0..<256 { XCTAssertEqual(results[slot], expected[slot % 64], "slot \(slot)") }
        XCTAssertGreaterThanOrEqual(index.contexts.idleCount, 1)
        XCTAssertLessThanOrEqual(index.contexts.idleCount, index.contexts.capacity)
    }

    /// A context already in use by a search is refused with a typed error, not raced on; it works
    /// again once free. Separate threads with their own contexts never interfere.
    func testBusyContextIsRefusedAndPerThreadContextsWork() throws {
        let (index, _, _) = try fixture()
        let query = TestData.gaussian(count: 1, dimension: d, seed: 76)
        let context = SearchContext()
        try context.exclusively {
            XCTAssertThrowsError(try index.search(query, k: 5, nprobe: 2, context: context)) {
                XCTAssertEqual($0 as? IndexError, .contextInUse)
            }
        }
        let expected = try index.search(query, k: 5, nprobe: 2, context: context)
        let contexts = (0..<4).map { _ in SearchContext() }
        let same = UnsafeMutableBufferPointer<Bool>.allocate(capacity: 4)
        same.initialize(repeating: false)
        defer { same.deallocate() }
        Parallel.forEachDisjoint(4) { t in // each iteration writes its own slots
            var ok = true
            for _ in 0..<50 { ok = ok && (try? index.search(query, k: 5, nprobe: 2, context: contexts[t])) == expected }
            same[t] = ok
        }
        XCTAssertEqual(Array(same), [true, true, true, true])
    }

    /// The pool hands concurrent callers distinct contexts and keeps at most `capacity` idle ones.
    func testPoolHandsOutDistinctContextsAndKeepsAtMostCapacity() {
        let pool = SearchContextPool(capacity: 2)
        let a = pool.acquire(), b = pool.acquire(), c = pool.acquire()
        XCTAssertFalse(a === b || b === c || a === c)
        pool.release(a); pool.release(b); pool.release(c)
        XCTAssertEqual(pool.idleCount, 2)
        let again = pool.acquire()
        XCTAssertTrue(again === b || again === a)
    }

    /// Anchor ranking (the single-query path's partial selection) orders by distance with ties by
    /// anchor index, for every limit, and agrees with a full sort.
    func testAnchorSelectionBreaksTiesByIndexForEveryLimit() throws {
        // Anchors 0, 3 and 5 are the same point; 1 and 4 are the same point.
        let base = TestData.gaussian(count: 4, dimension: 6, seed: 77)
        let rows = [0, 1, 2, 0, 1, 0, 3]
        let anchors = rows.flatMap { TestData.row(base, $0, 6) }
        let router = try AnchorRouter(anchors: anchors, dimension: 6)
        for q in 0..<10 {
            let query = TestData.gaussian(count: 1, dimension: 6, seed: 78 + UInt64(q))
            let distance = (0..<7).map { a in
                zip(query, TestData.row(anchors, a, 6)).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
            }
            let full = try router.rankAnchors(for: query)
            XCTAssertEqual(full.count, 7)
            for (x, y) in zip(full, full.dropFirst()) {
                // Equal anchors tie exactly; distinct ones are ordered by distance.
                if rows[x] == rows[y] { XCTAssertLessThan(x, y) } else { XCTAssertLessThanOrEqual(distance[x], distance[y] + 1e-5) }
            }
            for limit in 1...7 { XCTAssertEqual(try router.rankAnchors(for: query, limit: limit), Array(full.prefix(limit))) }
        }
    }
}
