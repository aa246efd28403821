import Foundation
import GRDB
import RADBStore
import XCTest

/// An insert returns after its LMDB commit while its SQLite commit may still run
/// (`CatalogCommit`): this store's reads still see every insert that returned, another writer
/// stays locked out until the commit ends, and a failed commit is reported by the next write
/// and then repaired by recovery — nothing acknowledged is lost.
final class CatalogCommitPipelineTests: StoreTestCase {
    private struct DiskFull: Error {}

    /// Inserts `items` with their SQLite commit made to fail, as on a full disk (after
    /// `delay` seconds, so a write started meanwhile finds it still running). The insert is
    /// decided by its LMDB commit, so it returns the ids; its catalog half fails behind it.
    private func insertWithFailingCommit(_ store: VectorStore, _ items: [NewItem], delay: Double = 0) throws -> [UInt64] {
        store.beforeCatalogCommitHook = { usleep(useconds_t(delay * 1e6)); throw DiskFull() }
        defer { store.beforeCatalogCommitHook = nil }
        return try store.insert(items)
    }

    func testReadsRightAfterInsertsSeeEveryRow() throws {
        let store = try makeStore(dimension: 4)
        var expected = 0
        for seed in 0..<40 as Range<UInt64> {
            let items = newItems(50, dimension: 4, anchors: 3, seed: seed)
            let ids = try store.insert(items)
            expected += items.count
            // Straight after the return, with no pause: the catalog already has the rows.
            XCTAssertEqual(try store.item(id: ids.last!)?.metadata, items.last!.metadata)
            XCTAssertEqual(try store.ids(matching: .pathGlob("img/\(seed)/*")), ids)
            XCTAssertEqual(try store.stats().items, expected)
        }
        try assertClean(store)
    }

    /// What the writer thread of `testAReaderThreadSeesEveryReturnedInsertWhileWritesRun`
    /// has done so far, behind a lock.
    private final class WriterProgress: @unchecked Sendable {
        private let lock = NSLock()
        private var ids: [UInt64] = [], done = false, failures: [String] = []
        func returned(_ new: [UInt64]) { lock.lock(); ids += new; lock.unlock() }
        func failed(_ message: String) { lock.lock(); failures.append(message); lock.unlock() }
        func finish() { lock.lock(); done = true; lock.unlock() }
        var state: (ids: [UInt64], done: Bool, failures: [String]) { lock.lock(); defer { lock.unlock() }; return (ids, done, failures) }
    }

    /// A reader thread of the same store, racing a writer thread: every insert that returned is
    /// whole in what it reads (rows and vectors), and counts never go back.
    func testAReaderThreadSeesEveryReturnedInsertWhileWritesRun() throws {
        let store = try makeStore(dimension: 4)
        let progress = WriterProgress()
        let batches = (0..<120 as Range<UInt64>).map { newItems(20, dimension: 4, anchors: 3, seed: $0) }
        let writer = Thread {
            for (n, batch) in batches.enumerated() {
                do { progress.returned(try store.insert(batch)) } catch { progress.failed("insert \(n): \(error)") }
                usleep(2_000) // as an ingest embeds the next batch; a reader needs a moment between commits
            }
            progress.finish()
        }
        writer.start()
        var lastCount = 0, readsMidway = 0
        while true {
            let (seen, done, _) = progress.state
            if let id = seen.last {
                XCTAssertNotNil(try store.item(id: id), "a returned insert's row is readable")
                XCTAssertNotNil(try store.vector(id: id))
            }
            let count = try store.stats().items
            XCTAssertGreaterThanOrEqual(count, max(lastCount, seen.count))
            lastCount = count
            if !done, !seen.isEmpty { readsMidway += 1 }
            if done { break }
        }
        XCTAssertEqual(progress.state.failures, [])
        XCTAssertGreaterThan(readsMidway, 0, "the reader ran while the writer wrote")
        XCTAssertEqual(try store.stats().items, 2400)
        try assertClean(store)
    }

