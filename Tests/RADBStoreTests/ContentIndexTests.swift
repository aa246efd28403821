import Foundation
import GRDB
import RADBStore
import RADBStoreTesting
import XCTest

/// The content-hash index in LMDB: lookups through every kind of write, `check()` catching a
/// damaged index, and databases of the previous format (upgraded for writing, read as they are
/// when opened read-only).
final class ContentIndexTests: StoreTestCase {
    /// Items where some contents repeat (hash-dup-k appears three times), as a re-ingest would.
    private func itemsWithDuplicates(_ n: Int, seed: UInt64) -> [NewItem] {
        var items = newItems(n, dimension: 6, anchors: 4, seed: seed)
        for i in stride(from: 0, to: n, by: 7) { items[i].metadata.contentHash = "hash-dup-\(i % 3)" }
        return items
    }

    /// Expected content hash → ids, from the items the test wrote.
    private func expectedLookups(_ items: [NewItem], _ ids: [UInt64]) -> [String: [UInt64]] {
        var out: [String: [UInt64]] = [:]
        for (item, id) in zip(items, ids) { out[item.metadata.contentHash, default: []].append(id) }
        return out.mapValues { $0.sorted() }
    }

    private func assertLookups(_ store: VectorStore, _ expected: [String: [UInt64]],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        try store.read { snap in
            for (hash, ids) in expected {
                let found = try snap.items(contentHash: hash)
                XCTAssertEqual(found.map(\.id), ids, "lookup of \(hash)", file: file, line: line)
                XCTAssertTrue(found.allSatisfy { $0.metadata.contentHash == hash }, file: file, line: line)
            }
            XCTAssertEqual(try snap.items(contentHash: "never-stored"), [], file: file, line: line)
        }
    }

    func testLookupsFollowInsertDeleteUpdateAndReanchor() throws {
        let store = try makeStore(dimension: 6)
        let items = itemsWithDuplicates(200, seed: 40)
        let ids = try store.insert(items)
        var expected = expectedLookups(items, ids)
        XCTAssertEqual(expected["hash-dup-0"]?.count, 10)
        try assertLookups(store, expected)

        // Delete one of the duplicates and a unique item.
        try store.delete(ids: [ids[0], ids[1]])
        expected["hash-dup-0"]?.removeAll { $0 == ids[0] }
        expected[items[1].metadata.contentHash] = nil
        // Change a hash (twice in one call: the last update wins), keep another one's hash.
        var moved = items[2].metadata
        moved.contentHash = "hash-first"
        var final = moved
        final.contentHash = "hash-final"
        var relabelled = items[3].metadata
        relabelled.label = "relabelled"
        try store.updateMetadata([(ids[2], moved), (ids[3], relabelled), (ids[2], final)])
        expected[items[2].metadata.contentHash] = nil
        expected["hash-final"] = [ids[2]]
        // Re-anchoring keeps the index as it is.
        try store.moveToAnchor(ids: [ids[3], ids[7]], anchor: 9)
        try assertLookups(store, expected)
        XCTAssertEqual(try store.items(contentHash: "hash-first"), [])
        XCTAssertEqual(try store.item(contentHash: items[3].metadata.contentHash)?.metadata.label, "relabelled")
        try assertClean(store)

        let reopened = try VectorStore.open(at: databaseURL(), options: fastOptions)
        try assertLookups(reopened, expected)
    }

    /// New entries go to the small recent part and are merged into the main part in one pass;
    /// lookups, deletes and updates find entries in either part.
    func testRecentEntriesAreMergedIntoTheMainIndex() throws {
        var options = fastOptions
        options.contentIndexMergeMinimum = 100
        let store = try makeStore(dimension: 6, options: options)
        var expected: [String: [UInt64]] = [:]
        var all: [(NewItem, UInt64)] = []
        for round in 0..<5 {
            let items = itemsWithDuplicates(60, seed: 50 + UInt64(round))
            let ids = try store.insert(items)
            all += zip(items, ids)
            for (hash, more) in expectedLookups(items, ids) { expected[hash, default: []] += more }
            let sizes = try store.contentIndexSizesForTesting()
            XCTAssertEqual(sizes.main + sizes.recent, all.count)
            // 60, 120 → merged, 60, 120 → merged, 60 (threshold max(100, main/4))
            XCTAssertEqual(sizes.recent, [60, 0, 60, 0, 60][round], "round \(round)")
            try assertLookups(store, expected)
        }
        // Delete one item that sits in the main part and one in the recent part; re-hash another.
        let (inMain, inRecent) = (all[3], all[all.count - 2])
        try store.delete(ids: [inMain.1, inRecent.1])
        expected[inMain.0.metadata.contentHash]?.removeAll { $0 == inMain.1 }
        expected[inRecent.0.metadata.contentHash]?.removeAll { $0 == inRecent.1 }
        try rehash(store, all[10], to: "hash-renamed", expected: &expected)
        try assertLookups(store, expected.filter { !$0.value.isEmpty })
        try assertClean(store)
    }

