import Foundation
import GRDB
import RADBStore
import RADBStoreTesting
import XCTest

/// Model generations (vector format 4): anchors switch with the partitions in one numbered
/// commit, kill -9 leaves one whole generation, writers beside a switch never place items
/// with stale anchors, readers always route with their snapshot's anchors, damaged anchors are
/// reported, and databases written before generations are upgraded.
final class ModelGenerationTests: StoreTestCase {
    // MARK: - Helpers

    /// The routing rule of the probe's anchored subcommands (squared L2, ties to the lower index).
    private func nearest(_ v: UnsafeBufferPointer<Float>, _ g: ModelGeneration) -> (anchor: Int32, distance: Float) {
        let d = g.dimension
        var best = 0, bestDistance = Float.infinity
        for a in 0..<g.anchorCount {
            var s: Float = 0
            for j in 0..<d { let t = v[j] - g.anchors[a * d + j]; s += t * t }
            if s < bestDistance { bestDistance = s; best = a }
        }
        return (Int32(best), bestDistance)
    }

    /// Asserts that the store holds one whole generation: every partition has an anchor and
    /// every item is in the partition of its nearest anchor. Returns the generation.
    @discardableResult
    private func assertWholeGeneration(_ store: VectorStore, file: StaticString = #filePath, line: UInt = #line) throws -> ModelGeneration {
        try store.read { snap in
            let g = try XCTUnwrap(try snap.generation, file: file, line: line)
            var misplaced = 0
            for p in try snap.partitions {
                XCTAssertTrue(p.anchor >= 0 && Int(p.anchor) < g.anchorCount, "partition \(p.anchor) has no anchor", file: file, line: line)
                try snap.forEachBlock(partition: p.anchor) { block in
                    for i in 0..<block.count where nearest(block.vector(at: i), g).anchor != p.anchor { misplaced += 1 }
                }
            }
            XCTAssertEqual(misplaced, 0, "items not under their nearest anchor of generation \(g.number)", file: file, line: line)
            return g
        }
    }

    private func randomAnchors(_ count: Int, _ d: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix(state: seed)
        return (0..<count).flatMap { _ in randomVector(d, &rng) }
    }

    /// Items routed to their nearest anchor of `g`.
    private func routed(_ items: [NewItem], _ g: ModelGeneration) -> [NewItem] {
        items.map { item in
            var copy = item
            copy.anchor = item.vector.withUnsafeBufferPointer { nearest($0, g).anchor }
            return copy
        }
    }

    private func nearestAssignment(_ anchors: [Float], _ count: Int, _ d: Int) -> VectorStore.GenerationAssignment {
        let g = ModelGeneration(number: 0, anchorCount: count, dimension: d, createdAt: 0, anchors: anchors)
        return { vectors, rows in
            (0..<rows).map { self.nearest(UnsafeBufferPointer(rebasing: vectors[$0 * d ..< ($0 + 1) * d]), g).anchor }
        }
    }

    // MARK: - One commit

    func testSwitchPlacesEveryItemUnderTheNewAnchorsInOneCommit() throws {
        let d = 6
        let store = try makeStore(dimension: d)
        try store.setAnchors(randomAnchors(5, d, seed: 1), count: 5)
        let g1 = try XCTUnwrap(try store.generation())
        XCTAssertEqual(g1.number, 1)
        let ids = try store.insert(routed(newItems(400, dimension: d, anchors: 1, seed: 2), g1), generation: 1)
        let before = try store.stats().sequence
        let anchors = randomAnchors(17, d, seed: 3)
        let report = try store.switchGeneration(anchors: anchors, count: 17, assign: nearestAssignment(anchors, 17, d))
        XCTAssertEqual(report.generation, 2)
        XCTAssertEqual(report.items, 400)
        XCTAssertGreaterThan(report.moved, 0)
        XCTAssertEqual(try store.stats().sequence, before + 1, "a switch is one numbered commit")
        let g2 = try assertWholeGeneration(store)
        XCTAssertEqual(g2.anchors.map(\.bitPattern), anchors.map(\.bitPattern))
        XCTAssertEqual(try store.anchors().map(\.bitPattern), anchors.map(\.bitPattern))
        XCTAssertEqual(try store.stats().items, ids.count)
        try assertClean(store)
    }

