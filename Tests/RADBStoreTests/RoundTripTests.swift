import Foundation
import RADBStore
import XCTest

/// Insert, read back, reopen, delete, re-anchor: the store returns exactly what it was given.
final class RoundTripTests: StoreTestCase {
    func testInsertReopenReadsBackBitIdenticalVectorsAndMetadata() throws {
        let d = 24
        var items = newItems(700, dimension: d, anchors: 5, seed: 1)
        // Text the catalog binds in place: empty, non-ASCII, longer than a small string.
        items[7].metadata.label = ""
        items[8].metadata.path = "fotos/über/straße-🙂-" + String(repeating: "x", count: 300) + ".jpg"
        items[9].metadata.label = "Größe ≥ 3 — ∑"
        var ids: [UInt64] = []
        do {
            let store = try makeStore(dimension: d)
            ids = try store.insert(Array(items[..<300]))
            ids += try store.insert(Array(items[300...]))
        }
        XCTAssertEqual(ids, Array(1...700).map(UInt64.init), "ids are assigned densely in batch order")
        let store = try VectorStore.open(at: databaseURL(), dimension: d, modelIdentity: "model-A", options: fastOptions)
        for (i, id) in ids.enumerated() {
            assertBitIdentical(try store.vector(id: id), items[i].vector)
            let row = try XCTUnwrap(store.item(id: id))
            XCTAssertEqual(row.metadata, items[i].metadata)
            XCTAssertEqual(row.anchor, items[i].anchor)
        }
        XCTAssertNil(try store.vector(id: 9999))
        XCTAssertNil(try store.item(id: 9999))
        let stats = try store.stats()
        XCTAssertEqual(stats.items, 700)
        XCTAssertEqual(stats.partitions, Set(items.map(\.anchor)).count)
        XCTAssertGreaterThan(stats.bytesOnDisk, 700 * d * 4)
        try assertClean(store)
    }

    /// Walks every block of every partition and checks the layout promises: contiguous,
    /// aligned, dense (all blocks but the last full), large blocks formed by merging.
    private func assertDensePartitions(_ store: VectorStore, expected: [UInt64: NewItem],
                                       file: StaticString = #filePath, line: UInt = #line) throws {
        let d = store.dimension
        try store.read { snap in
            var seen = 0
            XCTAssertEqual(try snap.partitions.map(\.count).reduce(0, +), expected.count, file: file, line: line)
            for p in try snap.partitions {
                var blocks: [PartitionBlock] = []
                XCTAssertEqual(try snap.count(partition: p.anchor), p.count, file: file, line: line)
                try snap.forEachBlock(partition: p.anchor) { block in
                    blocks.append(block)
                    XCTAssertTrue([store.blockCapacity, store.largeBlockCapacity].contains(block.capacity), file: file, line: line)
                    XCTAssertLessThanOrEqual(block.count, block.capacity, file: file, line: line)
                    XCTAssertEqual(block.vectors.count, block.count * d, file: file, line: line)
                    XCTAssertEqual(Int(bitPattern: block.vectors.baseAddress) % 4, 0, file: file, line: line)
                    XCTAssertEqual(Int(bitPattern: block.ids.baseAddress) % 8, 0, file: file, line: line)
                    for i in 0..<block.count {
                        let item = try XCTUnwrap(expected[block.ids[i]], file: file, line: line)
                        XCTAssertEqual(item.anchor, p.anchor, file: file, line: line)
                        XCTAssertEqual(Array(block.vector(at: i)).map(\.bitPattern), item.vector.map(\.bitPattern), file: file, line: line)
                        XCTAssertEqual(block.squaredNorms[i], item.vector.reduce(0) { $0 + $1 * $1 }, file: file, line: line)
                    }
                    seen += block.count
                }
                for b in blocks.dropLast() {
                    XCTAssertEqual(b.count, b.capacity, "partition \(p.anchor) is dense", file: file, line: line)
                }
                // `mergeFactor` full small blocks never trail: they are merged into a large one.
                let trailingSmall = blocks.dropLast().reversed().prefix { $0.capacity == store.blockCapacity }.count
                XCTAssertLessThan(trailingSmall, store.largeBlockCapacity / store.blockCapacity, file: file, line: line)
            }
            XCTAssertEqual(seen, expected.count, file: file, line: line)
        }
    }

    /// Options with one-page small blocks merged by fours, so a few hundred vectors exercise
    /// merging.
    private var smallBlocks: StoreOptions {
        var o = fastOptions
        o.minimumBlockVectors = 1
        o.mergeFactor = 4
        return o
    }

