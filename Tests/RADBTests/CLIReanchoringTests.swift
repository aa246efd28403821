import Foundation
import RADB
import RADBStore
import RADBStoreTesting
import Synchronization
import XCTest
import RADBTraining

/// Issue 12, items 1 and 8: re-anchoring (`radb reindex`) is one switch of model generation,
/// crash-safe at every point and safe beside ingests and searches in other processes; searches
/// route with their snapshot's anchors and exact search reaches every stored item; damaged
/// anchors are reported. Real `radb` processes on real files.
final class CLIReanchoringTests: XCTestCase {
    private var cli: CLIHarness!

    override func setUpWithError() throws { cli = try CLIHarness() }
    override func tearDownWithError() throws { cli.cleanUp() }

    /// `rows × 16` deterministic Gaussian-ish vectors written to `name` (a .npy file).
    private func vectors(_ rows: Int, seed: UInt64, name: String) throws -> (url: URL, values: [Float]) {
        var rng = SeededGenerator(seed: seed)
        let values = (0..<rows * 16).map { _ in Float.random(in: -2..<2, using: &rng) }
        let url = cli.workdir.appendingPathComponent(name)
        try NPYMatrix(rows: rows, columns: 16, values: values).write(to: url)
        return (url, values)
    }

    private func importDatabase(rows: Int, anchors: Int) throws -> (db: URL, values: [Float]) {
        let (npy, values) = try vectors(rows, seed: 7, name: "base.npy")
        let db = cli.workdir.appendingPathComponent("big.db")
        let r = try cli.run(["import", "--db", db.path, npy.path, "--anchors", String(anchors)])
        XCTAssertEqual(r.status, 0, r.stderr)
        return (db, values)
    }

    /// Asserts every row of `values` (ids `firstId…`) is found as its own nearest neighbour at
    /// distance 0, by an exact search and by a search routed to `nprobe` anchors.
    private func assertEveryItemFound(_ db: Database, _ values: [Float], firstId: UInt64 = 1, _ context: String,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        let queries = NPYMatrix(rows: values.count / 16, columns: 16, values: values)
        for probe in [SearchOptions.Probe.exact, .nearest(2)] {
            let results = try db.search(vectors: queries, options: SearchOptions(k: 1, probe: probe))
            let missed = results.enumerated().filter { q, hits in hits.first?.id != firstId + UInt64(q) || hits.first?.distance != 0 }
            XCTAssertEqual(missed.count, 0, "\(context), \(probe): \(missed.count) items not found, e.g. id \(missed.first.map { firstId + UInt64($0.offset) } ?? 0)",
                           file: file, line: line)
        }
    }

