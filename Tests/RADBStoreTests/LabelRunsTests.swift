import Foundation
import GRDB
import RADBStore
import RADBStoreTesting
import XCTest

/// The catalog's label index as runs (schema 3): label filters give exactly the row-by-row
/// answer through inserts, deletes, relabels, reopening and the upgrade of a schema-2 catalog,
/// and `check()` notices a damaged run.
final class LabelRunsTests: StoreTestCase {
    /// The answer computed row by row from what the test wrote.
    private func expectedIds(_ labels: [UInt64: String?], _ keep: (String?) -> Bool) -> [UInt64] {
        labels.filter { keep($0.value) }.keys.sorted()
    }

    private func assertLabelFilters(_ store: VectorStore, _ labels: [UInt64: String?],
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        for l in ["class0", "class1", "class2", "class3", "class4", "relabelled", "absent"] {
            XCTAssertEqual(try store.ids(matching: .labelEquals(l)), expectedIds(labels) { $0 == l }, "label \(l)", file: file, line: line)
        }
        XCTAssertEqual(try store.ids(matching: .labelIn(["class1", "relabelled"])),
                       expectedIds(labels) { $0 == "class1" || $0 == "relabelled" }, file: file, line: line)
        XCTAssertEqual(try store.ids(matching: .labelIn([])), [], file: file, line: line)
        // Two label conditions intersect.
        XCTAssertEqual(try store.ids(matching: .all([.labelIn(["class1", "class2"]), .labelEquals("class2")])),
                       expectedIds(labels) { $0 == "class2" }, file: file, line: line)
    }

    func testLabelFiltersFollowInsertsDeletesRelabelsAndReopening() throws {
        var labels: [UInt64: String?] = [:]
        var paths: [UInt64: String] = [:]
        do {
            let store = try makeStore(dimension: 4)
            for seed in 0..<3 as Range<UInt64> {
                let items = newItems(400, dimension: 4, anchors: 5, seed: seed)
                for (id, item) in zip(try store.insert(items), items) {
                    labels[id] = item.metadata.label
                    paths[id] = item.metadata.path
                }
            }
            try assertLabelFilters(store, labels)

            // Deletes spread over every write's runs, including whole labels of one write.
            let doomed = labels.keys.sorted().enumerated().filter { $0.offset % 7 == 2 || (400..<800).contains($0.offset) && labels[$0.element] == "class1" }.map(\.element)
            try store.delete(ids: doomed)
            for id in doomed { labels[id] = nil }
            try assertLabelFilters(store, labels)
            try assertClean(store)

            // Relabels: to a new label, to another existing one, to none, and from none.
            var updates: [(id: UInt64, metadata: ItemMetadata)] = []
            for (n, id) in labels.keys.sorted().enumerated() where n % 5 == 1 {
                let newLabel: String? = [nil, "relabelled", "class3", nil][n % 4]
                updates.append((id, ItemMetadata(path: paths[id]!, contentHash: "rehashed-\(id)", label: newLabel, width: 1, height: 1)))
                labels[id] = newLabel
            }
            try store.updateMetadata(updates)
            try assertLabelFilters(store, labels)
            try assertClean(store)
            // A relabel back and forth lands in the run it left.
            let id = updates[0].id
            try store.updateMetadata(id: id, ItemMetadata(path: paths[id]!, contentHash: "x", label: "class4", width: 1, height: 1))
            try store.updateMetadata(id: id, ItemMetadata(path: paths[id]!, contentHash: "x", label: "relabelled", width: 1, height: 1))
            labels[id] = "relabelled"
            try assertLabelFilters(store, labels)
            try assertClean(store)
            // One call updating an id twice: the last update wins, in the rows and in the runs.
            let twice = updates[1].id
            try store.updateMetadata([(twice, ItemMetadata(path: paths[twice]!, contentHash: "y", label: "class0", width: 1, height: 1)),
                                      (twice, ItemMetadata(path: paths[twice]!, contentHash: "y", label: "class2", width: 1, height: 1))])
            labels[twice] = "class2"
            try assertLabelFilters(store, labels)
            try assertClean(store)
        }
        let reopened = try VectorStore.open(at: databaseURL(), options: fastOptions)
        try assertLabelFilters(reopened, labels)
        try assertClean(reopened)
    }

