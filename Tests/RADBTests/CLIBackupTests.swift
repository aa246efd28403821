import Foundation
import RADB
import XCTest

/// `radb backup` as a user runs it: the copy is a complete, working database; a destination
/// that already holds something is refused and left alone; a backup that fails (disk full) or
/// is interrupted (Ctrl-C) never leaves a half-written database under the destination's name.
final class CLIBackupTests: XCTestCase {
    private var cli: CLIHarness!

    override func setUpWithError() throws { cli = try CLIHarness() }
    override func tearDownWithError() throws { cli.cleanUp() }

    /// A database of `n` imported random vectors (no image model), and the query file.
    private func importedDatabase(n: Int, d: Int) throws -> (db: String, queries: String) {
        var state: UInt64 = 42
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) - 0.5
        }
        let vectors = NPYMatrix(rows: n, columns: d, values: (0..<(n * d)).map { _ in next() })
        try vectors.write(to: cli.workdir.appendingPathComponent("vectors.npy"))
        let queries = NPYMatrix(rows: 5, columns: d, values: Array(vectors.values.prefix(5 * d)))
        try queries.write(to: cli.workdir.appendingPathComponent("queries.npy"))
        let imported = try cli.run(["import", "vectors.npy", "--db", "source.db", "--json"])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        return ("source.db", "queries.npy")
    }

    private func searchIDs(db: String, queries: String) throws -> [[Int]] {
        let r = try cli.run(["search", "--vectors", queries, "-k", "10", "--exact", "--db", db, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lists = try XCTUnwrap(try r.json()["queries"] as? [[String: Any]])
        return lists.map { (($0["results"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? Int } }
    }

    /// Names in the work directory that look like backup staging directories.
    private func stagingLeftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: cli.workdir.path).filter { $0.contains(".radb-backup-") }
    }

    func testBackupIsACompleteWorkingDatabase() throws {
        let (db, queries) = try importedDatabase(n: 3000, d: 32)
        let backup = try cli.run(["backup", "copy.db", "--db", db, "--json"])
        XCTAssertEqual(backup.status, 0, backup.stderr)
        let check = try cli.run(["check", "--db", "copy.db", "--json"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        XCTAssertEqual(try check.json()["ok"] as? Bool, true)
        let stats = try cli.run(["stats", "--db", "copy.db", "--json"])
        XCTAssertEqual(try stats.json()["items"] as? Int, 3000)
        let original = try searchIDs(db: db, queries: queries)
        XCTAssertEqual(original.map(\.first), [1, 2, 3, 4, 5], "each stored vector finds itself first")
        XCTAssertEqual(try searchIDs(db: "copy.db", queries: queries), original)
        XCTAssertEqual(try stagingLeftovers(), [])
    }

    func testNonEmptyDestinationIsRefusedAndLeftAlone() throws {
        let (db, _) = try importedDatabase(n: 200, d: 8)
        let dest = cli.workdir.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: dest, withIntermediateDirectories: true)
        try "keep me".write(to: dest.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        let r = try cli.run(["backup", "taken", "--db", db])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("taken") && r.stderr.contains("not an empty directory"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dest.path), ["notes.txt"])
        XCTAssertEqual(try String(contentsOf: dest.appendingPathComponent("notes.txt"), encoding: .utf8), "keep me")
        // An existing empty directory is an acceptable destination.
        let empty = cli.workdir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertEqual(try cli.run(["backup", "empty", "--db", db]).status, 0)
        XCTAssertEqual(try cli.run(["check", "--db", "empty"]).status, 0)
    }

    func testStagingLeftByAKilledBackupIsRemovedByTheNext() throws {
        let (db, _) = try importedDatabase(n: 200, d: 8)
        // A process that has certainly exited: its pid names the stale staging directory.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let stale = cli.workdir.appendingPathComponent(".copy.db.radb-backup-\(gone.processIdentifier)")
        try FileManager.default.createDirectory(at: stale.appendingPathComponent("vectors"), withIntermediateDirectories: true)
        try Data(count: 4096).write(to: stale.appendingPathComponent("vectors/data.mdb"))
        XCTAssertEqual(try cli.run(["backup", "copy.db", "--db", db]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path), "stale staging directory was removed")
        XCTAssertEqual(try stagingLeftovers(), [])
        XCTAssertEqual(try cli.run(["check", "--db", "copy.db"]).status, 0)
    }

    func testFullDiskDuringBackupLeavesNoDestinationAndTheSourceIntact() throws {
        let (db, queries) = try importedDatabase(n: 20000, d: 64)  // ~5 MiB of vectors
        let before = try searchIDs(db: db, queries: queries)
        let r = try cli.runLimitingFileSize(kilobytes: 1024, ["backup", "copy.db", "--db", db])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("copy.db"), "names the destination: \(r.stderr)")
        XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cli.workdir.appendingPathComponent("copy.db").path))
        XCTAssertEqual(try stagingLeftovers(), [])
        XCTAssertEqual(try cli.run(["check", "--db", db]).status, 0)
        XCTAssertEqual(try searchIDs(db: db, queries: queries), before)
    }

    /// Ctrl-C at a random moment: either the backup had already finished (a complete copy) or
    /// nothing is left under the destination's name and no staging directory remains.
    func testInterruptedBackupIsAllOrNothing() throws {
        let (db, _) = try importedDatabase(n: 60000, d: 64)
        var interruptedMidway = 0
        for round in 0..<4 {
            let dest = "copy\(round).db"
            let (p, _, errURL) = try cli.start(["backup", dest, "--db", db])
            let staging = cli.workdir.appendingPathComponent(".\(dest).radb-backup-\(p.processIdentifier)")
            let deadline = Date().addingTimeInterval(20)
            while p.isRunning, !FileManager.default.fileExists(atPath: staging.path), Date() < deadline { usleep(200) }
            usleep(UInt32(round) * 2000)
            if p.isRunning { kill(p.processIdentifier, SIGINT) }
            p.waitUntilExit()
            let destURL = cli.workdir.appendingPathComponent(dest)
            if p.terminationStatus == 130 {
                interruptedMidway += 1
                XCTAssertFalse(FileManager.default.fileExists(atPath: destURL.path), "no half-written \(dest)")
                let err = try String(contentsOf: errURL, encoding: .utf8)
                XCTAssertTrue(err.contains("interrupted"), err)
            } else {
                XCTAssertEqual(p.terminationStatus, 0)
                XCTAssertEqual(try cli.run(["check", "--db", dest]).status, 0, "a finished backup is complete")
            }
            XCTAssertEqual(try stagingLeftovers(), [], "round \(round)")
        }
        XCTAssertEqual(try cli.run(["check", "--db", db]).status, 0, "the source is untouched")
        print("interrupted backups: \(interruptedMidway) of 4 (the others finished first)")
    }
}
