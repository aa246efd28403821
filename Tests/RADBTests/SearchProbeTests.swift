import Foundation
import XCTest
import RADB
import RADBStore
import RADBTraining

/// How many partitions a search scans: the recall target calibrated on the collection's own
/// vectors, and the k-means anchors that ingest learns once a collection outgrows its partitions.
final class SearchProbeTests: XCTestCase {
    private func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("radb-probe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// `count` vectors around `clusters` random centres (always the same centres; `seed` draws
    /// the points), row-major.
    private func clustered(count: Int, clusters: Int, dimension: Int, seed: UInt64) -> [Float] {
        var centreRNG = SeededGenerator(seed: 0xC0FFEE)
        let centres = (0..<clusters * dimension).map { _ in Float.random(in: -1..<1, using: &centreRNG) }
        var rng = SeededGenerator(seed: seed)
        return (0..<count).flatMap { i -> [Float] in
            let c = (i * 7919) % clusters
            return (0..<dimension).map { centres[c * dimension + $0] + Float.random(in: -0.8..<0.8, using: &rng) }
        }
    }

    /// A recall target is met on queries the calibration never saw, a higher target never scans
    /// fewer partitions, and recall 1 of a target ≥ what it promises; the calibration is kept
    /// in the database directory for the next process.
    func testRecallTargetIsMetOnFreshQueries() throws {
        let dir = try temporaryDirectory()
        let d = 16, n = 6_000
        let url = dir.appendingPathComponent("vectors.db")
        _ = try Database.importVectors(NPYMatrix(rows: n, columns: d, values: clustered(count: n, clusters: 60, dimension: d, seed: 1)),
                                       metadata: nil, into: url, anchorCount: 60)
        let db = try Database.open(at: url, mode: .readOnly)
        let queries = clustered(count: 300, clusters: 60, dimension: d, seed: 2)
        func recall(_ probe: SearchOptions.Probe) throws -> Double {
            var found = 0.0
            for q in 0..<300 {
                let v = Array(queries[q * d..<(q + 1) * d])
                let exact = Set(try db.search(vector: v, options: SearchOptions(k: 10, probe: .exact)).map(\.id))
                let routed = try db.search(vector: v, options: SearchOptions(k: 10, probe: probe)).map(\.id)
                found += Double(routed.filter { exact.contains($0) }.count) / 10
            }
            return found / 300
        }
        let at90 = try recall(.recall(0.9)), at99 = try recall(.recall(0.99)), automatic = try recall(.automatic)
        print("recall on fresh queries: target 0.90 → \(at90), 0.99 → \(at99), automatic (0.95) → \(automatic)")
        XCTAssertGreaterThanOrEqual(at90, 0.85)
        XCTAssertGreaterThanOrEqual(at99, 0.96)
        XCTAssertGreaterThanOrEqual(automatic, 0.91)
        XCTAssertGreaterThanOrEqual(at99, at90)
        XCTAssertLessThan(try recall(.nearest(1)), at90, "one partition is not enough here: the calibration must probe more")
        XCTAssertTrue(FileManager.default.fileExists(atPath: url.appendingPathComponent("probe-calibration.json").path))
        XCTAssertThrowsError(try db.search(vector: Array(queries[0..<d]), options: SearchOptions(k: 10, probe: .recall(1.5))))
    }

    /// Once a collection of images holds enough items, ingest re-partitions it under ≈ √n
    /// k-means anchors learned from its own vectors; every item stays reachable and `check` is
    /// clean; a second ingest that does not change the balance keeps them.
    func testIngestLearnsKMeansAnchorsWhenTheCollectionOutgrowsItsPartitions() throws {
        let dir = try temporaryDirectory()
        let db = try Database.create(at: dir.appendingPathComponent("photos.db"))
        XCTAssertEqual(try db.stats().anchors, 1, "the built-in model brings no anchors")
        let d = try db.stats().dimension
        let n = Database.relearnMinimumItems
        let vectors = clustered(count: n, clusters: 30, dimension: d, seed: 3)
        _ = try db.insert(vectors: (0..<n).map { Array(vectors[$0 * d..<($0 + 1) * d]) },
                          metadata: (0..<n).map { ItemMetadata(path: "v\($0)", contentHash: "h\($0)", width: 1, height: 1) })
        let photos = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/photos")
        let report = try db.ingest([photos])
        XCTAssertEqual(report.added, 9)
        let expected = Int(Double(n + 9).squareRoot().rounded())
        XCTAssertEqual(report.relearnedAnchors, expected)
        let stats = try db.stats()
        XCTAssertEqual(stats.anchors, expected)
        XCTAssertGreaterThan(stats.nonEmptyPartitions, 1)
        XCTAssertEqual(try db.check(), [])
        let owl = photos.appendingPathComponent("owl.jpg")
        XCTAssertEqual(try db.search(image: owl, options: SearchOptions(k: 1)).first?.path, owl.path)
        XCTAssertNil(try db.relearnAnchorsIfDue(), "the partitions fit the collection now")
    }
}