    func testWritesRoutedWithAnotherGenerationOrToAPartitionWithoutAnchorAreRefused() throws {
        let d = 4
        let store = try makeStore(dimension: d)
        try store.setAnchors(randomAnchors(3, d, seed: 5), count: 3)
        let g1 = try XCTUnwrap(try store.generation())
        try store.insert(routed(newItems(20, dimension: d, anchors: 1, seed: 6), g1), generation: 1)
        let anchors = randomAnchors(2, d, seed: 7)
        try store.switchGeneration(anchors: anchors, count: 2, assign: nearestAssignment(anchors, 2, d))
        // Routed with generation 1's anchors after generation 2 came in: refused, nothing written.
        assertStoreError(try store.insert(routed(newItems(5, dimension: d, anchors: 1, seed: 8), g1), generation: 1)) {
            if case .generationChanged(_, 1, 2) = $0 { return true }; return false
        }
        assertStoreError(try store.insert(newItems(5, dimension: d, anchors: 1, seed: 9).map { var i = $0; i.anchor = 2; return i })) {
            if case .noSuchAnchor(_, 2, 2, 2) = $0 { return true }; return false
        }
        assertStoreError(try store.moveToAnchor(ids: [1], anchor: -1)) {
            if case .noSuchAnchor = $0 { return true }; return false
        }
        // New anchors that would leave a used partition without an anchor, without moving it.
        assertStoreError(try store.setAnchors(randomAnchors(1, d, seed: 10), count: 1)) {
            if case .invalidAnchors = $0 { return true }; return false
        }
        assertStoreError(try store.setAnchors([.nan, 0, 0, 0], count: 1)) {
            if case .invalidAnchors = $0 { return true }; return false
        }
        XCTAssertEqual(try store.stats().items, 20)
        XCTAssertEqual(try store.generation()?.number, 2)
        try assertWholeGeneration(store)
        try assertClean(store)
    }

    func testASwitchInterruptedBetweenItsTwoCommitsIsRolledForward() throws {
        struct Died: Error {}
        let d = 4
        let url = databaseURL()
        let anchors = randomAnchors(9, d, seed: 12)
        do {
            let store = try makeStore(dimension: d)
            try store.setAnchors(randomAnchors(2, d, seed: 11), count: 2)
            let g1 = try XCTUnwrap(try store.generation())
            try store.insert(routed(newItems(300, dimension: d, anchors: 1, seed: 13), g1))
            store.afterVectorCommitHook = { throw Died() }
            XCTAssertThrowsError(try store.switchGeneration(anchors: anchors, count: 9, assign: nearestAssignment(anchors, 9, d)))
        }
        let store = try VectorStore.open(at: url, options: fastOptions)
        XCTAssertEqual(try store.generation()?.number, 2, "decided by its LMDB commit")
        try assertWholeGeneration(store)
        try assertClean(store) // catalog anchors (the mirror) and every row's anchor rolled forward
    }

    // MARK: - Processes and kill -9

