import RADBNeural
import RADBTraining
import XCTest

/// The radix-sort ranking of `QueryRanker` and the evaluator built on it give bit-identical
/// rankings and figures to the evaluator they replaced, which sorted 64-bit (distance, index)
/// keys with a comparison sort and sorted every partition separately. That implementation is
/// kept below, verbatim in substance, as the reference.
final class QueryRankerTests: XCTestCase {
    // MARK: - Reference (the previous evaluator's ranking code)

    enum Reference {
        static func key(_ distance: Float, _ index: Int) -> UInt64 { UInt64(max(distance, 0).bitPattern) << 32 | UInt64(index) }

        static func exact(_ dist: [Float], row: Int, cols: Int) -> [Int] {
            (0..<cols).map { key(dist[row * cols + $0], $0) }.sorted().map { Int($0 & 0xFFFF_FFFF) }
        }

        static func twoStage(_ dist: [Float], row: Int, cols: Int, anchorOrder: [Int], partitions: [[Int]]) -> [Int] {
            var ranking = [Int]()
            for a in anchorOrder {
                for k in partitions[a].map({ key(dist[row * cols + $0], $0) }).sorted() { ranking.append(Int(k & 0xFFFF_FFFF)) }
            }
            return ranking
        }

        static func metrics(_ ranking: [Int], relevant: (Int) -> Bool) -> (ap: Double, p10: Double, p100: Double) {
            var hits = 0, sum = 0.0, at10 = 0, at100 = 0
            for (r, item) in ranking.enumerated() {
                if relevant(item) { hits += 1; sum += Double(hits) / Double(r + 1) }
                if r == 9 { at10 = hits }
                if r == 99 { at100 = hits }
            }
            if ranking.count < 10 { at10 = hits }
            if ranking.count < 100 { at100 = hits }
            return (hits == 0 ? 0 : sum / Double(hits), Double(at10) / 10, Double(at100) / 100)
        }

        static func recall(exact: [Int], twoStage: [Int], k: Int) -> Double {
            let top = Set(exact.prefix(k))
            return Double(twoStage.prefix(k).filter { top.contains($0) }.count) / Double(min(k, exact.count))
        }
    }

    // MARK: - One query