    func testPartitionBlocksAreContiguousAlignedDenseAndMerged() throws {
        let d = 16
        let store = try makeStore(dimension: d, options: smallBlocks)
        XCTAssertEqual(store.blockCapacity, (4096 - 32) / (12 + 4 * d), "one-page small blocks")
        let items = newItems(1500, dimension: d, anchors: 3, seed: 2)
        var ids: [UInt64] = []
        for start in stride(from: 0, to: 1500, by: 300) { ids += try store.insert(Array(items[start..<start + 300])) }
        try assertDensePartitions(store, expected: Dictionary(uniqueKeysWithValues: zip(ids, items)))
        let large = try store.read { snap in
            var n = 0
            for p in try snap.partitions { try snap.forEachBlock(partition: p.anchor) { if $0.capacity == store.largeBlockCapacity { n += 1 } } }
            return n
        }
        XCTAssertGreaterThanOrEqual(large, 3, "each 500-vector partition holds a merged large block")
        XCTAssertEqual(try store.read { try $0.count(partition: 77) }, 0)
        // One big batch into one partition merges many groups at once.
        let burst = newItems(2000, dimension: d, anchors: 1, seed: 3, prefix: "burst")
        ids += try store.insert(burst)
        try assertDensePartitions(store, expected: Dictionary(uniqueKeysWithValues: zip(ids, items + burst)))
        try assertClean(store)
    }

    func testDeleteFreesTheSlotAndKeepsPartitionsDense() throws {
        let d = 8
        let store = try makeStore(dimension: d, options: smallBlocks)
        let items = newItems(1800, dimension: d, anchors: 2, seed: 3)
        var ids: [UInt64] = []
        for start in stride(from: 0, to: 1800, by: 600) { ids += try store.insert(Array(items[start..<start + 600])) }
        var rng = SplitMix(state: 9)
        let doomed = Array(ids.shuffled(using: &rng).prefix(900))
        try store.delete(ids: Array(doomed[..<400]))
        try store.delete(ids: Array(doomed[400...]))
        try assertClean(store)
        let dead = Set(doomed)
        var live: [UInt64: NewItem] = [:]
        for (i, id) in ids.enumerated() where !dead.contains(id) { live[id] = items[i] }
        try assertDensePartitions(store, expected: live)
        XCTAssertEqual(try store.stats().items, 900)
        for (i, id) in ids.enumerated() {
            if dead.contains(id) {
                XCTAssertNil(try store.vector(id: id))
                XCTAssertNil(try store.item(id: id))
            } else {
                assertBitIdentical(try store.vector(id: id), items[i].vector)
            }
        }
        // Freed slots are reused: after refilling, partitions are dense again.
        let more = newItems(900, dimension: d, anchors: 2, seed: 4)
        let moreIds = try store.insert(more)
        XCTAssertEqual(moreIds.first, 1801, "ids are never reused")
        for (id, item) in zip(moreIds, more) { live[id] = item }
        try assertDensePartitions(store, expected: live)
        // Delete everything: the store is empty and still clean.
        try store.delete(ids: Array(live.keys))
        XCTAssertEqual(try store.stats().items, 0)
        XCTAssertEqual(try store.read { try $0.partitions }, [])
        try assertClean(store)
    }

    func testReanchoringMovesItemsWithoutLoss() throws {
        let d = 12
        let store = try makeStore(dimension: d, options: smallBlocks)
        let items = newItems(400, dimension: d, anchors: 4, seed: 5)
        let ids = try store.insert(items)
        let moving = ids.enumerated().filter { items[$0.offset].anchor == 1 }.map(\.element)
        try store.moveToAnchor(ids: moving, anchor: 7)
        XCTAssertEqual(try store.read { try $0.count(partition: 1) }, 0)
        XCTAssertEqual(try store.read { try $0.count(partition: 7) }, moving.count)
        // A batch of individual (id, anchor) moves, including a no-op move.
        try store.reanchor([(ids[0], -3), (ids[1], items[1].anchor), (moving[0], 2)])
        try assertClean(store)
        for (i, id) in ids.enumerated() {
            assertBitIdentical(try store.vector(id: id), items[i].vector)
            let expectedAnchor: Int32 = id == ids[0] ? -3 : (id == moving[0] ? 2 : (moving.contains(id) ? 7 : items[i].anchor))
            XCTAssertEqual(try store.item(id: id)?.anchor, expectedAnchor)
            XCTAssertEqual(try store.item(id: id)?.metadata, items[i].metadata)
        }
        XCTAssertEqual(try store.stats().items, 400)
        var expected: [UInt64: NewItem] = [:]
        for (i, id) in ids.enumerated() {
            var item = items[i]
            item.anchor = try XCTUnwrap(store.item(id: id)).anchor
            expected[id] = item
        }
        try assertDensePartitions(store, expected: expected)
    }

