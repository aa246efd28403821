import Foundation
import RADBStore
import XCTest

/// Vector format 3 (id map of positions, large-block counts, recorded merge factor): a
/// format-2 database — written the way the previous radb wrote it — is upgraded when opened
/// for writing and read as it is when opened read-only; and the merge factor is a property of
/// each database.
final class VectorFormatUpgradeTests: StoreTestCase {
    /// One-page small blocks and the merge factor of formats 1–2, so a few hundred vectors
    /// give partitions with large blocks, small blocks and partial tails.
    private var legacyLayout: StoreOptions {
        var o = fastOptions
        o.minimumBlockVectors = 1
        o.mergeFactor = 4
        return o
    }

    /// A database with merged blocks and swap-removed holes, rewritten into format 2. Returns
    /// the surviving items by id.
    private func version2Database() throws -> (URL, [UInt64: NewItem]) {
        let d = 16
        var expected: [UInt64: NewItem] = [:]
        do {
            let store = try makeStore(dimension: d, options: legacyLayout)
            let items = newItems(1200, dimension: d, anchors: 3, seed: 71)
            var ids: [UInt64] = []
            for start in stride(from: 0, to: items.count, by: 200) { ids += try store.insert(Array(items[start..<start + 200])) }
            for (id, item) in zip(ids, items) { expected[id] = item }
            // Holes everywhere: in large blocks, small blocks and tails.
            let doomed = stride(from: 3, to: ids.count, by: 7).map { ids[$0] }
            try store.delete(ids: doomed)
            for id in doomed { expected[id] = nil }
            try assertClean(store)
            try store.rewriteAsVersion2ForTesting()
        }
        return (databaseURL(), expected)
    }

    private func assertVectors(_ store: VectorStore, _ expected: [UInt64: NewItem],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(try store.stats().items, expected.count, file: file, line: line)
        try store.read { snap in
            for (id, item) in expected {
                assertBitIdentical(try snap.vector(id: id), item.vector, file: file, line: line)
                XCTAssertEqual(try snap.anchor(of: id), item.anchor, file: file, line: line)
                XCTAssertEqual(try snap.items(contentHash: item.metadata.contentHash).map(\.id), [id], file: file, line: line)
            }
        }
    }

    func testVersion2DatabaseIsUpgradedWhenOpenedForWriting() throws {
        let (url, expected) = try version2Database()
        let store = try VectorStore.open(at: url, options: fastOptions)
        XCTAssertEqual(store.largeBlockCapacity, 4 * store.blockCapacity, "an upgraded database keeps its merge factor")
        try assertClean(store) // format 3 now: positions and large-block counts are verified
        try assertVectors(store, expected)
        let sizes = try store.contentIndexSizesForTesting()
        XCTAssertEqual(sizes.main, expected.count, "format 2's recent entries were folded into the main index")
        XCTAssertEqual(sizes.recent, 0)

        // Writes after the upgrade: more merges, deletes and moves keep every vector in place.
        var all = expected
        let more = newItems(500, dimension: 16, anchors: 3, seed: 72, prefix: "more")
        for (id, item) in zip(try store.insert(more), more) { all[id] = item }
        let doomed = Array(all.keys.sorted().prefix(40))
        try store.delete(ids: doomed)
        for id in doomed { all[id] = nil }
        let moved = Array(all.keys.sorted().suffix(60))
        try store.moveToAnchor(ids: moved, anchor: 9)
        for id in moved { all[id]!.anchor = 9 }
        try assertClean(store)
        try assertVectors(store, all)

        // Reopening does not upgrade again and sees the same.
        let reopened = try VectorStore.open(at: url, options: fastOptions)
        try assertClean(reopened)
        try assertVectors(reopened, all)
    }

    func testVersion2DatabaseOpenedReadOnlyIsReadAsItIs() throws {
        let (url, expected) = try version2Database()
        let before = dataFingerprint(url)
        var options = fastOptions
        options.readOnly = true
        do {
            let store = try VectorStore.open(at: url, options: options)
            try assertClean(store) // block/slot id map entries are verified as such
            try assertVectors(store, expected) // through the 12-byte id map entries
        }
        XCTAssertEqual(dataFingerprint(url), before, "a read-only open changes nothing")
    }

    func testMergeFactorIsRecordedAndValidated() throws {
        var options = fastOptions
        options.minimumBlockVectors = 1
        options.mergeFactor = 7
        let store = try makeStore(dimension: 16, options: options)
        XCTAssertEqual(store.largeBlockCapacity, 7 * store.blockCapacity)
        let items = newItems(40 * store.blockCapacity, dimension: 16, anchors: 2, seed: 73)
        let ids = try store.insert(items)
        try assertClean(store)
        let reopened = try VectorStore.open(at: databaseURL(), options: fastOptions)
        XCTAssertEqual(reopened.largeBlockCapacity, 7 * reopened.blockCapacity)
        XCTAssertEqual(try reopened.stats().largeBlockCapacity, reopened.largeBlockCapacity)
        let large = try reopened.read { snap in
            var n = 0
            try snap.forEachBlock { if $0.capacity == reopened.largeBlockCapacity { n += 1 } }
            return n
        }
        XCTAssertGreaterThanOrEqual(large, 4, "20 small blocks per partition merge into 2 large ones each")
        try reopened.read { snap in
            for (id, item) in zip(ids, items) { assertBitIdentical(try snap.vector(id: id), item.vector) }
        }

        options.mergeFactor = 1
        assertStoreError(try makeStore(dimension: 16, name: "bad", options: options)) {
            if case let .invalidArgument(_, reason) = $0 { return reason.contains("mergeFactor") }
            return false
        }
    }
}
