/// Retrieval quality of one embedding on one dataset, measured with the paper's protocol
/// (DESIGN §5): database = training split, queries = test split, relevant = same class.
public struct EvaluationReport: Sendable, Codable, Equatable {
    public var queryCount: Int
    public var databaseCount: Int
    /// Mean average precision over the full ranking of the database.
    public var meanAveragePrecision: Double
    public var precisionAt10: Double
    public var precisionAt100: Double
    /// Fraction of queries whose nearest anchor is their own class's anchor.
    public var anchorAccuracy: Double?
    /// The two-stage search (nprobe nearest anchors, then exact L2 over their partitions).
    public var twoStage: TwoStageReport?

    /// Two-stage search against exact search on the same queries.
    public struct TwoStageReport: Sendable, Codable, Equatable {
        public var nprobe: Int
        /// mAP of the two-stage ranking: probed partitions first by distance, then the rest by (anchor rank, distance).
        public var meanAveragePrecision: Double
        /// Mean fraction of the exact top-k found in the two-stage top-k.
        public var recallOfExactTopK: Double
        public var k: Int
        /// Mean distance computations per query (anchors + scanned vectors) vs the database size.
        public var distanceComputations: Double
        public var exactDistanceComputations: Double
        /// Mean single-threaded wall time per query, microseconds (distances + top-k).
        public var queryMicroseconds: Double
        public var exactQueryMicroseconds: Double

        public var distanceReduction: Double { exactDistanceComputations / max(distanceComputations, 1) }
        public var speedup: Double { exactQueryMicroseconds / max(queryMicroseconds, 1e-9) }
    }
}

extension EvaluationReport: CustomStringConvertible {
    public var description: String {
        var s = "queries \(queryCount), database \(databaseCount): mAP \(fmt(meanAveragePrecision)), P@10 \(fmt(precisionAt10)), P@100 \(fmt(precisionAt100))"
        if let a = anchorAccuracy { s += ", anchor accuracy \(fmt(a))" }
        if let t = twoStage {
            s += "\n  two-stage (nprobe \(t.nprobe)): mAP \(fmt(t.meanAveragePrecision)), recall@\(t.k) of exact \(fmt(t.recallOfExactTopK)), "
            s += "\(fmt(t.distanceComputations, 0)) vs \(fmt(t.exactDistanceComputations, 0)) distances/query (\(fmt(t.distanceReduction, 1))× fewer), "
            s += "\(fmt(t.queryMicroseconds, 1)) µs vs \(fmt(t.exactQueryMicroseconds, 1)) µs/query (\(fmt(t.speedup, 1))× faster)"
        }
        return s
    }
}

func fmt(_ x: Double, _ digits: Int = 4) -> String {
    String(format: "%.\(digits)f", x)
}

import Foundation
