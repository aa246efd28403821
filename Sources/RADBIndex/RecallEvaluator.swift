import Foundation

/// Recall of routed search against exact search over a query set, with the cost of each.
///
/// It exists to answer "what does nprobe buy": the fraction of the exact top k that the routed
/// search finds, next to how many distances each computed and how long each took.
public struct RecallReport: Sendable, CustomStringConvertible {
    public let k: Int
    public let nprobe: NProbe
    public let queryCount: Int
    /// Mean over queries of |routed top k ∩ exact top k| / |exact top k|.
    public let recall: Double
    /// Per-query recall, in query order.
    public let perQuery: [Double]
    public let routedStats: SearchStats
    public let exactStats: SearchStats
    public let routedSeconds: Double
    public let exactSeconds: Double

    public var description: String {
        String(format: "recall@%d = %.4f at nprobe %@ over %d queries; distances %d vs %d exact (%.1f%%); %.3fs vs %.3fs",
               k, recall, nprobe.description, queryCount, routedStats.distanceComputations,
               exactStats.distanceComputations,
               100 * Double(routedStats.distanceComputations) / Double(max(1, exactStats.distanceComputations)),
               routedSeconds, exactSeconds)
    }
}

extension AnchorIndex {
    /// Measures recall@k of `nprobe` against exact search for `queries` (row-major), both run as batches.
    /// Throws what `search(batch:…)` throws.
    public func recall(queries: [Float], k: Int, nprobe: NProbe, filter: IDFilter? = nil) throws -> RecallReport {
        let clock = ContinuousClock()
        let exactStart = clock.now
        let exact = try search(batch: queries, k: k, nprobe: .all, filter: filter, filterStrategy: .scanPartitions)
        let exactTime = clock.now - exactStart
        let routedStart = clock.now
        let routed = try search(batch: queries, k: k, nprobe: nprobe, filter: filter, filterStrategy: .scanPartitions)
        let routedTime = clock.now - routedStart
        let perQuery = zip(exact.hits, routed.hits).map { truth, found -> Double in
            guard !truth.isEmpty else { return 1 }
            let wanted = Set(truth.map(\.id))
            return Double(found.filter { wanted.contains($0.id) }.count) / Double(truth.count)
        }
        return RecallReport(k: k, nprobe: nprobe, queryCount: perQuery.count,
                            recall: perQuery.isEmpty ? 1 : perQuery.reduce(0, +) / Double(perQuery.count),
                            perQuery: perQuery, routedStats: routed.stats, exactStats: exact.stats,
                            routedSeconds: routedTime.seconds, exactSeconds: exactTime.seconds)
    }
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) * 1e-18
    }
}