    /// The race of the issue: a database handle opened before another process re-anchors must
    /// search and insert with the new anchors (they are read from each snapshot, and under the
    /// writer lock), so nothing it stores is unreachable and `check` stays clean.
    func testHandleOpenedBeforeAReindexInAnotherProcessSearchesAndInsertsWithTheNewAnchors() throws {
        let (url, base) = try importDatabase(rows: 2000, anchors: 60)
        let db = try Database.open(at: url)
        XCTAssertEqual(try db.stats().anchors, 60)
        let r = try cli.run(["reindex", "--db", url.path, "--anchors", "5"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try db.stats().anchors, 5)
        try assertEveryItemFound(db, Array(base[0 ..< 300 * 16]), "stale handle after the reindex")
        let (_, extra) = try vectors(300, seed: 99, name: "extra.npy")
        let ids = try db.insert(vectors: (0..<300).map { Array(extra[$0 * 16 ..< ($0 + 1) * 16]) },
                                metadata: (0..<300).map { ItemMetadata(path: "extra/\($0)", contentHash: "extra-\($0)", label: nil, width: 0, height: 0) })
        XCTAssertEqual(try db.check(), [])
        let fresh = try Database.open(at: url, mode: .readOnly)
        try assertEveryItemFound(fresh, extra, firstId: ids[0], "items inserted through the stale handle")
        let check = try cli.run(["check", "--db", url.path])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
    }

    /// kill -9 at random moments of `radb reindex` (k-means, the switch commit, or after): each
    /// time `check` is clean, the generation is whole (every item under its nearest anchor, so
    /// a routed search finds it), and exact search finds every item.
    func testSIGKILLDuringReindexLeavesOneWholeGenerationAndEveryItemSearchable() throws {
        let (url, base) = try importDatabase(rows: 3000, anchors: 40)
        let started = Date()
        XCTAssertEqual(try cli.run(["reindex", "--db", url.path, "--anchors", "25"]).status, 0)
        let duration = Date().timeIntervalSince(started)
        var rng = SystemRandomNumberGenerator()
        var anchorCounts: Set<Int> = []
        for round in 0..<20 {
            let target = round % 2 == 0 ? 7 : 25
            let (p, _, _) = try cli.start(["reindex", "--db", url.path, "--anchors", String(target)])
            usleep(useconds_t(Double.random(in: 0.05...1.2, using: &rng) * duration * 1e6))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let db = try Database.open(at: url)
            XCTAssertEqual(try db.check(), [], "round \(round)")
            let anchors = try db.stats().anchors
            XCTAssertTrue([7, 25].contains(anchors), "round \(round): \(anchors) anchors")
            anchorCounts.insert(anchors)
            try assertEveryItemFound(db, base, "round \(round)")
        }
        XCTAssertEqual(anchorCounts, [7, 25], "some kills came after the switch, some before")
    }

    /// Search processes run in a loop while other processes re-anchor the database again and
    /// again and import more vectors: every search finds every queried item, exact and routed.
    func testSearchesInOtherProcessesFindEveryItemWhileReindexAndImportRun() throws {
        let (url, base) = try importDatabase(rows: 2000, anchors: 30)
        let sample = cli.workdir.appendingPathComponent("sample.npy")
        try NPYMatrix(rows: 300, columns: 16, values: Array(base[0 ..< 300 * 16])).write(to: sample)
        let (more, _) = try vectors(1000, seed: 5, name: "more.npy")

        // The writer thread's log, read only after `done` (the thread has finished).
        let done = DispatchSemaphore(value: 0)
        let writerErrors = LockedLog(), reindexes = LockedLog()
        let cli = self.cli!
        DispatchQueue.global().async {
            defer { done.signal() }
            for i in 0..<10 {
                do {
                    if i == 2 {
                        let r = try cli.run(["import", "--db", url.path, more.path])
                        if r.status != 0 { writerErrors.add("import: \(r.stderr)") }
                    }
                    let r = try cli.run(["reindex", "--db", url.path, "--anchors", String([12, 40, 20][i % 3])])
                    if r.status != 0 { writerErrors.add("reindex: \(r.stderr)") } else { reindexes.add("\(i)") }
                } catch { writerErrors.add("\(error)") }
            }
        }
        var searches = 0
        var failures: [String] = []
        while done.wait(timeout: .now()) == .timedOut {
            for mode in [["--exact"], ["--nprobe", "2"]] {
                let r = try cli.run(["search", "--db", url.path, "--vectors", sample.path, "-k", "1", "--json"] + mode)
                guard r.status == 0 else { failures.append("\(mode): exit \(r.status): \(r.stderr)"); continue }
                let queries = try XCTUnwrap(try r.json()["queries"] as? [[String: Any]])
                for (q, entry) in queries.enumerated() {
                    let top = (entry["results"] as? [[String: Any]])?.first
                    if (top?["id"] as? Int) != q + 1 || (top?["distance"] as? Double) != 0 {
                        failures.append("\(mode): query \(q) found \(String(describing: top))")
                    }
                }
                searches += 1
            }
        }
        XCTAssertEqual(writerErrors.entries, [])
        XCTAssertEqual(failures, [], "\(failures.count) misses over \(searches) searches")
        XCTAssertGreaterThanOrEqual(searches, 6)
        XCTAssertEqual(reindexes.entries.count, 10)
        let db = try Database.open(at: url)
        XCTAssertEqual(try db.check(), [])
        XCTAssertEqual(try db.stats().items, 3000)
        try assertEveryItemFound(db, base, "after the writers")
    }

    /// The race with real images: `ingest A` runs, `reindex --anchors 3` starts beside
    /// it, `ingest B` starts while both wait for the writer lock. Whatever order they get it in,
    /// B routes with the anchors current once it holds the lock: `check` is clean and every
    /// image is found by exact and by routed search.
    func testIngestWaitingBehindAReindexRoutesWithTheNewAnchorsWithSharedCIFAR() throws {
        let cifar = CLIHarness.repositoryRoot.appendingPathComponent(".data/cifar10/test")
        guard let classes = try? FileManager.default.contentsOfDirectory(atPath: cifar.path).sorted(), !classes.isEmpty else {
            throw XCTSkip("needs the shared CIFAR-10 data: run `bash Tools/unpack-datasets.sh`")
        }
        /// Copies images `range` of every class (in name order) into `folder`.
        func copy(_ range: Range<Int>, to name: String) throws -> URL {
            let folder = cli.workdir.appendingPathComponent(name)
            for c in classes {
                let dest = folder.appendingPathComponent(c)
                try FileManager.default.createDirectory(at: dest, withIntermediateDirectories: true)
                let files = try FileManager.default.contentsOfDirectory(atPath: cifar.appendingPathComponent(c).path).sorted()
                for f in files[range] {
                    try FileManager.default.copyItem(at: cifar.appendingPathComponent(c).appendingPathComponent(f), to: dest.appendingPathComponent(f))
                }
            }
            return folder
        }
        let seed = try copy(0..<3, to: "seed"), a = try copy(3..<13, to: "a"), b = try copy(13..<19, to: "b")
        XCTAssertEqual(try cli.run(["ingest", seed.path]).status, 0)
        let (ingestA, _, errA) = try cli.start(["ingest", a.path])
        usleep(400_000)
        let (reindex, _, errR) = try cli.start(["reindex", "--anchors", "3"])
        usleep(300_000)
        let (ingestB, _, errB) = try cli.start(["ingest", b.path])
        for (p, err) in [(ingestA, errA), (reindex, errR), (ingestB, errB)] {
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, (try? String(contentsOf: err, encoding: .utf8)) ?? "")
        }
        let check = try cli.run(["check"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        let exported = cli.workdir.appendingPathComponent("all.npy")
        XCTAssertEqual(try cli.run(["export", exported.path]).status, 0)
        let ids = try String(contentsOf: cli.workdir.appendingPathComponent("all.jsonl"), encoding: .utf8).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? Int
        }
        XCTAssertEqual(ids.count, 19 * classes.count)
        for mode in [["--exact"], []] {
            let r = try cli.run(["search", "--vectors", exported.path, "-k", "1", "--json"] + mode)
            XCTAssertEqual(r.status, 0, r.stderr)
            let queries = try XCTUnwrap(try r.json()["queries"] as? [[String: Any]])
            let found = queries.map { ($0["results"] as? [[String: Any]])?.first?["id"] as? Int }
            let missed = zip(ids, found).filter { $0.0 != $0.1 }
            XCTAssertEqual(missed.count, 0, "\(mode): e.g. id \(missed.first?.0 ?? 0)")
        }
    }

    /// Issue 12, item 8: anchors damaged on disk (a NaN, a short row) are reported by every
    /// routed search and by `radb check` with a message naming the file, never used; an exact
    /// search does not use them. (Open no longer refuses them, so that `radb reindex` can
    /// replace them: CLIDamagedDatabaseTests.)
    func testDamagedAnchorsAreReportedBySearchAndCheck() throws {
        let (url, _) = try importDatabase(rows: 200, anchors: 8)
        for damage in [VectorStore.AnchorDamage.nonFinite, .shortRow] {
            try VectorStore.open(at: url).damageAnchorsForTesting(damage)
            XCTAssertThrowsError(try Database.open(at: url, mode: .readOnly).search(id: 1)) { error in
                XCTAssertTrue("\(error)".contains("anchors"), "\(error)")
            }
            let check = try cli.run(["check", "--db", url.path])
            XCTAssertNotEqual(check.status, 0)
            let report = check.stdout + check.stderr
            XCTAssertTrue(report.contains("vectors") && report.contains("anchor"), report)
            let search = try cli.run(["search", "--db", url.path, "--id", "1"])
            XCTAssertNotEqual(search.status, 0, "a routed search with damaged anchors must not run")
            XCTAssertTrue(search.stderr.contains("anchors") && search.stderr.contains("radb reindex"), search.stderr)
            // An exact search never consults the anchors (it scans every partition): it still works.
            let exact = try cli.run(["search", "--db", url.path, "--id", "1", "--exact", "--json"])
            XCTAssertEqual(exact.status, 0, exact.stderr)
            XCTAssertEqual((try exact.json()["results"] as? [[String: Any]])?.first?["id"] as? Int, 1)
            // Repair for the next damage: a fresh generation.
            try VectorStore.open(at: url).setAnchors([Float](repeating: 0.5, count: 8 * 16), count: 8)
        }
    }
}

/// Lines that several threads append to, read after they have finished.
final class LockedLog: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var entries: [String] { lines.withLock { $0 } }
}
