import RADBStore
import XCTest

/// Filter conditions on text that no catalog row can hold (found by `Tools/fuzz.sh filter`).
final class CatalogFilterTextTests: StoreTestCase {
    /// SQLite ends a bound text at its first NUL, so "class1\0x" used to match the label "class1"
    /// and the glob "*\0x" every path. Stored text never contains NUL: such conditions match nothing.
    func testConditionsWithNULMatchNothing() throws {
        let store = try makeStore(dimension: 4)
        let items = newItems(20, dimension: 4, anchors: 2, seed: 12)
        _ = try store.insert(items)
        XCTAssertFalse(try store.ids(matching: .labelEquals("class1")).isEmpty)
        XCTAssertEqual(try store.ids(matching: .labelEquals("class1\0x")), [])
        XCTAssertEqual(try store.ids(matching: .labelIn(["class1\0x"])), [])
        XCTAssertEqual(try store.ids(matching: .labelIn(["class1\0x", "class2"])),
                       try store.ids(matching: .labelEquals("class2")))
        XCTAssertEqual(try store.ids(matching: .pathGlob("*\0x")), [])
        XCTAssertEqual(try store.ids(matching: .all([.pathGlob("img/*"), .labelIn(["\0"])])), [])
    }
}
