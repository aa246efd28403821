import Foundation
import RADBStore
import XCTest

/// `check` on an LMDB file with garbage in page headers (issue 12, defect 4): LMDB trusts its
/// page headers and crashed (SIGSEGV) traversing such a file; the check now reads the pages
/// itself first and reports the damage.
final class DamagedPagesTests: StoreTestCase {
    func testCheckReportsGarbagePageHeadersInsteadOfCrashing() throws {
        let url = databaseURL()
        do {
            // One-page blocks: 20,000 items make hundreds of blocks, so each tree has several pages.
            var options = fastOptions
            options.minimumBlockVectors = 1
            let store = try makeStore(dimension: 16, options: options)
            var rng = SplitMix(state: 7)
            for batch in 0..<8 {
                try store.insert((0..<2500).map { i in
                    NewItem(vector: (0..<16).map { _ in Float.random(in: -1...1, using: &rng) }, anchor: Int32(i % 40),
                            metadata: ItemMetadata(path: "p\(batch)-\(i)", contentHash: "h\(batch)-\(i)", width: 1, height: 1))
                })
            }
            XCTAssertEqual(try store.check(), [])
        }
        let data = url.appendingPathComponent("vectors/data.mdb").path
        XCTAssertEqual(LMDBPageAudit.problems(dataPath: data), [], "a sound file passes the page audit")
        let trees = LMDBPageAudit.treePages(dataPath: data)
        // Garbage in the headers of three pages the check must traverse: of the `blocks` and
        // `ids` trees, never their roots (which opening the store reads).
        let targets = Array((trees["database 'blocks'"] ?? []).dropFirst().prefix(2)) + Array((trees["database 'ids'"] ?? []).dropFirst().prefix(1))
        XCTAssertEqual(targets.count, 3, "the test database has multi-page trees: \(trees.mapValues(\.count))")
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: data))
        for page in targets {
            try handle.seek(toOffset: page * 4096)
            try handle.write(contentsOf: Data((0..<16).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ Int(page)) }))
        }
        try handle.close()

        var options = fastOptions
        options.readOnly = true
        let store = try VectorStore.open(at: url, options: options)
        let problems = try store.check()
        XCTAssertFalse(problems.isEmpty)
        XCTAssertTrue(problems.allSatisfy { $0.kind == .vectorStore }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.message.contains("damaged") }, "\(problems)")
        for page in targets {
            XCTAssertTrue(problems.contains { $0.message.contains("page \(page)") }, "page \(page) not named in \(problems)")
        }
        // What writers (ingest, import) ask before writing.
        XCTAssertEqual(try store.pageDamage().count, problems.count)
    }
}
