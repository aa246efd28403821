import Foundation
import XCTest

/// The `radb` binary used as a new user would: ingest a real folder with corrupt files mixed
/// in, search, check, re-ingest, interrupt, and bad input at every door.
final class CLIEndToEndTests: XCTestCase {
    private var cli: CLIHarness!
    private let photos = CLIHarness.repositoryRoot.appendingPathComponent("Fixtures/photos")

    override func setUpWithError() throws { cli = try CLIHarness() }
    override func tearDown() { cli.cleanUp() }

    /// A folder of real images: CIFAR-10 test images (if unpacked) + the sample photos + corrupt files.
    private func makeCollection(cifar: Int) throws -> (URL, Int) {
        let folder = cli.workdir.appendingPathComponent("collection")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var images = 0
        if cifar > 0 {
            guard let n = try CLIHarness.copyCIFARSubset(count: cifar, to: folder.appendingPathComponent("cifar")) else {
                throw XCTSkip("needs the shared CIFAR-10 data: run `bash Tools/unpack-datasets.sh` (../shared absent?)")
            }
            images += n
        }
        let photoDir = folder.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photoDir, withIntermediateDirectories: true)
        for name in ["cat.png", "owl.jpg", "hot_dog.jpg", "parrot.jpg"] {
            try FileManager.default.copyItem(at: photos.appendingPathComponent(name), to: photoDir.appendingPathComponent(name))
            images += 1
        }
        let bad = folder.appendingPathComponent("bad")
        try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
        try Data("this is not a picture".utf8).write(to: bad.appendingPathComponent("text.jpg"))
        try Data().write(to: bad.appendingPathComponent("empty.png"))
        let owl = try Data(contentsOf: photos.appendingPathComponent("owl.jpg"))
        try owl.prefix(owl.count / 3).write(to: bad.appendingPathComponent("truncated.jpg"))
        return (folder, images)
    }

    func testIngestSearchCheckAndReingestWithSharedCIFAR() throws {
        let (folder, images) = try makeCollection(cifar: 60)
        let ingest = try cli.run(["ingest", folder.path, "--label-from-folder", "--json"])
        XCTAssertEqual(ingest.status, 2, "partial success is exit code 2: \(ingest.stderr)")
        let report = try ingest.json()
        XCTAssertEqual(report["added"] as? Int, images, "every real image is added; the three bad files fail")
        let failed = try XCTUnwrap(report["failed"] as? [[String: Any]])
        XCTAssertEqual(Set(failed.compactMap { ($0["path"] as? String).map { URL(fileURLWithPath: $0).lastPathComponent } }),
                       ["text.jpg", "empty.png", "truncated.jpg"])
        XCTAssertTrue(failed.allSatisfy { !(($0["error"] as? String) ?? "").isEmpty })

        // A stored image queried back comes first at distance 0.
        let query = folder.appendingPathComponent("photos/owl.jpg")
        let search = try cli.run(["search", query.path, "-k", "5", "--json"])
        XCTAssertEqual(search.status, 0, search.stderr)
        let results = try XCTUnwrap(try search.json()["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, 5)
        XCTAssertEqual(results[0]["path"] as? String, query.path)
        XCTAssertEqual(results[0]["distance"] as? Double, 0)
        XCTAssertEqual(results[0]["rank"] as? Int, 1)
        XCTAssertEqual(results[0]["label"] as? String, "photos")
        let distances = results.compactMap { $0["distance"] as? Double }
        XCTAssertEqual(distances, distances.sorted())

        // Exact search agrees on the first hit; --where restricts to matching items.
        let exact = try cli.run(["search", query.path, "-k", "3", "--exact", "--json"])
        XCTAssertEqual((try exact.json()["results"] as? [[String: Any]])?.first?["path"] as? String, query.path)
        let filtered = try cli.run(["search", query.path, "-k", "4", "--where", "label = 'cat'", "--json"])
        XCTAssertEqual(filtered.status, 0, filtered.stderr)
        let catResults = try XCTUnwrap(try filtered.json()["results"] as? [[String: Any]])
        XCTAssertEqual(catResults.count, 4, "a filter must not come back short")
        XCTAssertTrue(catResults.allSatisfy { $0["label"] as? String == "cat" })

        // Table output for people.
        let table = try cli.run(["search", query.path, "-k", "2"])
        XCTAssertTrue(table.stdout.contains("rank") && table.stdout.contains("owl.jpg"), table.stdout)

        let check = try cli.run(["check", "--json"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        XCTAssertEqual(try check.json()["ok"] as? Bool, true)

        let stats = try cli.run(["stats", "--json"]).json()
        XCTAssertEqual(stats["items"] as? Int, images)

        // Re-ingesting adds nothing.
        let again = try cli.run(["ingest", folder.path, "--json"]).json()
        XCTAssertEqual(again["added"] as? Int, 0)
        XCTAssertEqual(again["unchanged"] as? Int, images)
    }

    func testKillDuringLargeIngestThenResumeWithSharedCIFAR() throws {
        let folder = cli.workdir.appendingPathComponent("big")
        guard let n = try CLIHarness.copyCIFARSubset(count: 400, to: folder) else {
            throw XCTSkip("needs the shared CIFAR-10 data: run `bash Tools/unpack-datasets.sh`")
        }
        let (p, _, _) = try cli.start(["ingest", folder.path])
        // Let it commit a few batches, then kill it without warning.
        let db = cli.workdir.appendingPathComponent("radb.db")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            if let s = try? cli.run(["stats", "--json"]).json(), let items = s["items"] as? Int, items >= 64 { break }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertTrue(FileManager.default.fileExists(atPath: db.path))
        let partial = try cli.run(["stats", "--json"]).json()["items"] as? Int ?? -1
        XCTAssertLessThan(partial, n, "the ingest was meant to be interrupted; make the collection larger")

        let resumed = try cli.run(["ingest", folder.path, "--json"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let r = try resumed.json()
        XCTAssertEqual((r["added"] as? Int ?? 0) + (r["unchanged"] as? Int ?? 0), n)
        XCTAssertEqual(try cli.run(["check"]).status, 0)
        // Every image is present exactly once.
        let exported = cli.workdir.appendingPathComponent("all.npy")
        XCTAssertEqual(try cli.run(["export", exported.path]).status, 0)
        let lines = try String(contentsOf: cli.workdir.appendingPathComponent("all.jsonl"), encoding: .utf8).split(separator: "\n")
        let paths = lines.compactMap { line -> String? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["path"] as? String
        }
        XCTAssertEqual(paths.count, n)
        XCTAssertEqual(Set(paths).count, n)
    }

    func testSearchesRunWhileIngestWritesWithSharedCIFAR() throws {
        let first = cli.workdir.appendingPathComponent("first")
        let second = cli.workdir.appendingPathComponent("second")
        guard try CLIHarness.copyCIFARSubset(count: 20, to: first) != nil else {
            throw XCTSkip("needs the shared CIFAR-10 data: run `bash Tools/unpack-datasets.sh`")
        }
        XCTAssertEqual(try cli.run(["ingest", first.path]).status, 0)
        _ = try CLIHarness.copyCIFARSubset(count: 200, to: second)
        let (writer, _, _) = try cli.start(["ingest", second.path])
        let query = photos.appendingPathComponent("cat.png")
        var searches = 0
        while writer.isRunning && searches < 6 {
            let (a, aOut, _) = try cli.start(["search", query.path, "-k", "3", "--json"], tag: "a\(searches)")
            let (b, bOut, _) = try cli.start(["search", query.path, "-k", "3", "--json"], tag: "b\(searches)")
            a.waitUntilExit(); b.waitUntilExit()
            XCTAssertEqual(a.terminationStatus, 0)
            XCTAssertEqual(b.terminationStatus, 0)
            for out in [aOut, bOut] {
                let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any]
                XCTAssertEqual((obj?["results"] as? [Any])?.count, 3)
            }
            searches += 1
        }
        writer.waitUntilExit()
        XCTAssertEqual(writer.terminationStatus, 0)
        XCTAssertGreaterThan(searches, 0)
        XCTAssertEqual(try cli.run(["check"]).status, 0)
    }

    func testBadInputGetsOneClearLineAndNothingIsLost() throws {
        let cat = photos.appendingPathComponent("cat.png")
        XCTAssertEqual(try cli.run(["ingest", photos.path]).status, 0)
        let before = try cli.run(["stats", "--json"]).json()["items"] as? Int
        XCTAssertEqual(before, 9)

        func expectError(_ args: [String], mentions: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let r = try cli.run(args)
            XCTAssertNotEqual(r.status, 0, "\(args) should fail", file: file, line: line)
            XCTAssertTrue(r.stderr.contains(mentions), "\(args): stderr \(r.stderr)", file: file, line: line)
            XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("Stack dump"), r.stderr, file: file, line: line)
            XCTAssertLessThanOrEqual(r.stderr.split(separator: "\n").count, 3, r.stderr, file: file, line: line)
        }
        try expectError(["ingest", "no/such/folder"], mentions: "no/such/folder")
        let empty = cli.workdir.appendingPathComponent("empty-folder")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try Data("hello".utf8).write(to: empty.appendingPathComponent("readme.txt"))
        try expectError(["ingest", empty.path], mentions: "no images")
        let unreadable = cli.workdir.appendingPathComponent("locked.jpg")
        try FileManager.default.copyItem(at: photos.appendingPathComponent("owl.jpg"), to: unreadable)
        chmod(unreadable.path, 0)
        if getuid() != 0 { try expectError(["search", unreadable.path], mentions: "locked.jpg") }
        try expectError(["search", cat.path, "-k", "0"], mentions: "-k")
        let notImage = cli.workdir.appendingPathComponent("query.jpg")
        try Data("plain text".utf8).write(to: notImage)
        try expectError(["search", notImage.path], mentions: "query.jpg")
        let notDB = cli.workdir.appendingPathComponent("somedir")
        try FileManager.default.createDirectory(at: notDB, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: notDB.appendingPathComponent("file.txt"))
        try expectError(["search", cat.path, "--db", notDB.path], mentions: "somedir")
        try expectError(["search", cat.path, "--db", cli.workdir.appendingPathComponent("missing.db").path], mentions: "missing.db")

        // Nothing already stored was lost.
        XCTAssertEqual(try cli.run(["stats", "--json"]).json()["items"] as? Int, 9)
        XCTAssertEqual(try cli.run(["check"]).status, 0)
    }

    func testFullDiskFailsCleanlyAndKeepsStoredItemsWithSharedCIFAR() throws {
        XCTAssertEqual(try cli.run(["ingest", photos.path]).status, 0)
        let more = cli.workdir.appendingPathComponent("more")
        guard let n = try CLIHarness.copyCIFARSubset(count: 300, to: more) else {
            throw XCTSkip("needs the shared CIFAR-10 data: run `bash Tools/unpack-datasets.sh`")
        }
        // Simulate a full disk: in the child, every write that would grow a file past the largest
        // database file plus 4 KiB fails with EFBIG (RLIMIT_FSIZE, SIGXFSZ ignored). 300 more
        // vectors cannot fit in that.
        let dbFiles = FileManager.default.enumerator(at: cli.workdir.appendingPathComponent("radb.db"), includingPropertiesForKeys: [.fileSizeKey])!
        var largest = 0
        for case let f as URL in dbFiles where f.lastPathComponent != "model.safetensors" {
            largest = max(largest, (try? f.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0) ?? 0)
        }
        let r = try cli.runLimitingFileSize(kilobytes: largest / 1024 + 4, ["ingest", more.path])
        XCTAssertNotEqual(r.status, 0, r.stdout)
        XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
        XCTAssertTrue(r.stderr.contains("radb: error:"), r.stderr)
        // Nothing stored before is lost; what the failed run committed is whole.
        let after = try cli.run(["check", "--json"])
        XCTAssertEqual(after.status, 0, after.stdout + after.stderr)
        let items = try cli.run(["stats", "--json"]).json()["items"] as? Int ?? 0
        XCTAssertGreaterThanOrEqual(items, 9, "the photos stored before the full disk must survive")
        XCTAssertLessThan(items, 9 + n)
        // With space again, the same command finishes the job.
        let again = try cli.run(["ingest", more.path, "--json"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try cli.run(["stats", "--json"]).json()["items"] as? Int, 9 + n)
    }

    func testDatabaseFromANewerRadbIsRefusedAndLeftAlone() throws {
        XCTAssertEqual(try cli.run(["ingest", photos.appendingPathComponent("owl.jpg").path]).status, 0)
        let catalog = cli.workdir.appendingPathComponent("radb.db/catalog.sqlite")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") else {
            throw XCTSkip("needs the sqlite3 command (Tools/install-deps.sh installs it) to stamp a newer schema version")
        }
        func sqlite(_ sql: String) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            p.arguments = [catalog.path, sql]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, sql)
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try sqlite("PRAGMA user_version = 999")
        let before = try sqlite("SELECT id, path, content_hash FROM items ORDER BY id")
        XCTAssertFalse(before.isEmpty)
        for args in [["search", photos.appendingPathComponent("owl.jpg").path], ["ingest", photos.path], ["check"]] {
            let r = try cli.run(args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stderr.contains("999") && r.stderr.lowercased().contains("upgrade"), r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
        XCTAssertEqual(try sqlite("PRAGMA user_version"), "999", "a refused database is not migrated")
        XCTAssertEqual(try sqlite("SELECT id, path, content_hash FROM items ORDER BY id"), before, "nor changed")
    }

    func testHelpDocumentsExitCodesAndCommands() throws {
        let help = try cli.run(["--help"])
        XCTAssertEqual(help.status, 0)
        for word in ["EXIT CODES", "ingest", "search", "check", "backup", "export", "import", "reindex", "train", "eval"] {
            XCTAssertTrue(help.stdout.contains(word), "help lacks \(word)")
        }
    }
}