    func testAnotherWriterWaitsForTheRunningCommit() throws {
        let store = try makeStore(dimension: 4)
        try store.insert(newItems(20, dimension: 4, anchors: 2, seed: 1))
        store.beforeCatalogCommitHook = { usleep(600_000) }
        let started = Date()
        let ids = try store.insert(newItems(20, dimension: 4, anchors: 2, seed: 2))
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.5, "the insert returned before its SQLite commit")
        // A second store on the same directory is another writer: locked out until the commit ends.
        var impatient = fastOptions
        impatient.writeLockTimeout = 0.1
        let other = try VectorStore.open(at: databaseURL(), options: impatient)
        assertStoreError(try other.insert(newItems(1, dimension: 4, anchors: 2, seed: 3))) {
            if case .writerBusy = $0 { return true }; return false
        }
        // This store's reader waits for the commit and sees the rows.
        XCTAssertEqual(try store.ids(matching: .pathGlob("img/2/*")), ids)
        store.beforeCatalogCommitHook = nil
        var patient = fastOptions
        patient.writeLockTimeout = 5
        let later = try VectorStore.open(at: databaseURL(), options: patient)
        XCTAssertEqual(try later.insert(newItems(1, dimension: 4, anchors: 2, seed: 3)).count, 1)
        try assertClean(later)
    }

    func testAFailedCommitIsReportedByTheNextWriteAndRepairedByTheOneAfter() throws {
        let store = try makeStore(dimension: 4)
        let first = newItems(30, dimension: 4, anchors: 3, seed: 1)
        // The next insert starts while that commit still runs, so it is the one to hear of it.
        let firstIds = try insertWithFailingCommit(store, first, delay: 0.3)
        let e = assertStoreError(try store.insert(newItems(30, dimension: 4, anchors: 3, seed: 2))) {
            if case .corruptCatalog = $0 { return true }; return false
        }
        XCTAssertTrue(e?.description.contains("replayed on the next write or open") ?? false, "\(String(describing: e))")
        // The next write recovers (replays the journal) first; nothing acknowledged is lost.
        let third = newItems(30, dimension: 4, anchors: 3, seed: 3)
        let thirdIds = try store.insert(third)
        for (id, item) in zip(firstIds + thirdIds, first + third) {
            XCTAssertEqual(try store.item(id: id)?.metadata, item.metadata)
            assertBitIdentical(try store.vector(id: id), item.vector)
        }
        XCTAssertEqual(try store.stats().items, 60, "the refused second insert left nothing")
        try assertClean(store)
    }

    func testAWriteSessionEndsWithTheCatalogComplete() throws {
        let store = try makeStore(dimension: 4)
        let items = newItems(25, dimension: 4, anchors: 2, seed: 5)
        // The session's last commit fails.
        let ids = try store.withExclusiveWriteAccess { try insertWithFailingCommit(store, items) }
        // Before any read of this store: the catalog file already has the rows (rolled forward
        // when the session ended).
        let q = try DatabaseQueue(path: databaseURL().appendingPathComponent("catalog.sqlite").path)
        let rows = try q.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM items") }
        try q.close()
        XCTAssertEqual(rows, ids.count)
        try assertClean(store)
    }

    func testACatalogFailingBeforeTheVerdictStillReleasesTheWriterLock() throws {
        let store = try makeStore(dimension: 4)
        let items = newItems(20, dimension: 4, anchors: 2, seed: 6)
        store.beforeCatalogApplyHook = { throw DiskFull() }
        let ids = try store.insert(items) // decided by its LMDB commit; its rows failed early
        store.beforeCatalogApplyHook = nil
        // Another writer gets the lock (it was not kept by the failed commit) and rolls the
        // catalog forward itself.
        var patient = fastOptions
        patient.writeLockTimeout = 2
        let other = try VectorStore.open(at: databaseURL(), options: patient)
        XCTAssertEqual(try other.insert(newItems(1, dimension: 4, anchors: 2, seed: 7)).count, 1)
        XCTAssertEqual(try other.item(id: ids[3])?.metadata, items[3].metadata)
        try assertClean(other)
    }

    func testAFailedCommitIsRepairedByAReader() throws {
        let store = try makeStore(dimension: 4)
        let items = newItems(25, dimension: 4, anchors: 2, seed: 4)
        let ids = try insertWithFailingCommit(store, items)
        // The reader finds the catalog one commit behind and no live writer: it rolls forward.
        XCTAssertEqual(try store.item(id: ids[7])?.metadata, items[7].metadata)
        try assertClean(store)
    }
}
