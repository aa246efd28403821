import Foundation
import RADB
import XCTest

final class FilterExpressionTests: XCTestCase {
    func testConditionsCombineWithAnd() throws {
        let f = try FilterExpression.parse("label = 'cat' AND path GLOB '*/2024/*' and added >= '2026-01-01' AND id IN (3, 7, 9)")
        XCTAssertEqual(f.labels, ["cat"])
        XCTAssertEqual(f.pathGlob, "*/2024/*")
        XCTAssertEqual(f.addedAfter, FilterExpression.parseDate("2026-01-01"))
        XCTAssertEqual(f.ids, [3, 7, 9])
        XCTAssertNil(f.addedBefore)
    }

    func testLabelInAndQuotes() throws {
        let f = try FilterExpression.parse("label IN ('cat', \"dog\", 'it''s')")
        XCTAssertEqual(f.labels, ["cat", "dog", "it's"])
    }

    func testLikeMapsToGlobAndEqualityEscapes() throws {
        XCTAssertEqual(try FilterExpression.parse("path LIKE '%.jpg'").pathGlob, "*.jpg")
        XCTAssertEqual(try FilterExpression.parse("path = 'a*b.png'").pathGlob, "a[*]b.png")
    }

    func testRepeatedConditionsIntersect() throws {
        let f = try FilterExpression.parse("label IN ('a','b') AND label = 'b' AND added < '2026-05-01' AND added < '2026-03-01'")
        XCTAssertEqual(f.labels, ["b"])
        XCTAssertEqual(f.addedBefore, FilterExpression.parseDate("2026-03-01"))
    }

    func testEmptyIsEmptyFilter() throws {
        XCTAssertTrue(try FilterExpression.parse("   ").isEmpty)
    }

    func testErrorsQuoteTheExpression() {
        for bad in ["label", "label = ", "colour = 'red'", "label = 'a' OR label = 'b'", "added > 'yesterday'",
                    "id IN ()", "id = x", "label = 'unterminated", "label IN ('a'"] {
            XCTAssertThrowsError(try FilterExpression.parse(bad), bad) { error in
                XCTAssertTrue(String(describing: error).contains(bad), "\(error)")
            }
        }
    }
}
