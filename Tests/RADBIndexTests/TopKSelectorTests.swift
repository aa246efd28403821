import XCTest
import RADBIndex

final class TopKSelectorTests: XCTestCase {
    func testKeepsSmallestWithTiesByIdInAnyInsertionOrder() throws {
        var rng = SplitMix64(seed: 71)
        // Distances from a small set so that ties are frequent.
        var hits = (0..<2000).map { SearchHit(id: UInt64($0), distance: Float(rng.next() % 50)) }
        let expected = Array(hits.sorted(by: SearchHit.precedes).prefix(37))
        for _ in 0..<3 {
            hits.shuffle(using: &rng)
            var selector = try TopKSelector(k: 37)
            for h in hits { selector.insert(h) }
            XCTAssertEqual(selector.sorted(), expected)
            XCTAssertEqual(selector.worst, expected.last)
        }
        var small = try TopKSelector(k: 5)
        small.insert(SearchHit(id: 2, distance: 1))
        XCTAssertNil(small.worst)
        XCTAssertEqual(small.sorted(), [SearchHit(id: 2, distance: 1)])
    }
}
