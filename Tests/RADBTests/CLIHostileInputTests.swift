import Foundation
import RADB
import RADBVision
import XCTest

/// The defects a hostile probe found (issue 12), as a user meets them through the binary: each
/// test failed before its fix.
final class CLIHostileInputTests: XCTestCase {
    private var cli: CLIHarness!

    override func setUpWithError() throws { cli = try CLIHarness() }
    override func tearDownWithError() throws { cli.cleanUp() }

    private func path(_ name: String) -> String { cli.workdir.appendingPathComponent(name).path }

    /// `n` random `d`-dimensional rows (deterministic) written to `name`.
    @discardableResult
    private func writeVectors(_ name: String, n: Int, d: Int, seed: UInt64 = 42) throws -> NPYMatrix {
        var state = seed
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) - 0.5
        }
        let m = NPYMatrix(rows: n, columns: d, values: (0..<(n * d)).map { _ in next() })
        try m.write(to: cli.workdir.appendingPathComponent(name))
        return m
    }

    /// A .npy file whose header declares `shape` over `payload` floats.
    private func writeNPY(_ name: String, shape: String, payload: Int) throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        data.append(contentsOf: Array(header.utf8))
        data.append(Data(count: payload * 4))
        try data.write(to: cli.workdir.appendingPathComponent(name))
    }

    private func items(_ db: String) throws -> Int {
        let r = try cli.run(["stats", "--db", db, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(try r.json()["items"] as? Int)
    }

    // MARK: - Found by fuzzing (Tools/fuzz.sh image, RELIABILITY.md)

    /// A long thin strip is far inside any decode budget (65535×1 pixels, a few hundred bytes as
    /// PNG), but resizing its short side to the model's 224 made a 14.7 million × 224 picture
    /// (9.9 GB) before the centre crop kept 224 columns of it: ingest died with "failed to
    /// allocate" under a 3 GB limit (and took minutes without one).
    func testLongThinStripsAreEmbeddedWithinMemory() throws {
        let folder = cli.workdir.appendingPathComponent("strips")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var wide = Image(width: 65_535, height: 1, filledWith: RGB(200, 30, 30))
        for x in stride(from: 0, to: 65_535, by: 7) { wide.setPixel(x: x, y: 0, to: RGB(0, 0, 0)) }
        try PNGEncoder.write(wide, to: folder.appendingPathComponent("wide.png"))
        try PNGEncoder.write(Image(width: 1, height: 50_000, filledWith: RGB(30, 30, 200)),
                             to: folder.appendingPathComponent("tall.png"))
        let r = try cli.runLimitingMemory(megabytes: 3000, ["ingest", "strips", "--db", "s.db", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try r.json()["added"] as? Int, 2, r.stdout)
    }

    // MARK: - Defect 6: user-supplied sizes

    func testHugeKAndHugeNPYShapesAreErrorsOrClampsNotCrashes() throws {
        try writeVectors("v.npy", n: 50, d: 4)
        XCTAssertEqual(try cli.run(["import", "v.npy", "--db", "v.db"]).status, 0)
        for k in ["4611686018427387904", "100000000000", String(Int.max)] {
            let r = try cli.run(["search", "--db", "v.db", "--id", "1", "-k", k, "--json"])
            XCTAssertEqual(r.status, 0, "-k \(k): \(r.stderr)")
            XCTAssertEqual((try r.json()["results"] as? [Any])?.count, 50, "-k beyond the items returns them all")
            let exact = try cli.run(["search", "--db", "v.db", "--id", "1", "-k", k, "--exact", "--json"])
            XCTAssertEqual(exact.status, 0, "-k \(k) --exact: \(exact.stderr)")
        }
        for shape in ["(4611686018427387904, 4)", "(4, 4611686018427387904)", "(99999999999999999999, 4)", "(3037000500, 3037000500)"] {
            try writeNPY("huge.npy", shape: shape, payload: 16)
            let imported = try cli.run(["import", "huge.npy", "--db", "h.db"])
            XCTAssertEqual(imported.status, 1, "import \(shape): \(imported.stderr)")
            XCTAssertTrue(imported.stderr.contains("huge.npy"), imported.stderr)
            XCTAssertTrue(imported.stderr.contains("shape"), imported.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("h.db")))
            let searched = try cli.run(["search", "--db", "v.db", "--vectors", "huge.npy"])
            XCTAssertEqual(searched.status, 1, "search --vectors \(shape): \(searched.stderr)")
            XCTAssertTrue(searched.stderr.contains("shape"), searched.stderr)
        }
    }

    // MARK: - Defect 5: import

    func testImportIsAllOrNothingWithExactPositionsAndResumesWithoutDuplicates() throws {
        let n = 15_001, d = 4
        try writeVectors("v.npy", n: n, d: d)
        // Row 15000's metadata is bad: nothing may be written, and the error names that row.
        var lines = (0..<n).map { "{\"path\": \"p\($0)\", \"label\": \"l\"}" }
        lines[15_000] = "{\"path\": \"\"}"
        try Data(lines.joined(separator: "\r\n").utf8).write(to: cli.workdir.appendingPathComponent("m.jsonl"))
        let bad = try cli.run(["import", "v.npy", "--metadata", "m.jsonl", "--db", "new.db", "--anchors", "4"])
        XCTAssertEqual(bad.status, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("row 15000"), bad.stderr)
        XCTAssertTrue(bad.stderr.contains("m.jsonl:15001"), bad.stderr)
        XCTAssertTrue(bad.stderr.contains("Nothing was written"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("new.db")), "a failed import of a new database leaves nothing")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cli.workdir.path).filter { $0.contains("creating") }, [])

        // Into an existing database: still nothing written.
        try writeVectors("seed.npy", n: 10, d: d, seed: 7)
        XCTAssertEqual(try cli.run(["import", "seed.npy", "--db", "old.db", "--anchors", "2"]).status, 0)
        let bad2 = try cli.run(["import", "v.npy", "--metadata", "m.jsonl", "--db", "old.db"])
        XCTAssertEqual(bad2.status, 1, bad2.stderr)
        XCTAssertEqual(try items("old.db"), 10)

        // CRLF lines are lines; a good import then a re-run adds nothing twice.
        lines[15_000] = "{\"path\": \"p15000\"}"
        try Data(lines.joined(separator: "\r\n").utf8).write(to: cli.workdir.appendingPathComponent("m.jsonl"))
        let good = try cli.run(["import", "v.npy", "--metadata", "m.jsonl", "--db", "old.db"])
        XCTAssertEqual(good.status, 0, good.stderr)
        XCTAssertEqual(try items("old.db"), 10 + n)
        let again = try cli.run(["import", "v.npy", "--metadata", "m.jsonl", "--db", "old.db", "--json"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try again.json()["added"] as? Int, 0)
        XCTAssertEqual(try again.json()["unchanged"] as? Int, n)
        XCTAssertEqual(try items("old.db"), 10 + n, "re-running an import never duplicates rows")
        XCTAssertEqual(try cli.run(["check", "--db", "old.db"]).status, 0)
    }

    // MARK: - Defect 9: the smaller ones

    /// Waits up to `seconds` for `p`; kills it and fails if it is still running (a hang).
    private func finish(_ started: (Process, URL, URL), within seconds: Double, _ what: String) -> CLIHarness.Result {
        let (p, out, err) = started
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            XCTFail("\(what) hung (killed after \(seconds) s)")
        }
        p.waitUntilExit()
        return CLIHarness.Result(status: p.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                                 stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    func testFIFOsAndNonUTF8NamesAreReportedNotHungOrDropped() throws {
        let photo = CLIHarness.repositoryRoot.appendingPathComponent("Fixtures/photos/cat.png")
        let folder = cli.workdir.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let stored = folder.appendingPathComponent("cat.png")
        try FileManager.default.copyItem(at: photo, to: stored)
        // A file whose name is not UTF-8: "f\xFF.png".
        var bytes = Array(folder.path.utf8) + [0x2F, 0x66, 0xFF, 0x2E, 0x70, 0x6E, 0x67, 0]
        let fd = bytes.withUnsafeMutableBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) { open($0, O_WRONLY | O_CREAT, 0o644) }
        }
        XCTAssertGreaterThanOrEqual(fd, 0)
        let png = try Data(contentsOf: photo)
        _ = png.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let ingest = try cli.run(["ingest", "in", "--db", "p.db"])
        XCTAssertEqual(ingest.status, 2, ingest.stderr)
        XCTAssertTrue(ingest.stdout.contains("added 1, unchanged 0, failed 1"), ingest.stdout)
        XCTAssertTrue(ingest.stderr.contains("not valid UTF-8"), ingest.stderr)
        XCTAssertTrue(ingest.stderr.contains("f\\xFF.png"), ingest.stderr)

        // FIFOs: as a query, as an ingest input, and as a stored path drawn in a montage.
        let fifo = cli.workdir.appendingPathComponent("pipe.png").path
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        let search = finish(try cli.start(["search", "pipe.png", "--db", "p.db"]), within: 60, "search FIFO")
        XCTAssertEqual(search.status, 1, search.stderr)
        XCTAssertTrue(search.stderr.contains("FIFO"), search.stderr)
        let ingestFIFO = finish(try cli.start(["ingest", "pipe.png", "--db", "p.db"]), within: 60, "ingest FIFO")
        XCTAssertEqual(ingestFIFO.status, 2, ingestFIFO.stderr)
        XCTAssertTrue(ingestFIFO.stderr.contains("FIFO"), ingestFIFO.stderr)
        XCTAssertFalse(ingestFIFO.stderr.contains("permission"), ingestFIFO.stderr)
        try FileManager.default.removeItem(at: stored)
        XCTAssertEqual(mkfifo(stored.path, 0o644), 0)
        let montage = finish(try cli.start(["search", "--id", "1", "--db", "p.db", "--montage", "m.png"]), within: 60, "--montage on a stored FIFO")
        XCTAssertEqual(montage.status, 0, montage.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("m.png")))
    }

    func testDeleteCountsUniqueIdsAndManyIdsAreFast() throws {
        try writeVectors("v.npy", n: 20_000, d: 4)
        XCTAssertEqual(try cli.run(["import", "v.npy", "--db", "v.db", "--anchors", "8"]).status, 0)
        let twice = try cli.run(["delete", "5", "5", "--db", "v.db"])
        XCTAssertEqual(twice.status, 0, twice.stderr)
        XCTAssertTrue(twice.stdout.contains("deleted 1 item(s)"), twice.stdout)
        // 16,000 ids on the command line: took 10 s (36 s on a loaded machine) in argument
        // parsing alone, quadratic in their number; now linear.
        let start = Date()
        let many = try cli.run(["delete", "--db", "v.db", "--json"] + (10...16_009).map(String.init))
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(many.status, 0, many.stderr)
        XCTAssertEqual(try many.json()["deleted"] as? Int, 16_000)
        XCTAssertLessThan(seconds, 8, "deleting 16,000 ids took \(seconds) s")
        XCTAssertEqual(try items("v.db"), 20_000 - 16_001)
        // Numbers that are option values stay option values; bad ids are still usage errors.
        let bad = try cli.run(["delete", "--db", "v.db"] + (1...100).map { $0 == 50 ? "x" : String($0 + 16_009) })
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertEqual(try items("v.db"), 20_000 - 16_001, "a usage error deletes nothing")
    }

    func testBackupBehindAHeldLockExitsBusyAndStagingOfAKilledBackupIsCleaned() throws {
        try writeVectors("v.npy", n: 100, d: 4)
        XCTAssertEqual(try cli.run(["import", "v.npy", "--db", "v.db"]).status, 0)
        // A backup killed with -9 left its staging directory and its note.
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let pid = dead.processIdentifier
        let staging = cli.workdir.appendingPathComponent(".elsewhere.radb-backup-\(pid)")
        try FileManager.default.createDirectory(at: staging.appendingPathComponent("vectors"), withIntermediateDirectories: true)
        try Data(staging.path.utf8).write(to: cli.workdir.appendingPathComponent("v.db/.backup-staging-\(pid)"))
        XCTAssertEqual(try cli.run(["stats", "--db", "v.db"]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: staging.path), "the next open removes a killed backup's staging")

        // Another process holds the write lock: exit 4, as documented.
        let probe = Process()
        probe.executableURL = CLIHarness.binary.deletingLastPathComponent().appendingPathComponent("radb-store-probe")
        probe.arguments = ["hold-lock", path("v.db"), "20"]
        let out = Pipe()
        probe.standardOutput = out
        try probe.run()
        defer { probe.terminate(); probe.waitUntilExit() }
        _ = out.fileHandleForReading.availableData  // "locked <pid>"
        let backup = try cli.run(["backup", "--db", "v.db", "copy.db"])
        XCTAssertEqual(backup.status, 4, backup.stderr)
        XCTAssertTrue(backup.stderr.contains("write lock"), backup.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("copy.db")))
    }

    func testConcurrentImportsCreatingOneDatabaseFailCleanly() throws {
        try writeVectors("v.npy", n: 30_000, d: 8)
        let runs = try (0..<2).map { _ in try cli.start(["import", "v.npy", "--db", "one.db"]) }
        let results = runs.map { finish($0, within: 300, "import") }
        XCTAssertTrue(results.contains { $0.status == 0 }, "\(results.map(\.stderr))")
        for r in results where r.status != 0 {
            XCTAssertFalse(r.stderr.contains("NSCocoaErrorDomain"), r.stderr)
            XCTAssertTrue(r.stderr.contains("another process"), r.stderr)
        }
        XCTAssertEqual(try items("one.db"), 30_000)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cli.workdir.path).filter { $0.contains("creating") }, [])
    }
}
