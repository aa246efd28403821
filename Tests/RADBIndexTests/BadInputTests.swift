import XCTest
import RADBIndex

/// Every misuse is a typed error with a message that says what to do, or a documented clamp.
final class BadInputTests: XCTestCase {
    private func index() throws -> AnchorIndex<MemoryInvertedLists> {
        let vectors = TestData.gaussian(count: 100, dimension: 6, seed: 51)
        let router = try TestData.routerFromRows(vectors, dimension: 6, count: 4)
        return try TestData.index(vectors: vectors, ids: (0..<UInt64(100)).map { $0 }, router: router)
    }

    func testInvalidKAndNProbe() throws {
        let index = try index()
        let q = [Float](repeating: 0, count: 6)
        XCTAssertThrowsError(try index.search(q, k: 0)) { XCTAssertEqual($0 as? IndexError, .invalidK(0)) }
        XCTAssertThrowsError(try index.search(batch: q, k: -3)) { XCTAssertEqual($0 as? IndexError, .invalidK(-3)) }
        XCTAssertThrowsError(try index.search(q, k: 5, nprobe: 0)) { error in
            XCTAssertEqual(error as? IndexError, .invalidProbeCount(0))
            XCTAssertTrue("\(error)".contains(".all"))
        }
        XCTAssertThrowsError(try index.search(q, k: 5, nprobe: -1))
        XCTAssertEqual(try index.search(q, k: 5, nprobe: 99).hits, try index.search(q, k: 5).hits)  // clamp to all
        XCTAssertThrowsError(try TopKSelector(k: 0))
    }

    func testWrongDimensionAndNonFiniteQueries() throws {
        let index = try index()
        XCTAssertThrowsError(try index.search([Float](repeating: 0, count: 5), k: 1)) { error in
            XCTAssertEqual(error as? IndexError, .dimensionMismatch(what: "query", expected: 6, actual: 5))
            XCTAssertTrue("\(error)".contains("same model"))
        }
        XCTAssertThrowsError(try index.search(batch: [Float](repeating: 0, count: 13), k: 1))
        for bad in [Float.nan, .infinity, -.infinity] {
            var q = [Float](repeating: 1, count: 6)
            q[4] = bad
            XCTAssertThrowsError(try index.search(q, k: 3)) {
                XCTAssertEqual($0 as? IndexError, .nonFiniteValue(what: "query", index: 4))
            }
            XCTAssertThrowsError(try index.search(batch: [Float](repeating: 0, count: 6) + q, k: 3, nprobe: 2)) {
                XCTAssertEqual($0 as? IndexError, .nonFiniteValue(what: "query batch", index: 10))
            }
        }
        XCTAssertEqual(try index.search(batch: [], k: 3).hits, [])
    }

    func testEmptyIndexAndEmptyLists() throws {
        let router = try AnchorRouter(anchors: [0, 0, 1, 1], dimension: 2)
        let lists = try MemoryInvertedLists(dimension: 2, listCount: 2)
        let index = try AnchorIndex(router: router, lists: lists)
        XCTAssertEqual(try index.search([0.5, 0.5], k: 3).hits, [])
        XCTAssertEqual(try index.search([0.5, 0.5], k: 3, nprobe: 1).hits, [])
        XCTAssertEqual(try index.search(batch: [0, 0, 1, 1], k: 3, nprobe: 1).hits, [[], []])
        XCTAssertThrowsError(try index.search([0.5, 0.5], k: 0))  // validation still applies
    }

    func testRouterAndListsMustAgree() throws {
        XCTAssertThrowsError(try AnchorRouter(anchors: [], dimension: 3))
        XCTAssertThrowsError(try AnchorRouter(anchors: [1, 2, 3, 4], dimension: 3))
        XCTAssertThrowsError(try AnchorRouter(anchors: [1, .nan, 3], dimension: 3)) {
            XCTAssertEqual($0 as? IndexError, .nonFiniteValue(what: "anchors", index: 1))
        }
        let router = try AnchorRouter(anchors: [0, 0, 1, 1], dimension: 2)
        XCTAssertThrowsError(try AnchorIndex(router: router, lists: MemoryInvertedLists(dimension: 2, listCount: 3))) {
            guard case IndexError.layoutMismatch = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try AnchorIndex(router: router, lists: MemoryInvertedLists(dimension: 3, listCount: 2)))
        XCTAssertThrowsError(try router.nearestAnchors(of: [1, 2, 3]))
        XCTAssertThrowsError(try router.nearestAnchor(of: [1, .infinity]))
    }

    func testMemoryListsRejectBadVectorsAndDuplicateIds() throws {
        let lists = try MemoryInvertedLists(dimension: 2, listCount: 2)
        try lists.add(vectors: [1, 2], ids: [7], lists: [0])
        XCTAssertThrowsError(try lists.add(vectors: [1, 2], ids: [7], lists: [1]))
        XCTAssertThrowsError(try lists.add(vectors: [1, 2, 3, 4], ids: [8, 8], lists: [1, 1]))
        XCTAssertThrowsError(try lists.add(vectors: [1, .nan], ids: [9], lists: [1]))
        XCTAssertThrowsError(try lists.add(vectors: [1, 2], ids: [9], lists: [2]))
        XCTAssertThrowsError(try lists.add(vectors: [1, 2, 3], ids: [9], lists: [1]))
        XCTAssertEqual(lists.totalCount, 1)  // nothing from the failed calls was added
    }
}

/// Inverted lists whose only block claims the wrong width, as a damaged store might.
private final class MisshapenLists: InvertedLists {
    let dimension = 4
    let listCount = 1
    private let ids: [UInt64] = [1, 2]
    private let vectors: [Float] = [0, 0, 0, 0, 1, 1]  // 6 floats for 2 vectors of dimension 4
    private let norms: [Float] = [0, 2]

    func count(ofList list: Int) -> Int { 2 }

    func forEachBlock(ofList list: Int, _ body: (VectorBlock) throws -> Void) throws {
        try ids.withUnsafeBufferPointer { i in
            try vectors.withUnsafeBufferPointer { v in
                try norms.withUnsafeBufferPointer { n in try body(VectorBlock(ids: i, vectors: v, squaredNorms: n)) }
            }
        }
    }

    func gatherVectors(ids: [UInt64], into buffer: UnsafeMutablePointer<Float>) throws -> [Bool] {
        ids.map { _ in false }
    }
}

final class DamagedListsTests: XCTestCase {
    func testBlocksOfTheWrongWidthAreRefusedNotReadOutOfBounds() throws {
        let router = try AnchorRouter(anchors: [0, 0, 0, 0], dimension: 4)
        let index = try AnchorIndex(router: router, lists: MisshapenLists())
        XCTAssertThrowsError(try index.search([0, 0, 0, 0], k: 1)) {
            guard case IndexError.layoutMismatch = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try Reanchoring.nextBatch(router: router, lists: MisshapenLists(), from: .start, batchSize: 5))
    }
}
