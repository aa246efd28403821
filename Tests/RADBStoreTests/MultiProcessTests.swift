import Foundation
import RADBStore
import XCTest

/// Reader processes and writer processes on one database.
final class MultiProcessTests: StoreTestCase {
    func testReaderProcessesSeeConsistentSnapshotsWhileAWriterInsertsAndDeletes() throws {
        let url = databaseURL()
        // 64-d vectors in one-page small blocks: partitions cross the merge size during the run.
        let setup = try startProbe(["create", url.path, "64", "1"])
        XCTAssertEqual(setup.wait().status, 0)
        let seed = try startProbe(["insert-loop", url.path, "0", "200", "5"])
        XCTAssertEqual(seed.wait().status, 0)

        let writer = try startProbe(["mutate-loop", url.path, "1", "3"])
        let readers = try (0..<2).map { _ in try startProbe(["read-loop", url.path, "3"]) }
        // This process reads too, while the others work.
        let store = try VectorStore.open(at: url, options: fastOptions)
        var sequences: Set<UInt64> = []
        let end = Date().addingTimeInterval(2.5)
        while Date() < end {
            try store.read { snap in
                sequences.insert(snap.sequence)
                let total = try snap.partitions.map(\.count).reduce(0, +)
                XCTAssertEqual(try snap.ids(matching: .all([])).count, total)
            }
            usleep(20_000)
        }
        let w = writer.wait()
        XCTAssertEqual(w.status, 0, "writer failed: \(w.stderr)")
        XCTAssertTrue(writer.remainingLines().contains { $0.hasPrefix("mutated") })
        for r in readers {
            let lines = r.remainingLines()
            let result = r.wait()
            XCTAssertEqual(result.status, 0, "reader saw an inconsistent snapshot: \(result.stderr)")
            let summary = try XCTUnwrap(lines.last?.split(separator: " "))
            XCTAssertEqual(summary.first, "reads")
            XCTAssertGreaterThanOrEqual(Int(summary[3]) ?? 0, 2, "the reader saw the writer's progress: \(lines.last ?? "")")
        }
        XCTAssertGreaterThan(sequences.count, 1)
        XCTAssertEqual(try store.check(), [])
    }

    /// A writer process grows a 64 KiB map many times while reader processes, which mapped the
    /// old size, keep reading: they must adopt the new size (MDB_MAP_RESIZED) transparently.
    func testReaderProcessesFollowAMapThatAWriterProcessGrows() throws {
        let url = databaseURL()
        let tinyMap = ["RADB_PROBE_MAP_SIZE": "65536"]
        XCTAssertEqual(try startProbe(["create", url.path, "64", "1"], environment: tinyMap).wait().status, 0)
        let readers = try (0..<2).map { _ in try startProbe(["read-loop", url.path, "3"], environment: tinyMap) }
        let writer = try startProbe(["mutate-loop", url.path, "5", "2.5"], environment: tinyMap)
        let w = writer.wait()
        XCTAssertEqual(w.status, 0, "writer failed: \(w.stderr)")
        for r in readers {
            let lines = r.remainingLines()
            let result = r.wait()
            XCTAssertEqual(result.status, 0, "reader failed: \(result.stderr)")
            let summary = try XCTUnwrap(lines.last?.split(separator: " "))
            XCTAssertGreaterThanOrEqual(Int(summary[3]) ?? 0, 2, "the reader saw the writer's progress: \(lines.last ?? "")")
        }
        let store = try VectorStore.open(at: url, options: fastOptions)
        XCTAssertGreaterThan(try store.stats().vectorBytes, 8 * 65536, "the map grew well past its initial 64 KiB")
        try assertClean(store)
    }

    func testSecondWriterWaitsThenFailsNamingTheHolder() throws {
        let url = databaseURL()
        let store = try makeStore(dimension: 4)
        try store.insert(newItems(5, dimension: 4, anchors: 2, seed: 41))
        let holder = try startProbe(["hold-lock", url.path, "30"])
        defer { holder.kill() }
        XCTAssertEqual(holder.readLine(), "locked \(holder.pid)")

        var options = fastOptions
        options.writeLockTimeout = 0.6
        let waiting = try VectorStore.open(at: url, options: options)
        let start = Date()
        let e = assertStoreError(try waiting.insert(newItems(2, dimension: 4, anchors: 2, seed: 42))) {
            if case let .writerBusy(_, pid, _) = $0 { return pid == self.pidOf(holder) }; return false
        }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.6)
        XCTAssertTrue(e?.description.contains("process \(holder.pid)") ?? false, e?.description ?? "")
        // Readers are not blocked by the writer.
        XCTAssertEqual(try waiting.stats().items, 5)
        // The kernel drops the lock of a killed holder; writing works again.
        holder.kill()
        XCTAssertEqual(try waiting.insert(newItems(2, dimension: 4, anchors: 2, seed: 43)).count, 2)
        try assertClean(waiting)
    }

    func testSecondWriterWaitsForAShortHolder() throws {
        let url = databaseURL()
        let store = try makeStore(dimension: 4)
        let holder = try startProbe(["hold-lock", url.path, "1"])
        XCTAssertEqual(holder.readLine(), "locked \(holder.pid)")
        let start = Date()
        try store.insert(newItems(3, dimension: 4, anchors: 1, seed: 44))
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.5, "the insert waited for the holder")
        XCTAssertEqual(holder.wait().status, 0)
        XCTAssertEqual(try store.stats().items, 3)
    }

    private func pidOf(_ p: ProbeProcess) -> Int32 { p.pid }
}
