import Foundation
import GRDB
import RADBStore
import XCTest

/// Every kind of bad input gets a typed error and leaves the database as it was.
final class BadInputTests: StoreTestCase {
    /// A small populated database; returns the store and its inserted items.
    private func populated() throws -> (VectorStore, [NewItem], [UInt64]) {
        let store = try makeStore(dimension: 6)
        let items = newItems(50, dimension: 6, anchors: 3, seed: 11)
        return (store, items, try store.insert(items))
    }

    private func assertUnchanged(_ store: VectorStore, _ items: [NewItem], _ ids: [UInt64], sequence: UInt64,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        let stats = try store.stats()
        XCTAssertEqual(stats.sequence, sequence, "no commit happened", file: file, line: line)
        XCTAssertEqual(stats.items, ids.count, file: file, line: line)
        for (i, id) in ids.enumerated() {
            assertBitIdentical(try store.vector(id: id), items[i].vector, file: file, line: line)
            XCTAssertEqual(try store.item(id: id)?.metadata, items[i].metadata, file: file, line: line)
        }
        try assertClean(store, file: file, line: line)
    }

    func testWrongDimensionNonFiniteEmptyAndInvalidMetadataAreRejectedAtTheDoor() throws {
        let (store, items, ids) = try populated()
        let seq = try store.stats().sequence
        var good = newItems(3, dimension: 6, anchors: 3, seed: 12)

        var bad = good
        bad[1].vector = [1, 2, 3]
        let e = assertStoreError(try store.insert(bad)) { if case .wrongDimension(_, 1, 3, 6) = $0 { return true }; return false }
        XCTAssertTrue(e?.description.contains("6") ?? false)

        for poison in [Float.nan, .infinity, -.infinity] {
            bad = good
            bad[2].vector[4] = poison
            assertStoreError(try store.insert(bad)) { if case .nonFiniteVector(_, 2, 4) = $0 { return true }; return false }
        }
        bad = good
        bad[0].vector[0] = 1e30 // finite, but its squared norm is not
        assertStoreError(try store.insert(bad)) { if case .nonFiniteVector = $0 { return true }; return false }

        assertStoreError(try store.insert([])) { if case .emptyBatch = $0 { return true }; return false }
        bad = good
        bad[0].metadata.path = ""
        assertStoreError(try store.insert(bad)) { if case .invalidMetadata(_, 0, _) = $0 { return true }; return false }
        bad = good
        bad[2].metadata.width = -1
        assertStoreError(try store.insert(bad)) { if case .invalidMetadata(_, 2, _) = $0 { return true }; return false }
        bad = good
        bad[1].metadata.label = "cat\u{0}dog" // SQLite text would come back cut at the NUL
        assertStoreError(try store.insert(bad)) {
            if case let .invalidMetadata(_, 1, reason) = $0 { return reason.contains("NUL") }; return false
        }
        try assertUnchanged(store, items, ids, sequence: seq)

        good[0].metadata.label = nil
        XCTAssertEqual(try store.insert(good).count, 3, "the store still accepts good input")
    }

    func testUnknownIdsChangeNothing() throws {
        let (store, items, ids) = try populated()
        let seq = try store.stats().sequence
        assertStoreError(try store.delete(ids: [ids[0], 777, 778])) {
            if case let .unknownIDs(_, unknown) = $0 { return unknown == [777, 778] }; return false
        }
        assertStoreError(try store.delete(ids: [])) { if case .emptyBatch = $0 { return true }; return false }
        assertStoreError(try store.moveToAnchor(ids: [ids[1], 0], anchor: 2)) { if case .unknownIDs = $0 { return true }; return false }
        assertStoreError(try store.updateMetadata(id: 555, items[0].metadata)) { if case .unknownIDs = $0 { return true }; return false }
        try store.read { snap in
            var buffer = [Float](repeating: 0, count: 12)
            _ = try buffer.withUnsafeMutableBufferPointer { b in
                assertStoreError(try snap.gatherVectors(ids: [ids[0], 999], into: b)) { if case .unknownIDs = $0 { return true }; return false }
            }
        }
        try assertUnchanged(store, items, ids, sequence: seq)
    }

    func testDimensionAndModelMismatchOnOpen() throws {
        _ = try populated()
        let url = databaseURL()
        let before = dataFingerprint(url)
        assertStoreError(try VectorStore.open(at: url, dimension: 7, options: fastOptions)) {
            if case .dimensionMismatch(_, 6, 7) = $0 { return true }; return false
        }
        assertStoreError(try VectorStore.open(at: url, modelIdentity: "model-B", options: fastOptions)) {
            if case .modelMismatch(_, "model-A", "model-B") = $0 { return true }; return false
        }
        assertStoreError(try VectorStore.create(at: url, dimension: 6, modelIdentity: "model-A")) {
            if case .alreadyExists = $0 { return true }; return false
        }
        assertStoreError(try VectorStore.create(at: databaseURL("x"), dimension: 0, modelIdentity: "m")) {
            if case .invalidArgument = $0 { return true }; return false
        }
        XCTAssertEqual(dataFingerprint(url), before)
        XCTAssertEqual(try VectorStore.open(at: url, dimension: 6, modelIdentity: "model-A", options: fastOptions).stats().items, 50)
    }