    func testUpdateMetadataContentHashLookupAndFilters() throws {
        let store = try makeStore(dimension: 4)
        let before = Date(timeIntervalSince1970: Date().timeIntervalSince1970 - 1)
        let items = newItems(30, dimension: 4, anchors: 2, seed: 6)
        let ids = try store.insert(items)
        let after = Date().addingTimeInterval(1)
        let newMeta = ItemMetadata(path: "renamed/x.png", contentHash: "hash-6-3", label: "dog", width: 1, height: 2)
        try store.updateMetadata(id: ids[5], newMeta)
        XCTAssertEqual(try store.item(id: ids[5])?.metadata, newMeta)
        XCTAssertEqual(try store.items(contentHash: "hash-6-3").map(\.id), [ids[3], ids[5]])
        XCTAssertEqual(try store.item(contentHash: "hash-6-7")?.id, ids[7])
        XCTAssertNil(try store.item(contentHash: "nope"))

        let class1 = ids.enumerated().filter { items[$0.offset].metadata.label == "class1" && $0.offset != 5 }.map(\.element)
        XCTAssertEqual(try store.ids(matching: .labelEquals("class1")), class1)
        XCTAssertEqual(try store.ids(matching: .labelIn(["dog"])), [ids[5]])
        XCTAssertEqual(try store.ids(matching: .pathGlob("renamed/*")), [ids[5]])
        XCTAssertEqual(try store.ids(matching: .pathGlob("img/6/1?.jpg")), Array(ids[10...19]).filter { $0 != ids[5] })
        XCTAssertEqual(try store.ids(matching: .addedAfter(before)).count, 30)
        XCTAssertEqual(try store.ids(matching: .addedBefore(before)), [])
        XCTAssertEqual(try store.ids(matching: .all([.addedBefore(after), .ids([ids[1], ids[2], 4242]), .labelEquals("class1")])), [ids[1]])
        XCTAssertEqual(try store.ids(matching: .ids([ids[9], 4242])), [ids[9]])

        try store.read { snap in
            var buffer = [Float](repeating: .nan, count: 2 * 4)
            var norms = [Float](repeating: .nan, count: 2)
            try buffer.withUnsafeMutableBufferPointer { b in
                try norms.withUnsafeMutableBufferPointer { n in
                    try snap.gatherVectors(ids: [ids[9], ids[0]], into: b, squaredNorms: n)
                }
            }
            XCTAssertEqual(buffer.map(\.bitPattern), (items[9].vector + items[0].vector).map(\.bitPattern))
            XCTAssertEqual(norms[1], items[0].vector.reduce(0) { $0 + $1 * $1 })
            XCTAssertEqual(try snap.items(ids: [ids[2], 999, ids[1]]).map(\.id), [ids[2], ids[1]])
        }
        try assertClean(store)
    }

    func testAnchorsAreStoredInTheDatabase() throws {
        let store = try makeStore(dimension: 3)
        XCTAssertEqual(try store.anchors(), [])
        let anchors: [Float] = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0.5, -0.5, 2]
        try store.setAnchors(anchors, count: 4)
        let reopened = try VectorStore.open(at: databaseURL(), options: fastOptions)
        XCTAssertEqual(try reopened.anchors(), anchors)
        XCTAssertEqual(try reopened.read { try $0.anchors() }, anchors)
        assertStoreError(try store.setAnchors([1, 2], count: 1)) { if case .invalidAnchors = $0 { return true }; return false }
        assertStoreError(try store.setAnchors([1, .nan, 0], count: 1)) { if case .invalidAnchors = $0 { return true }; return false }
        XCTAssertEqual(try store.anchors(), anchors)
    }

    func testMapGrowsByItselfFromATinyInitialMap() throws {
        var options = fastOptions
        options.initialMapSize = 64 * 1024
        let d = 64
        let store = try makeStore(dimension: d, options: options)
        let items = newItems(3000, dimension: d, anchors: 20, seed: 7)
        var ids: [UInt64] = []
        for chunk in stride(from: 0, to: 3000, by: 500) { ids += try store.insert(Array(items[chunk..<chunk + 500])) }
        XCTAssertGreaterThan(try store.stats().vectorBytes, 3000 * d * 4, "the data outgrew the 64 KiB initial map")
        for i in stride(from: 0, to: 3000, by: 97) { assertBitIdentical(try store.vector(id: ids[i]), items[i].vector) }
        try assertClean(store)
    }

    func testStoreMethodsInsideReadThrowInsteadOfDeadlocking() throws {
        let store = try makeStore(dimension: 4)
        try store.insert(newItems(3, dimension: 4, anchors: 1, seed: 8))
        try store.read { _ in
            assertStoreError(try store.insert(newItems(1, dimension: 4, anchors: 1, seed: 9))) {
                if case .calledInsideReadSnapshot = $0 { return true }; return false
            }
            assertStoreError(try store.item(id: 1)) { if case .calledInsideReadSnapshot = $0 { return true }; return false }
        }
        XCTAssertEqual(try store.stats().items, 3)
    }
}