    /// kill -9 at random moments of a loop of generation switches (every item moved each time):
    /// after each, the database opens, `check()` is clean, every item is stored, and all of them
    /// sit under their nearest anchor of one generation — the old one or the new one, whole.
    func testSIGKILLDuringGenerationSwitchesLeavesOneWholeGeneration() throws {
        let url = databaseURL()
        let setup = try startProbe(["create-anchored", url.path, "16", "3000", "8"])
        XCTAssertEqual(setup.wait().status, 0)
        var rng = SplitMix(state: 2024)
        var lastGeneration: UInt64 = 1, generationsSeen: Set<UInt64> = []
        for round in 0..<24 {
            let switcher = try startProbe(["switch-loop", url.path, String(round + 1)])
            usleep(useconds_t(Int.random(in: 20_000...260_000, using: &rng)))
            switcher.kill()
            let store = try VectorStore.open(at: url, options: fastOptions)
            XCTAssertEqual(try store.check().map(\.description), [], "round \(round)")
            XCTAssertEqual(try store.stats().items, 3000, "round \(round)")
            let g = try assertWholeGeneration(store)
            XCTAssertGreaterThanOrEqual(g.number, lastGeneration, "round \(round): the generation went back")
            lastGeneration = g.number
            generationsSeen.insert(g.number)
        }
        XCTAssertGreaterThan(generationsSeen.count, 5, "kills landed after some switches committed")
    }

    /// A writer process inserts (routing with the current generation), another switches
    /// generations, and a reader process checks every snapshot: each item is where its
    /// snapshot's anchors route it, every partition has an anchor, no item disappears. Then both
    /// writers are killed: every acknowledged item is stored, in one whole generation.
    func testInsertsAndReadersBesideGenerationSwitchesInOtherProcesses() throws {
        let url = databaseURL()
        XCTAssertEqual(try startProbe(["create-anchored", url.path, "16", "1500", "6"]).wait().status, 0)
        let reader = try startProbe(["search-loop", url.path, "4"])
        let inserter = try startProbe(["routed-insert-loop", url.path, "1", "40"])
        let switcher = try startProbe(["switch-loop", url.path, "77"])
        usleep(3_000_000)
        inserter.kill()
        switcher.kill()
        let readerLines = reader.remainingLines()
        let r = reader.wait()
        XCTAssertEqual(r.status, 0, "a reader could not reach an item: \(r.stderr)")
        let summary = try XCTUnwrap(readerLines.last?.split(separator: " "))
        XCTAssertEqual(summary.first, "reads")
        XCTAssertGreaterThan(Int(summary[5]) ?? 0, 1, "the reader saw several generations: \(readerLines.last ?? "")")

        var acknowledged: [(id: UInt64, path: String)] = []
        for line in inserter.remainingLines() where line.hasPrefix("committed ") {
            let f = line.split(separator: " ")
            let batch = Int(f[1])!, first = UInt64(f[2])!, count = Int(f[3])!
            for i in 0..<count { acknowledged.append((first + UInt64(i), "r1/b\(batch)/i\(i)")) }
        }
        XCTAssertGreaterThan(acknowledged.count, 0)
        let switches = switcher.remainingLines().filter { $0.hasPrefix("switched") }.count
        XCTAssertGreaterThan(switches, 1)
        let store = try VectorStore.open(at: url, options: fastOptions)
        XCTAssertEqual(try store.check().map(\.description), [])
        try assertWholeGeneration(store)
        for (id, path) in acknowledged { XCTAssertEqual(try store.item(id: id)?.metadata.path, path, "acknowledged id \(id)") }
    }

