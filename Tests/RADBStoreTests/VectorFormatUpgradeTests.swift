import Foundation
import RADBStore
import RADBStoreTesting
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

/// Positions under the edits that change a partition's shape: a large tail emptied by
/// deletes, a partial large tail refilled, small blocks after it, merges of several groups.
final class PartitionPositionTests: StoreTestCase {
    func testPositionsFollowDeletesIntoLargeBlocksAndRefills() throws {
        let d = 16
        var options = fastOptions
        options.minimumBlockVectors = 1 // 53-vector small blocks at d = 16
        options.mergeFactor = 3         // 159-vector large blocks
        let store = try makeStore(dimension: d, options: options)
        let (small, large) = (store.blockCapacity, store.largeBlockCapacity)
        var live: [UInt64: NewItem] = [:]
        var serial: UInt64 = 0
        func insert(_ n: Int) throws {
            serial += 1
            let items = newItems(n, dimension: d, anchors: 1, seed: 900 + serial, prefix: "p\(serial)")
            for (id, item) in zip(try store.insert(items), items) { live[id] = item }
        }
        func delete(_ ids: [UInt64]) throws {
            try store.delete(ids: ids)
            for id in ids { live[id] = nil }
        }
        func verify(_ step: String, file: StaticString = #filePath, line: UInt = #line) throws {
            XCTAssertEqual(try store.check(), [], step, file: file, line: line)
            try store.read { snap in
                XCTAssertEqual(try snap.count(partition: 0), live.count, step, file: file, line: line)
                for (id, item) in live { assertBitIdentical(try snap.vector(id: id), item.vector, file: file, line: line) }
            }
        }
        func shape() throws -> [Int] { // capacities of partition 0's blocks
            try store.read { snap in
                var caps: [Int] = []
                try snap.forEachBlock(partition: 0) { caps.append($0.capacity) }
                return caps
            }
        }

        try insert(2 * large + small + 5) // two merges in one batch, one full small block, a tail
        XCTAssertEqual(try shape(), [large, large, small, small])
        try verify("after two merges in one write")
        // Delete everything after the first large block, then 10 vectors inside it: the tail is
        // now a partial large block (the emptied large block is forgotten, not left counted).
        let ordered = live.keys.sorted()
        try delete(Array(ordered[large...]))
        XCTAssertEqual(try shape(), [large])
        try delete(Array(ordered[3..<13]))
        XCTAssertEqual(try shape(), [large])
        try verify("after deletes into the large tail")
        try insert(10 + small + 4) // refills the large tail, then small blocks follow it
        XCTAssertEqual(try shape(), [large, small, small])
        try verify("after refilling")
        try insert(2 * small) // now 3 full small blocks trail: merged into a second large block
        XCTAssertEqual(try shape(), [large, large, small])
        try verify("after the next merge")
        // Swap-removes across block kinds, and a move out of and back into the partition.
        let sample = live.keys.sorted().enumerated().filter { $0.offset % 9 == 0 }.map(\.element)
        try delete(Array(sample.prefix(20)))
        let moved = Array(sample.dropFirst(20).prefix(5))
        try store.moveToAnchor(ids: moved, anchor: 1)
        try store.moveToAnchor(ids: moved, anchor: 0)
        try verify("after deletes and moves")
        let reopened = try VectorStore.open(at: databaseURL(), options: fastOptions)
        XCTAssertEqual(try reopened.check(), [])
    }
}