    func testMissingDirectoryNotADatabaseAndMissingHalves() throws {
        assertStoreError(try VectorStore.open(at: databaseURL("absent"))) { if case .notFound = $0 { return true }; return false }
        let plain = databaseURL("plain")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        try Data("hello".utf8).write(to: plain.appendingPathComponent("notes.txt"))
        assertStoreError(try VectorStore.open(at: plain)) { if case .notADatabase = $0 { return true }; return false }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: plain.path), ["notes.txt"])

        _ = try populated()
        let url = databaseURL()
        // Catalog missing.
        let catalog = url.appendingPathComponent("catalog.sqlite")
        try FileManager.default.moveItem(at: catalog, to: temporaryDirectory.appendingPathComponent("saved.sqlite"))
        let before = dataFingerprint(url)
        assertStoreError(try VectorStore.open(at: url)) {
            if case let .incompleteDatabase(_, missing) = $0 { return missing.contains("catalog") }; return false
        }
        XCTAssertEqual(dataFingerprint(url), before)
        XCTAssertFalse(FileManager.default.fileExists(atPath: catalog.path), "open must not create the missing half")
        try FileManager.default.moveItem(at: temporaryDirectory.appendingPathComponent("saved.sqlite"), to: catalog)
        // Vector half missing.
        let vectors = url.appendingPathComponent("vectors")
        try FileManager.default.moveItem(at: vectors, to: temporaryDirectory.appendingPathComponent("saved-vectors"))
        assertStoreError(try VectorStore.open(at: url)) {
            if case let .incompleteDatabase(_, missing) = $0 { return missing.contains("vector") }; return false
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: vectors.path))
        try FileManager.default.moveItem(at: temporaryDirectory.appendingPathComponent("saved-vectors"), to: vectors)
        try assertClean(try VectorStore.open(at: url, options: fastOptions))
    }

    /// Corrupts a copy of a healthy database so the open store instance is not disturbed.
    private func corruptedCopy(_ name: String, _ damage: (URL) throws -> Void) throws -> URL {
        do {
            let store = try makeStore(dimension: 6, name: "source-\(name)")
            try store.insert(newItems(300, dimension: 6, anchors: 3, seed: 13))
            try store.backup(to: databaseURL(name))
        }
        let url = databaseURL(name)
        try damage(url)
        return url
    }

    func testTruncatedLMDBFileIsRejectedWithoutChange() throws {
        let url = try corruptedCopy("truncated") { url in
            let data = url.appendingPathComponent("vectors/data.mdb")
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: data.path)[.size] as? Int)
            let h = try FileHandle(forWritingTo: data)
            try h.truncate(atOffset: UInt64(size / 2))
            try h.close()
        }
        let before = dataFingerprint(url)
        assertStoreError(try VectorStore.open(at: url)) {
            if case let .corruptVectorStore(_, reason) = $0 { return reason.contains("truncated") }; return false
        }
        XCTAssertEqual(dataFingerprint(url), before)

        let tiny = try corruptedCopy("tiny") { url in
            try Data(count: 100).write(to: url.appendingPathComponent("vectors/data.mdb"))
        }
        let tinyBefore = dataFingerprint(tiny)
        assertStoreError(try VectorStore.open(at: tiny)) { if case .corruptVectorStore = $0 { return true }; return false }
        XCTAssertEqual(dataFingerprint(tiny), tinyBefore)
    }

    func testGarbageLMDBFileIsRejectedWithoutChange() throws {
        var rng = SplitMix(state: 21)
        let url = try corruptedCopy("garbage-lmdb") { url in
            let bytes = (0..<(64 * 1024)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try Data(bytes).write(to: url.appendingPathComponent("vectors/data.mdb"))
        }
        let before = dataFingerprint(url)
        assertStoreError(try VectorStore.open(at: url)) { if case .corruptVectorStore = $0 { return true }; return false }
        XCTAssertEqual(dataFingerprint(url), before)
    }

    func testGarbageSQLiteFileIsRejectedWithoutChange() throws {
        var rng = SplitMix(state: 22)
        let url = try corruptedCopy("garbage-sqlite") { url in
            let bytes = (0..<(16 * 1024)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try Data(bytes).write(to: url.appendingPathComponent("catalog.sqlite"))
        }
        let before = dataFingerprint(url)
        assertStoreError(try VectorStore.open(at: url)) { if case .corruptCatalog = $0 { return true }; return false }
        XCTAssertEqual(dataFingerprint(url), before)

        // A valid SQLite file that is not a radb catalog.
        let foreign = try corruptedCopy("foreign-sqlite") { url in
            let path = url.appendingPathComponent("catalog.sqlite").path
            try FileManager.default.removeItem(atPath: path)
            let q = try DatabaseQueue(path: path)
            try q.write { try $0.execute(sql: "CREATE TABLE t (x)") }
            try q.close()
        }
        assertStoreError(try VectorStore.open(at: foreign)) { if case .corruptCatalog = $0 { return true }; return false }
    }

    func testCatalogFromNewerSchemaIsRefusedWithoutChange() throws {
        let url = try corruptedCopy("newer") { url in
            let q = try DatabaseQueue(path: url.appendingPathComponent("catalog.sqlite").path)
            try q.writeWithoutTransaction { try $0.execute(sql: "PRAGMA user_version = 99") }
            try q.close()
        }
        let before = dataFingerprint(url)
        let e = assertStoreError(try VectorStore.open(at: url)) {
            if case .catalogSchemaTooNew(_, 99, CatalogSchema.latestVersion) = $0 { return true }; return false
        }
        XCTAssertTrue(e?.description.contains("Upgrade radb") ?? false)
        XCTAssertEqual(dataFingerprint(url), before)
    }
}