    /// A writer SIGKILLed inside LMDB's meta-page write (`die-publishing`) leaves its commit
    /// decided — the next LMDB write transaction builds on it — but invisible to read
    /// transactions until some process begins a write. A generation switch in another process
    /// must then roll that insert's catalog half forward and place its items; working from the
    /// stale view, it dropped their vectors while their content-index entries stayed, and gave
    /// its commit the insert's number, so that `check()` found "40 content-index entries point
    /// at no catalog row" (the rare failure of the test above).
    ///
    /// This process keeps the database open throughout, as the reader process of that test
    /// did: the first process to open an LMDB environment resets its lock file from the meta
    /// pages, which would hide the dead writer's state.
    func testGenerationSwitchAfterAWriterDiedPublishingItsCommit() throws {
        let url = databaseURL()
        XCTAssertEqual(try startProbe(["create-anchored", url.path, "16", "300", "4"]).wait().status, 0)
        let holder = try VectorStore.open(at: url, options: fastOptions)
        defer { withExtendedLifetime(holder) {} }
        try dieWhilePublishing(url, items: 40)
        let switched = try startProbe(["switch-loop", url.path, "5", "1"]).wait()
        XCTAssertEqual(switched.status, 0, switched.stderr)
        let store = try VectorStore.open(at: url, options: fastOptions)
        XCTAssertEqual(try store.check().map(\.description), [])
        XCTAssertEqual(try store.stats().items, 340, "the insert was decided by its LMDB commit")
        XCTAssertEqual(try store.item(id: 301)?.metadata.path, "dying/i0")
        XCTAssertEqual(try store.generation()?.number, 2)
        try assertWholeGeneration(store)
    }

    /// The same for a write in this process and for a plain open: both see the dead writer's
    /// commit (ids are not handed out twice, the catalog half is rolled forward).
    func testWritesAndOpensAfterAWriterDiedPublishingItsCommitSeeThatCommit() throws {
        let url = databaseURL()
        XCTAssertEqual(try startProbe(["create-anchored", url.path, "16", "300", "4"]).wait().status, 0)
        let holder = try VectorStore.open(at: url, options: fastOptions) // keeps the environment open
        defer { withExtendedLifetime(holder) {} }
        try dieWhilePublishing(url, items: 40)
        do {
            let store = try VectorStore.open(at: url, options: fastOptions)
            XCTAssertEqual(try store.stats().items, 340, "open rolls the decided insert forward")
        }
        try dieWhilePublishing(url, items: 40) // now ids 341…380
        let store = try VectorStore.open(at: url, options: fastOptions)
        let g = try XCTUnwrap(try store.generation())
        let ids = try store.insert(routed(newItems(10, dimension: 16, anchors: 1, seed: 71), g), generation: g.number)
        XCTAssertEqual(ids.first, 381, "ids after the dead writer's")
        XCTAssertEqual(try store.check().map(\.description), [])
        XCTAssertEqual(try store.stats().items, 390)
        XCTAssertEqual(try store.item(id: 341)?.metadata.path, "dying/i0")
    }

    /// Runs the probe that inserts `items` and dies as if inside LMDB's meta-page write.
    private func dieWhilePublishing(_ url: URL, items: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let probe = try startProbe(["die-publishing", url.path, String(items)])
        let result = probe.wait()
        XCTAssertEqual(probe.process.terminationReason, .uncaughtSignal, result.stderr, file: file, line: line)
        XCTAssertEqual(result.status, SIGKILL, result.stderr, file: file, line: line)
    }

    // MARK: - Damaged anchors (issue 12, item 8)

    func testDamagedAnchorsAreReportedNeverUsed() throws {
        let d = 4
        for damage in [VectorStore.AnchorDamage.nonFinite, .shortRow] {
            let store = try makeStore(dimension: d, name: "db-\(damage)")
            try store.setAnchors(randomAnchors(3, d, seed: 21), count: 3)
            let g = try XCTUnwrap(try store.generation())
            try store.insert(routed(newItems(30, dimension: d, anchors: 1, seed: 22), g))
            try store.damageAnchorsForTesting(damage)
            let e = assertStoreError(try store.generation()) { if case .invalidAnchors = $0 { return true }; return false }
            XCTAssertTrue(e?.description.contains("vectors") ?? false, "names the damaged file: \(e?.description ?? "")")
            let problems = try store.check()
            XCTAssertTrue(problems.contains { $0.kind == .anchors }, "\(damage): \(problems)")
        }
    }