    /// Each insert appends one sorted run; past `maxRuns` runs they are combined into one.
    /// Deleting or re-hashing an item rewrites the run holding it (or drops a run left empty).
    func testRunsAreCombinedAndRewrittenOnRemoval() throws {
        let store = try makeStore(dimension: 6) // merge threshold 65,536: everything stays in runs
        var expected: [String: [UInt64]] = [:]
        var all: [(NewItem, UInt64)] = []
        for round in 0..<40 {
            let items = itemsWithDuplicates(round % 5 == 4 ? 1 : 7, seed: 200 + UInt64(round))
            let ids = try store.insert(items)
            all += zip(items, ids)
            for (hash, more) in expectedLookups(items, ids) { expected[hash, default: []] += more }
            let sizes = try store.contentIndexSizesForTesting()
            XCTAssertEqual(sizes.recent, all.count, "round \(round)")
            XCTAssertLessThanOrEqual(sizes.runs, 16, "runs are combined past 16")
        }
        try assertLookups(store, expected)
        try assertClean(store)
        // A one-item insert made a one-entry run: deleting that item removes the run; deleting
        // items of combined runs rewrites them.
        let single = all.last!, others = [all[0], all[50], all[100]]
        let runsBefore = try store.contentIndexSizesForTesting().runs
        try store.delete(ids: [single.1] + others.map(\.1))
        for (item, id) in [single] + others { expected[item.metadata.contentHash]?.removeAll { $0 == id } }
        XCTAssertEqual(try store.contentIndexSizesForTesting().runs, runsBefore - 1)
        XCTAssertEqual(try store.contentIndexSizesForTesting().recent, all.count - 4)
        try rehash(store, all[20], to: "hash-renamed-in-a-run", expected: &expected)
        try assertLookups(store, expected.filter { !$0.value.isEmpty })
        try assertClean(store)
        let reopened = try VectorStore.open(at: databaseURL(), options: fastOptions)
        try assertLookups(reopened, expected.filter { !$0.value.isEmpty })
    }

    func testCheckReportsAMissingAndADanglingIndexEntry() throws {
        let store = try makeStore(dimension: 6)
        let items = itemsWithDuplicates(40, seed: 41)
        let ids = try store.insert(items)
        try assertClean(store)
        try store.damageContentIndexForTesting(id: ids[5], contentHash: items[5].metadata.contentHash, danglingId: 777)
        let problems = try store.check()
        XCTAssertEqual(problems.map(\.kind), [.contentIndex, .contentIndex], "\(problems)")
        XCTAssertTrue(problems.contains { $0.message.contains("missing from the content-hash index") && $0.message.contains("\(ids[5])") })
        XCTAssertTrue(problems.contains { $0.message.contains("point at no catalog row") && $0.message.contains("777") })
    }

    // MARK: - Databases of the previous format

    /// A populated database rewritten into format 1 / schema 1; returns its lookups.
    private func version1Database(name: String = "db") throws -> (URL, [String: [UInt64]], [NewItem]) {
        let items = itemsWithDuplicates(300, seed: 42)
        let ids: [UInt64]
        do {
            var options = fastOptions
            options.mergeFactor = 4 // the only layout formats 1–2 know
            let store = try makeStore(dimension: 6, name: name, options: options)
            ids = try store.insert(Array(items[..<150])) + store.insert(Array(items[150...]))
            try store.rewriteAsVersion1ForTesting()
        }
        let url = databaseURL(name)
        // It is what the previous radb wrote: schema 1 with its content-key index.
        let q = try catalogQueue(url)
        try q.read { db in
            XCTAssertEqual(try Int.fetchOne(db, sql: "PRAGMA user_version"), 1)
            XCTAssertEqual(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'items_by_%' ORDER BY name"),
                           ["items_by_content_key", "items_by_label"])
        }
        try q.close()
        return (url, expectedLookups(items, ids), items)
    }