    /// Distances with many exact ties (quantised), zeros, −0 and values spanning many binades,
    /// so every radix digit and the tie-break by index are exercised.
    func distances(_ n: Int, using rng: inout SeededGenerator) -> [Float] {
        (0..<n).map { _ in
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: return 0
            case 1: return -0.0
            case 2: return Float(Int.random(in: 0..<20, using: &rng)) * 0.25
            case 3: return Float.random(in: 0...1, using: &rng) * powf(2, Float(Int.random(in: -60...60, using: &rng)))
            default: return Float(Int.random(in: 0..<400, using: &rng)) / 7
            }
        }
    }

    func testRankingsAndMetricsAreIdenticalToTheSortingReference() {
        var rng = SeededGenerator(seed: 3)
        for n in [1, 2, 9, 10, 99, 100, 101, 3_000] {
            var ranker = QueryRanker(count: n)  // reused across queries, as the evaluator does
            for _ in 0..<4 {
                let d = distances(n, using: &rng)
                let t = Int.random(in: 1...7, using: &rng)
                let itemAnchor = (0..<n).map { _ in Int.random(in: 0..<t, using: &rng) }
                let anchorOrder = (0..<t).shuffled(using: &rng)
                var anchorRank = [Int](repeating: 0, count: t)
                for (p, a) in anchorOrder.enumerated() { anchorRank[a] = p }
                var partitions = [[Int]](repeating: [], count: t)
                for (i, a) in itemAnchor.enumerated() { partitions[a].append(i) }
                let labels = (0..<n).map { _ in Int.random(in: 0..<4, using: &rng) }
                let label = Int.random(in: 0..<4, using: &rng)

                d.withUnsafeBufferPointer { ranker.rankExact($0) }
                ranker.rankTwoStage(itemAnchor: itemAnchor.map(Int32.init), anchorRank: anchorRank)
                let exact = Reference.exact(d, row: 0, cols: n)
                let two = Reference.twoStage(d, row: 0, cols: n, anchorOrder: anchorOrder, partitions: partitions)
                XCTAssertEqual(ranker.exactRanking, exact, "n = \(n)")
                XCTAssertEqual(ranker.twoStageRanking, two, "n = \(n)")
                // Exact equality of Doubles: the same sums in the same order.
                let m = ranker.exactMetrics(labels: labels, label: label), rm = Reference.metrics(exact) { labels[$0] == label }
                XCTAssertTrue(m.ap == rm.ap && m.p10 == rm.p10 && m.p100 == rm.p100, "n = \(n): \(m) vs \(rm)")
                let m2 = ranker.twoStageMetrics(labels: labels, label: label), rm2 = Reference.metrics(two) { labels[$0] == label }
                XCTAssertTrue(m2 == rm2, "n = \(n): \(m2) vs \(rm2)")
                for k in [1, 10, 100] {
                    XCTAssertEqual(ranker.recallOfExactTop(k), Reference.recall(exact: exact, twoStage: two, k: k), "n = \(n), k = \(k)")
                }
            }
        }
    }

    // MARK: - Whole evaluation

    /// Clustered 16-d points (10 classes, some duplicated rows for exact distance ties) through
    /// `RetrievalEvaluator.evaluate` against the reference applied to the evaluator's own
    /// GEMM distances, tile by tile; and the figures do not depend on the number of lanes.
    func testEvaluatorFiguresAreIdenticalToTheReferenceForAnyLaneCount() throws {
        var rng = SeededGenerator(seed: 9)
        let d = 16, classes = 10
        let centres = (0..<(classes * d)).map { _ in Float.random(in: -2...2, using: &rng) }
        func points(_ count: Int) throws -> LabeledFeatures {
            var rows = [Float](), labels = [Int]()
            for i in 0..<count {
                let y = Int.random(in: 0..<classes, using: &rng)
                if i % 13 == 12, !labels.isEmpty {  // an exact duplicate of the previous row
                    rows += rows[((i - 1) * d)..<(i * d)]
                    labels.append(labels[i - 1])
                    continue
                }
                rows += (0..<d).map { centres[y * d + $0] + Float.random(in: -1.5...1.5, using: &rng) }
                labels.append(y)
            }
            return try LabeledFeatures(features: Tensor(shape: [count, d], storage: rows), labels: labels,
                                       classNames: (0..<classes).map { "c\($0)" })
        }
        let db = try points(1_500), q = try points(300)
        let anchors = RetrievalEvaluator.classMeans(of: db)
        let reports = [1, 2, 5].map {
            RetrievalEvaluator.evaluate(database: db, queries: q, anchors: anchors, timedQueries: 10, lanes: $0)
        }

        // Reference figures from the same distances.
        let n = db.count, t = classes
        let dbNorms = RetrievalEvaluator.rowSquaredNorms(db.features.storage, rows: n, d: d)
        let qNorms = RetrievalEvaluator.rowSquaredNorms(q.features.storage, rows: q.count, d: d)
        let aNorms = RetrievalEvaluator.rowSquaredNorms(anchors.storage, rows: t, d: d)
        let dbToAnchor = RetrievalEvaluator.squaredDistances(db.features.storage, dbNorms, rows: n, anchors.storage, aNorms, cols: t, d: d)
        var partitions = [[Int]](repeating: [], count: t)
        for i in 0..<n {
            let row = Array(dbToAnchor[(i * t)..<((i + 1) * t)])
            partitions[row.firstIndex(of: row.min()!)!].append(i)
        }
        let qToAnchor = RetrievalEvaluator.squaredDistances(q.features.storage, qNorms, rows: q.count, anchors.storage, aNorms, cols: t, d: d)
        var ap = [Double](), p10 = [Double](), p100 = [Double](), apTwo = [Double](), recall = [Double](), anchorHits = 0
        var start = 0
        while start < q.count {
            let rows = min(RetrievalEvaluator.tileRows, q.count - start)
            let tile = RetrievalEvaluator.squaredDistances(Array(q.features.storage[(start * d)..<((start + rows) * d)]),
                                                           Array(qNorms[start..<(start + rows)]), rows: rows,
                                                           db.features.storage, dbNorms, cols: n, d: d)
            for r in 0..<rows {
                let qi = start + r, label = q.labels[qi]
                let order = (0..<t).sorted {
                    let a = qToAnchor[qi * t + $0], b = qToAnchor[qi * t + $1]
                    return a != b ? a < b : $0 < $1
                }
                if order[0] == label { anchorHits += 1 }
                let exact = Reference.exact(tile, row: r, cols: n)
                let two = Reference.twoStage(tile, row: r, cols: n, anchorOrder: order, partitions: partitions)
                let m = Reference.metrics(exact) { db.labels[$0] == label }
                ap.append(m.ap); p10.append(m.p10); p100.append(m.p100)
                apTwo.append(Reference.metrics(two) { db.labels[$0] == label }.ap)
                recall.append(Reference.recall(exact: exact, twoStage: two, k: 100))
            }
            start += rows
        }
        func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(x.count) }
        for r in reports {
            XCTAssertEqual(r.meanAveragePrecision, mean(ap))
            XCTAssertEqual(r.precisionAt10, mean(p10))
            XCTAssertEqual(r.precisionAt100, mean(p100))
            XCTAssertEqual(r.anchorAccuracy, Double(anchorHits) / Double(q.count))
            XCTAssertEqual(r.twoStage?.meanAveragePrecision, mean(apTwo))
            XCTAssertEqual(r.twoStage?.recallOfExactTopK, mean(recall))
        }
        // Not a degenerate case: the ranking is informative but imperfect.
        XCTAssertGreaterThan(mean(ap), 0.3)
        XCTAssertLessThan(mean(ap), 0.99)
        XCTAssertLessThan(mean(recall), 1)
    }
}
