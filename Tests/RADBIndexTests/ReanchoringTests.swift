import XCTest
import RADBIndex

final class ReanchoringTests: XCTestCase {
    func testResumableBatchesRouteEveryVectorOnceAndSearchStaysExact() throws {
        let d = 10, n = 2500
        let (points, _, _) = TestData.blobs(count: n, clusters: 8, dimension: d, seed: 61, centreSpread: 3)
        let ids = (0..<UInt64(n)).map { $0 + 100 }
        let old = try TestData.routerFromRows(points, dimension: d, count: 8)
        let index = try TestData.index(vectors: points, ids: ids, router: old, blockCapacity: 70)
        var config = KMeansConfiguration(anchorCount: 8)
        config.seed = 2
        let new = try AnchorRouter.train(vectors: points, dimension: d, configuration: config)

        // First pass: stop after 3 batches, "crash", resume from the returned cursor.
        var batches: [ReanchorBatch] = []
        let resumeAt = try Reanchoring.run(router: new, lists: index.lists, batchSize: 333) { batch in
            batches.append(batch)
            return batches.count < 3
        }
        XCTAssertNotNil(resumeAt)
        XCTAssertEqual(batches.count, 3)
        let finished = try Reanchoring.run(router: new, lists: index.lists, from: resumeAt!, batchSize: 333) {
            batches.append($0)
            return true
        }
        XCTAssertNil(finished)
        XCTAssertTrue(batches.dropLast().allSatisfy { $0.ids.count == 333 })

        // Every id exactly once, with its current list and its nearest new anchor.
        let routed = batches.flatMap(\.ids)
        XCTAssertEqual(routed.count, n)
        XCTAssertEqual(Set(routed), Set(ids))
        let expected = try new.nearestAnchors(of: points)
        for batch in batches {
            for (i, id) in batch.ids.enumerated() {
                XCTAssertEqual(batch.toList[i], expected[Int(id - 100)])
                XCTAssertEqual(Int(batch.fromList[i]), index.lists.list(of: id))
            }
        }

        // Apply the moves after the pass; the re-anchored index is still exact.
        let moves = batches.flatMap(\.moves)
        XCTAssertGreaterThan(moves.count, 0)
        for move in moves { try index.lists.move(id: move.id, toList: Int(move.to)) }
        XCTAssertEqual(index.lists.totalCount, n)
        for (row, id) in ids.enumerated() { XCTAssertEqual(index.lists.list(of: id), Int(expected[row])) }
        let reanchored = try AnchorIndex(router: new, lists: index.lists)
        let queries = TestData.gaussian(count: 10, dimension: d, seed: 62, scale: 3)
        for q in 0..<10 {
            let query = TestData.row(queries, q, d)
            XCTAssertEqual(try reanchored.search(query, k: 10).hits,
                           TestData.bruteForce(query: query, vectors: points, ids: ids, dimension: d, k: 10))
        }
    }

    func testCursorValidation() throws {
        let router = try AnchorRouter(anchors: [0, 0, 1, 1], dimension: 2)
        let lists = try MemoryInvertedLists(dimension: 2, listCount: 2)
        try lists.add(vectors: [0, 0, 1, 1, 0.9, 0.9], ids: [1, 2, 3], lists: [0, 1, 1])
        XCTAssertThrowsError(try Reanchoring.nextBatch(router: router, lists: lists, from: .init(list: 0, offset: 5),
                                                       batchSize: 10))
        XCTAssertThrowsError(try Reanchoring.nextBatch(router: router, lists: lists, from: .start, batchSize: 0))
        let wrongDimension = try AnchorRouter(anchors: [0, 0, 0], dimension: 3)
        XCTAssertThrowsError(try Reanchoring.nextBatch(router: wrongDimension, lists: lists, from: .start, batchSize: 1))
        let all = try Reanchoring.nextBatch(router: router, lists: lists, from: .start, batchSize: 10)
        XCTAssertEqual(all.ids, [1, 2, 3])
        XCTAssertEqual(all.toList, [0, 1, 1])
        XCTAssertNil(all.next)
        XCTAssertTrue(all.moves.isEmpty)
    }
}
