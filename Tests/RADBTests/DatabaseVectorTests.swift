import Foundation
import RADB
import XCTest

/// The library's vector paths (import, search by vector and id, filters, export, reindex,
/// delete) on a real on-disk database of imported vectors — no image model involved.
final class DatabaseVectorTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("radb-dbvec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// `n` vectors around `clusters` centres, deterministic.
    private func clustered(n: Int, d: Int, clusters: Int, seed: UInt64) -> NPYMatrix {
        var state = seed
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) - 0.5
        }
        let centres = (0..<(clusters * d)).map { _ in next() * 10 }
        var values: [Float] = []
        for i in 0..<n {
            let c = i % clusters
            for j in 0..<d { values.append(centres[c * d + j] + next()) }
        }
        return NPYMatrix(rows: n, columns: d, values: values)
    }

    private func writeMetadata(rows: Int, label: (Int) -> String) throws -> URL {
        let url = dir.appendingPathComponent("meta.jsonl")
        let lines = (0..<rows).map { "{\"path\": \"/photos/img\($0).jpg\", \"label\": \"\(label($0))\"}" }
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// Brute force over the matrix: ids are assigned 1…n in row order by a fresh import.
    private func bruteForce(_ m: NPYMatrix, query: [Float], k: Int, keep: (Int) -> Bool = { _ in true }) -> [UInt64] {
        var scored: [(Float, UInt64)] = []
        for r in 0..<m.rows where keep(r) {
            var s: Float = 0
            for j in 0..<m.columns { let diff = m.values[r * m.columns + j] - query[j]; s += diff * diff }
            scored.append((s, UInt64(r + 1)))
        }
        scored.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        return scored.prefix(k).map(\.1)
    }

    func testImportSearchFilterExportReindexDelete() throws {
        let m = clustered(n: 2000, d: 16, clusters: 20, seed: 7)
        let url = dir.appendingPathComponent("vectors.radb")
        let meta = try writeMetadata(rows: m.rows) { $0 % 2 == 0 ? "even" : "odd" }
        let ids = try Database.importVectors(m, metadata: meta, into: url, anchorCount: 20)
        XCTAssertEqual(ids, (1...UInt64(m.rows)).map { $0 })
        let db = try Database.open(at: url)
        XCTAssertNil(db.embedder)
        XCTAssertEqual(try db.stats().items, 2000)
        XCTAssertEqual(try db.stats().anchors, 20)
        XCTAssertEqual(try db.check(), [])

        // Exact search equals brute force, in order; a stored vector finds itself first at 0.
        let query = m.row(123).map { $0 + 0.01 }
        let exact = try db.search(vector: query, options: SearchOptions(k: 10, probe: .exact))
        XCTAssertEqual(exact.map(\.id), bruteForce(m, query: query, k: 10))
        XCTAssertEqual(exact.map(\.rank), Array(1...10))
        let byID = try db.search(id: 124, options: SearchOptions(k: 3, probe: .exact))
        XCTAssertEqual(byID.first?.id, 124)
        XCTAssertEqual(byID.first?.distance, 0)
        XCTAssertEqual(byID.first?.path, "/photos/img123.jpg")

        // Routed search with every anchor probed equals exact.
        let allProbed = try db.search(vector: query, options: SearchOptions(k: 10, probe: .nearest(20)))
        XCTAssertEqual(allProbed.map(\.id), exact.map(\.id))

        // A filter never comes back short and returns exactly the matching items' neighbours.
        var filter = try FilterExpression.parse("label = 'odd' AND path GLOB '/photos/img1*'")
        let filtered = try db.search(vector: query, options: SearchOptions(k: 25, probe: .nearest(1), filter: filter))
        let keep: (Int) -> Bool = { r in r % 2 == 1 && "img\(r).jpg".hasPrefix("img1") }
        XCTAssertEqual(filtered.map(\.id), bruteForce(m, query: query, k: 25, keep: keep))
        XCTAssertTrue(filtered.allSatisfy { $0.label == "odd" })
        filter = SearchFilter(ids: [5, 6, 7])
        XCTAssertEqual(Set(try db.search(vector: query, options: SearchOptions(k: 10, filter: filter)).map(\.id)), [5, 6, 7])

        // Batches answer row by row like single queries.
        let batch = NPYMatrix(rows: 2, columns: 16, values: m.row(0) + m.row(1))
        let lists = try db.search(vectors: batch, options: SearchOptions(k: 5, probe: .exact))
        XCTAssertEqual(lists.count, 2)
        XCTAssertEqual(lists[1].map(\.id), try db.search(vector: m.row(1), options: SearchOptions(k: 5, probe: .exact)).map(\.id))

        // Export round-trips the vectors bit for bit with their metadata.
        let out = dir.appendingPathComponent("out.npy")
        XCTAssertEqual(try db.export(vectorsTo: out, metadataTo: dir.appendingPathComponent("out.jsonl")), 2000)
        let back = try NPYMatrix(contentsOf: out)
        XCTAssertEqual(back.values.map(\.bitPattern), m.values.map(\.bitPattern))
        let firstLine = try String(contentsOf: dir.appendingPathComponent("out.jsonl"), encoding: .utf8).split(separator: "\n")[0]
        XCTAssertTrue(firstLine.contains("\"path\":\"/photos/img0.jpg\""), String(firstLine))

        // Reindex to other anchors: nothing lost, exact results unchanged, check clean.
        let moved = try db.reindex(anchorCount: 7)
        XCTAssertGreaterThan(moved, 0)
        XCTAssertEqual(try db.stats().anchors, 7)
        XCTAssertEqual(try db.stats().items, 2000)
        XCTAssertEqual(try db.search(vector: query, options: SearchOptions(k: 10, probe: .exact)).map(\.id), exact.map(\.id))
        XCTAssertEqual(try db.reroute(), 0, "a finished reindex leaves nothing to move")
        XCTAssertEqual(try db.check(), [])

        // Delete: gone from results, others intact.
        try db.delete(ids: [exact[0].id])
        XCTAssertEqual(try db.search(vector: query, options: SearchOptions(k: 9, probe: .exact)).map(\.id), Array(exact.map(\.id).dropFirst()))
        XCTAssertThrowsError(try db.delete(ids: [999_999]))
        XCTAssertEqual(try db.check(), [])
    }

    func testCheckReportsItsPhasesInOrder() throws {
        let m = clustered(n: 20_000, d: 8, clusters: 50, seed: 3)
        let url = dir.appendingPathComponent("check.radb")
        _ = try Database.importVectors(m, metadata: nil, into: url, anchorCount: 50)
        var seen: [(String, Int, Int)] = []
        let problems = try Database.open(at: url, mode: .readOnly).check { seen.append(($0, $1, $2)) }
        XCTAssertEqual(problems, [])
        var phases: [String] = []
        for (phase, _, _) in seen where phases.last != phase { phases.append(phase) }
        XCTAssertEqual(phases, ["vectors", "catalog", "catalog integrity"])
        let catalog = seen.filter { $0.0 == "catalog" }
        XCTAssertEqual(catalog.first?.2, 20_000, "catalog phase counts the stored items")
        XCTAssertEqual(catalog.map(\.1), catalog.map(\.1).sorted(), "progress only moves forward")
        XCTAssertGreaterThan(catalog.count, 1)
        XCTAssertTrue(seen.allSatisfy { $0.1 <= $0.2 })
    }

    func testBadArgumentsAreClearErrors() throws {
        let m = clustered(n: 50, d: 8, clusters: 5, seed: 1)
        let url = dir.appendingPathComponent("v.radb")
        _ = try Database.importVectors(m, metadata: nil, into: url, anchorCount: 5)
        let db = try Database.open(at: url)
        XCTAssertThrowsError(try db.search(vector: m.row(0), options: SearchOptions(k: 0))) { XCTAssertTrue("\($0)".contains("k")) }
        XCTAssertThrowsError(try db.search(vector: [1, 2, 3], options: SearchOptions())) { XCTAssertTrue("\($0)".contains("8")) }
        XCTAssertThrowsError(try db.search(vector: m.row(0), options: SearchOptions(probe: .nearest(0))))
        var nan = m.row(0); nan[3] = .nan
        XCTAssertThrowsError(try db.search(vector: nan, options: SearchOptions()))
        XCTAssertThrowsError(try db.insert(vectors: [nan], metadata: [.init(path: "x", contentHash: "h", width: 1, height: 1)]))
        XCTAssertThrowsError(try db.search(id: 12345, options: SearchOptions()))
        XCTAssertThrowsError(try db.search(image: URL(fileURLWithPath: "/nonexistent.jpg"))) {
            XCTAssertTrue("\($0)".contains("imported"), "\($0)")
        }
        XCTAssertThrowsError(try Database.open(at: dir.appendingPathComponent("missing"))) {
            XCTAssertTrue("\($0)".contains("missing"))
        }
        let bad = NPYMatrix(rows: 1, columns: 8, values: [Float](repeating: .infinity, count: 8))
        XCTAssertThrowsError(try Database.importVectors(bad, metadata: nil, into: url))
        let readOnly = try Database.open(at: url, mode: .readOnly)
        XCTAssertEqual(try readOnly.search(vector: m.row(0), options: SearchOptions(k: 1, probe: .exact)).first?.id, 1)
        XCTAssertThrowsError(try readOnly.delete(ids: [1])) { XCTAssertTrue("\($0)".contains("read-only")) }
        XCTAssertThrowsError(try readOnly.reindex(anchorCount: 2))
        XCTAssertEqual(try db.stats().items, 50, "failed calls change nothing")
        XCTAssertEqual(try db.check(), [])
    }
}
