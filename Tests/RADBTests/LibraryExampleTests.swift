import Foundation
import RADB
import XCTest

/// The README's library example, compiled and run, so the documentation cannot rot.
final class LibraryExampleTests: XCTestCase {
    func testReadmeExampleRunsOnTheSamplePhotos() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("radb-example-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let pictures = CLIHarness.repositoryRoot.appendingPathComponent("Fixtures/photos")
        let query = pictures.appendingPathComponent("cat_720p.jpg")
        var printed: [String] = []
        func print(_ items: Any...) { printed.append(items.map { "\($0)" }.joined(separator: " ")) }

        // --- README example (paths adapted to the test's folders) ---
        let db = try Database.openOrCreate(at: work.appendingPathComponent("photos.radb"))
        let report = try db.ingest([pictures],
                                   progress: { print("\($0.processed)/\($0.total)") })
        print("added \(report.added), unchanged \(report.unchanged), failed \(report.failed.count)")

        var options = SearchOptions(k: 10)                       // routed through the nearest anchors
        options.filter = try FilterExpression.parse("path GLOB '*.jpg'")
        for match in try db.search(image: query, options: options) {
            print(match.rank, match.distance, match.path)
        }
        // --- end of example ---

        XCTAssertEqual(report.added, 9)
        XCTAssertTrue(printed.contains("added 9, unchanged 0, failed 0"), "\(printed)")
        let matches = try db.search(image: query, options: options)
        XCTAssertEqual(matches.count, 5, "five of the nine photos are JPEGs")
        XCTAssertTrue(matches.allSatisfy { $0.path.hasSuffix(".jpg") })
        XCTAssertEqual(matches.first?.path, query.path)
        XCTAssertEqual(matches.first?.distance, 0)
        // The two cat photos are each other's nearest other image: the embedding means something.
        let cat = try db.search(image: pictures.appendingPathComponent("cat.png"), options: SearchOptions(k: 2, probe: .exact))
        XCTAssertEqual(cat.map { URL(fileURLWithPath: $0.path).lastPathComponent }, ["cat.png", "cat_720p.jpg"])
    }
}
