import Foundation
import RADB
import RADBStore
import XCTest

/// Commands meeting a damaged database (issue 12, items 4 and 8), through the binary: writes
/// never go into a vector file with damaged pages, and damaged anchors stop searches, stats
/// and ingest with a message that names the file and the way out (reindex, or a backup).
final class CLIDamagedDatabaseTests: XCTestCase {
    private var cli: CLIHarness!

    override func setUpWithError() throws { cli = try CLIHarness() }
    override func tearDownWithError() throws { cli.cleanUp() }

    /// `rows` deterministic `d`-dimensional rows, distinct for each `seed`.
    private func matrix(rows: Int, d: Int, seed: UInt64) -> NPYMatrix {
        var state = seed
        return NPYMatrix(rows: rows, columns: d, values: (0..<(rows * d)).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) - 0.5
        })
    }

    /// Every write command — not only ingest and import — audits the vector file's pages first
    /// and refuses to write into a damaged one. `delete` and `reindex` used to go ahead.
    func testEveryWriteCommandRefusesAVectorFileWithDamagedPages() throws {
        let url = cli.workdir.appendingPathComponent("d.db")
        // One-vector blocks: 8 imports of 2,500 rows make trees of several pages each.
        var options = StoreOptions(durable: false)
        options.minimumBlockVectors = 1
        for seed in 1...8 as ClosedRange<UInt64> {
            _ = try Database.importVectors(matrix(rows: 2_500, d: 16, seed: seed), metadata: nil, into: url,
                                           anchorCount: 40, options: options)
        }
        try matrix(rows: 10, d: 16, seed: 99).write(to: cli.workdir.appendingPathComponent("more.npy"))
        let data = url.appendingPathComponent("vectors/data.mdb")
        XCTAssertEqual(LMDBPageAudit.problems(dataPath: data.path), [])
        // Garbage in the headers of pages below the roots (opening reads the roots), as in
        // DamagedPagesTests.
        let trees = LMDBPageAudit.treePages(dataPath: data.path)
        let targets = Array((trees["database 'blocks'"] ?? []).dropFirst().prefix(2)) + Array((trees["database 'ids'"] ?? []).dropFirst().prefix(1))
        XCTAssertEqual(targets.count, 3, "multi-page trees: \(trees.mapValues(\.count))")
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: data.path))
        for page in targets {
            try handle.seek(toOffset: page * 4096)
            try handle.write(contentsOf: Data((0..<16).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ Int(page)) }))
        }
        try handle.close()
        let damaged = try Data(contentsOf: data)

        for args in [["delete", "--db", url.path, "5", "6"], ["reindex", "--db", url.path, "--anchors", "10"],
                     ["import", "more.npy", "--db", url.path]] {
            let r = try cli.run(args)
            XCTAssertEqual(r.status, 1, "\(args[0]): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(data.path) && r.stderr.contains("damaged"), "\(args[0]): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("writes nothing"), "\(args[0]): \(r.stderr)")
        }
        // The library's single-item writes refuse as well.
        let db = try Database.open(at: url, options: options)
        XCTAssertThrowsError(try db.delete(ids: [7])) { XCTAssertTrue("\($0)".contains("damaged"), "\($0)") }
        XCTAssertThrowsError(try db.updateMetadata(id: 7, ItemMetadata(path: "x", contentHash: "y", width: 1, height: 1))) {
            XCTAssertTrue("\($0)".contains("damaged"), "\($0)")
        }
        XCTAssertEqual(try Data(contentsOf: data), damaged, "nothing was written to the damaged file")
    }

    /// Damaged anchors (a NaN, a short row) used to stop `Database.open` itself, so nothing —
    /// not even `reindex` — could run. Now search, stats and ingest say which file is damaged
    /// and what to do, `check` reports it, and `radb reindex` repairs it.
    func testDamagedAnchorsNameTheFileAndReindexRepairsThem() throws {
        let url = cli.workdir.appendingPathComponent("a.db")
        _ = try Database.importVectors(matrix(rows: 300, d: 16, seed: 5), metadata: nil, into: url, anchorCount: 8)
        try matrix(rows: 10, d: 16, seed: 6).write(to: cli.workdir.appendingPathComponent("more.npy"))
        for damage in [VectorStore.AnchorDamage.nonFinite, .shortRow] {
            try VectorStore.open(at: url).damageAnchorsForTesting(damage)
            for args in [["search", "--db", url.path, "--id", "1"], ["stats", "--db", url.path],
                         ["import", "more.npy", "--db", url.path]] {
                let r = try cli.run(args)
                XCTAssertEqual(r.status, 1, "\(damage) \(args[0]): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains(url.appendingPathComponent("vectors").path), "\(damage) \(args[0]): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("anchors") && r.stderr.contains("radb reindex") && r.stderr.contains("backup"),
                              "\(damage) \(args[0]): \(r.stderr)")
            }
            let check = try cli.run(["check", "--db", url.path])
            XCTAssertEqual(check.status, 3, check.stderr + check.stdout)
            XCTAssertTrue((check.stdout + check.stderr).contains("anchor"), check.stderr + check.stdout)

            let reindex = try cli.run(["reindex", "--db", url.path, "--anchors", "6"])
            XCTAssertEqual(reindex.status, 0, reindex.stderr)
            XCTAssertEqual(try cli.run(["check", "--db", url.path]).status, 0)
            let search = try cli.run(["search", "--db", url.path, "--id", "1", "--exact", "--json"])
            XCTAssertEqual(search.status, 0, search.stderr)
            XCTAssertEqual(((try search.json()["results"] as? [[String: Any]])?.first?["id"] as? Int), 1)
        }
    }
}