    func testDamagedCatalogAnchorsOfAnOlderDatabaseStopTheUpgradeWithAClearError() throws {
        let d = 4
        let url = databaseURL()
        do {
            let store = try makeStore(dimension: d)
            try store.setAnchors(randomAnchors(3, d, seed: 31), count: 3)
            try store.insert(routed(newItems(30, dimension: d, anchors: 1, seed: 32), try XCTUnwrap(try store.generation())))
            try store.rewriteAsVersion3ForTesting()
            try store.damageAnchorsForTesting(.shortRow)
        }
        let e = assertStoreError(try VectorStore.open(at: url, options: fastOptions)) {
            if case .invalidAnchors = $0 { return true }; return false
        }
        XCTAssertTrue(e?.description.contains("catalog.sqlite") ?? false, "\(e?.description ?? "")")
        XCTAssertTrue(e?.description.contains("anchor 0 holds 12 bytes") ?? false, "\(e?.description ?? "")")
        var readOnly = fastOptions
        readOnly.readOnly = true
        let store = try VectorStore.open(at: url, options: readOnly)
        assertStoreError(try store.generation()) { if case .invalidAnchors = $0 { return true }; return false }
        XCTAssertTrue(try store.check().contains { $0.kind == .anchors })
    }

    // MARK: - Databases written before generations

    func testOlderDatabaseIsReadAsGenerationZeroAndUpgradedToGenerationOne() throws {
        let d = 5
        let url = databaseURL()
        let anchors = randomAnchors(4, d, seed: 41)
        do {
            let store = try makeStore(dimension: d)
            try store.setAnchors(anchors, count: 4)
            try store.insert(routed(newItems(200, dimension: d, anchors: 1, seed: 42), try XCTUnwrap(try store.generation())))
            try store.rewriteAsVersion3ForTesting()
        }
        var readOnly = fastOptions
        readOnly.readOnly = true
        do {
            let old = try VectorStore.open(at: url, options: readOnly)
            let g = try XCTUnwrap(try old.generation())
            XCTAssertEqual(g.number, 0, "an older database's anchors come from its catalog")
            XCTAssertEqual(g.anchors.map(\.bitPattern), anchors.map(\.bitPattern))
            XCTAssertEqual(try old.check(), [])
        }
        let store = try VectorStore.open(at: url, options: fastOptions)
        let g = try assertWholeGeneration(store)
        XCTAssertEqual(g.number, 1)
        XCTAssertEqual(g.anchors.map(\.bitPattern), anchors.map(\.bitPattern))
        try assertClean(store)
    }

    /// An older radb's interrupted reindex left items in partitions beyond the anchors: the
    /// upgrade keeps them, `check()` names them, and a switch repairs them.
    func testPartitionsWithoutAnchorsAreReportedAndASwitchRepairsThem() throws {
        let d = 4
        let url = databaseURL()
        let anchors = randomAnchors(4, d, seed: 51)
        do {
            let store = try makeStore(dimension: d) // no anchors yet: any partition is accepted
            try store.insert(newItems(300, dimension: d, anchors: 10, seed: 52))
            try store.rewriteAsVersion3ForTesting()
        }
        let queue = try DatabaseQueue(path: url.appendingPathComponent("catalog.sqlite").path)
        try queue.write { db in
            for a in 0..<4 {
                let data = anchors[a * d ..< (a + 1) * d].withUnsafeBytes { Data($0) }
                try db.execute(sql: "INSERT INTO anchors (anchor, vector) VALUES (?, ?)", arguments: [a, data])
            }
        }
        try queue.close()
        let store = try VectorStore.open(at: url, options: fastOptions)
        let problems = try store.check()
        XCTAssertEqual(problems.filter { $0.kind == .anchors }.count, 6, "partitions 4…9: \(problems)")
        XCTAssertTrue(problems.allSatisfy { $0.kind == .anchors })
        try store.switchGeneration(anchors: anchors, count: 4, assign: nearestAssignment(anchors, 4, d))
        try assertWholeGeneration(store)
        try assertClean(store)
        XCTAssertEqual(try store.stats().items, 300)
    }
}