    /// Combined filters agree with the row-by-row answer on both sides of the point where the
    /// other conditions switch from id-by-id lookups to one scan of the catalog (a quarter of
    /// the rows).
    func testCombinedFiltersMatchTheRowByRowAnswer() throws {
        let store = try makeStore(dimension: 2)
        var rows: [UInt64: (label: String?, path: String)] = [:]
        var rng = SplitMix(state: 5)
        for batch in 0..<10 {
            let items = (0..<10_000).map { i in
                NewItem(vector: [Float(i), 1], anchor: Int32(i % 3),
                        metadata: ItemMetadata(path: "set\(batch % 2)/\(batch)-\(i).jpg", contentHash: "h\(batch)-\(i)",
                                               label: ["a", "b", "c", nil][Int.random(in: 0..<4, using: &rng)], width: 1, height: 1))
            }
            for (id, item) in zip(try store.insert(items), items) { rows[id] = (item.metadata.label, item.metadata.path) }
        }
        func expected(_ keep: (String?, String) -> Bool) -> [UInt64] { rows.filter { keep($0.value.label, $0.value.path) }.keys.sorted() }
        // Long candidate lists (a ∪ b ∪ c ≈ 75k, b ≈ 25k of 100k rows): scans; explicit ids: lookups.
        XCTAssertEqual(try store.ids(matching: .all([.labelIn(["a", "b", "c"]), .pathGlob("set1/*")])),
                       expected { $0 != nil && $1.hasPrefix("set1/") })
        XCTAssertEqual(try store.ids(matching: .all([.labelEquals("b"), .pathGlob("set0/*")])),
                       expected { $0 == "b" && $1.hasPrefix("set0/") })
        let some = Set(rows.keys.sorted().enumerated().filter { $0.offset % 1000 == 0 }.map(\.element) + [999_999_999])
        XCTAssertEqual(try store.ids(matching: .all([.ids(some), .labelIn(["a", "c"])])),
                       expected { l, _ in l == "a" || l == "c" }.filter { some.contains($0) })
        XCTAssertEqual(try store.ids(matching: .ids(some)), some.filter { rows[$0] != nil }.sorted(), "unknown ids are dropped")
        try assertClean(store)
    }

    func testSchema2CatalogGetsLabelRunsWhenOpenedForWriting() throws {
        var labels: [UInt64: String?] = [:]
        do {
            var options = fastOptions
            options.mergeFactor = 4 // the layout vector format 2 knows
            let store = try makeStore(dimension: 4, options: options)
            let items = newItems(600, dimension: 4, anchors: 3, seed: 9)
            for (id, item) in zip(try store.insert(items), items) { labels[id] = item.metadata.label }
            try store.rewriteAsVersion2ForTesting()
        }
        // Read-only: answered by the schema-2 index, nothing written.
        var readOnly = fastOptions
        readOnly.readOnly = true
        do {
            let store = try VectorStore.open(at: databaseURL(), options: readOnly)
            try assertLabelFilters(store, labels)
        }
        XCTAssertEqual(try catalogTables(), ["items_by_label"], "a read-only open does not upgrade")
        // For writing: upgraded, runs built from the rows, the old index gone.
        let store = try VectorStore.open(at: databaseURL(), options: fastOptions)
        XCTAssertEqual(try catalogTables(), ["label_runs"])
        try assertLabelFilters(store, labels)
        try assertClean(store)
        let more = newItems(50, dimension: 4, anchors: 3, seed: 10)
        for (id, item) in zip(try store.insert(more), more) { labels[id] = item.metadata.label }
        try assertLabelFilters(store, labels)
        try assertClean(store)
    }

    /// Label runs or label indexes present in the catalog (`items_by_label`, `label_runs`).
    private func catalogTables() throws -> [String] {
        let q = try DatabaseQueue(path: databaseURL().appendingPathComponent("catalog.sqlite").path)
        defer { try? q.close() }
        return try q.read {
            try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE name IN ('items_by_label', 'label_runs') ORDER BY name")
        }
    }

    func testCheckReportsDamagedLabelRuns() throws {
        let ids: [UInt64]
        do {
            let store = try makeStore(dimension: 4)
            ids = try store.insert(newItems(30, dimension: 4, anchors: 2, seed: 3))
            try assertClean(store)
        }
        // Damage the runs behind the store's back: drop one label's run, point one at a
        // missing row, and store a blob that is not a list of ids.
        let q = try DatabaseQueue(path: databaseURL().appendingPathComponent("catalog.sqlite").path)
        try q.write { db in
            try db.execute(sql: "DELETE FROM label_runs WHERE label = 'class1'")
            var dangling = Data(count: 8)
            dangling.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(4242).littleEndian, as: UInt64.self) }
            try db.execute(sql: "INSERT INTO label_runs (label, first_id, ids) VALUES ('class2', 4242, ?)", arguments: [dangling])
            try db.execute(sql: "INSERT INTO label_runs (label, first_id, ids) VALUES ('odd', 1, x'0102')")
        }
        try q.close()
        let store = try VectorStore.open(at: databaseURL(), options: fastOptions)
        let problems = try store.check().filter { $0.kind == .labelIndex }.map(\.message)
        let class1 = ids.enumerated().filter { $0.offset % 3 != 0 && $0.offset % 5 == 1 }.count
        XCTAssertEqual(problems.count, 3, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("malformed") && $0.contains("\"odd\"") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.hasPrefix("\(class1) labelled catalog rows are in no label run") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("point at no catalog row: ids 4242") }, "\(problems)")
    }
}