    /// A plain SQLite connection to the catalog (waiting out the store's closing checkpoint).
    private func catalogQueue(_ url: URL) throws -> DatabaseQueue {
        var config = Configuration()
        config.busyMode = .timeout(10)
        return try DatabaseQueue(path: url.appendingPathComponent("catalog.sqlite").path, configuration: config)
    }

    private func catalogLayout(_ url: URL) throws -> (version: Int, indexes: [String]) {
        let q = try catalogQueue(url)
        defer { try? q.close() }
        return try q.read { db in
            (try Int.fetchOne(db, sql: "PRAGMA user_version") ?? -1,
             try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'items_by_%' ORDER BY name"))
        }
    }

    func testVersion1DatabaseIsUpgradedWhenOpenedForWriting() throws {
        let (url, expected, _) = try version1Database()
        let store = try VectorStore.open(at: url, options: fastOptions)
        XCTAssertEqual(try catalogLayout(url).version, CatalogSchema.latestVersion)
        XCTAssertEqual(try catalogLayout(url).indexes, [], "the SQLite content-key index is dropped, and the label index became label_runs (schema 3)")
        try assertClean(store) // includes: every row indexed exactly once in LMDB
        try assertLookups(store, expected)

        // Writes after the upgrade keep the index.
        let more = itemsWithDuplicates(30, seed: 43)
        let moreIds = try store.insert(more)
        var all = expected
        for (hash, ids) in expectedLookups(more, moreIds) { all[hash, default: []] += ids }
        try assertLookups(store, all)
        try assertClean(store)
    }

    func testVersion1DatabaseOpenedReadOnlyIsReadAsItIs() throws {
        let (url, expected, items) = try version1Database()
        let before = dataFingerprint(url)
        var options = fastOptions
        options.readOnly = true
        do {
            let store = try VectorStore.open(at: url, options: options)
            try assertLookups(store, expected) // through the catalog's schema-1 index
            XCTAssertEqual(try store.stats().items, 300)
            try assertClean(store)
            assertStoreError(try store.insert(Array(items[..<1]))) { if case .readOnly = $0 { return true }; return false }
            assertStoreError(try store.delete(ids: [1])) { if case .readOnly = $0 { return true }; return false }
            assertStoreError(try store.setAnchors([0, 0, 0, 0, 0, 0], count: 1)) { if case .readOnly = $0 { return true }; return false }
        }
        XCTAssertEqual(try catalogLayout(url).version, 1, "a read-only open does not upgrade")
        XCTAssertEqual(dataFingerprint(url), before, "a read-only open changes nothing")
    }

    /// A read-only store of this process keeps working while another process upgrades the
    /// database under it: its next snapshots find LMDB's new `contents` database (opened lazily).
    func testReadOnlyStoreFollowsAnUpgradeByAnotherProcess() throws {
        let (url, expected, _) = try version1Database()
        var options = fastOptions
        options.readOnly = true
        let reader = try VectorStore.open(at: url, options: options)
        try assertLookups(reader, expected)
        // The probe opens the database for writing (which upgrades it) and runs check().
        let probe = try startProbe(["check", url.path])
        let (status, stderr) = probe.wait()
        XCTAssertEqual(status, 0, "probe check failed: \(stderr) \(probe.remainingLines())")
        XCTAssertEqual(try catalogLayout(url).indexes, [])
        try assertLookups(reader, expected)
        try assertClean(reader)
    }

    /// Gives a stored item a new content hash and moves its id in `expected` accordingly.
    private func rehash(_ store: VectorStore, _ entry: (NewItem, UInt64), to hash: String,
                        expected: inout [String: [UInt64]]) throws {
        var renamed = entry.0.metadata
        renamed.contentHash = hash
        try store.updateMetadata(id: entry.1, renamed)
        expected[entry.0.metadata.contentHash]?.removeAll { $0 == entry.1 }
        expected[hash] = [entry.1]
    }
}
