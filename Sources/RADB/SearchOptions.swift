/// How a `Database` search runs: how many results, how many anchors to scan, which items.
public struct SearchOptions: Sendable, Equatable {
    /// The recall of the exact top 10 that an automatic search aims for on collections
    /// partitioned by k-means (or by anchors learned elsewhere).
    public static let defaultRecall = 0.95

    /// Which partitions to scan.
    public enum Probe: Sendable, Equatable {
        /// What measures best for the database's anchors (the default): the paper's two-stage
        /// search (the nearest class anchor's items first) when learning in place measured it
        /// better than exact ranking; else the fewest partitions reaching `defaultRecall`.
        case automatic
        /// Every stored vector: the same ids in the same order as brute force.
        case exact
        /// The vectors under the `n` anchors nearest to the query (more if they hold fewer than k).
        case nearest(Int)
        /// The fewest nearest partitions whose recall of the exact top 10, measured on this
        /// collection's own vectors, reaches the target (0 < target ≤ 1).
        case recall(Double)
    }

    /// Number of results wanted (at least 1); fewer come back only when fewer items match.
    public var k: Int
    public var probe: Probe
    /// Restricts the results to matching items; empty = everything.
    public var filter: SearchFilter

    public init(k: Int = 10, probe: Probe = .automatic, filter: SearchFilter = SearchFilter()) {
        self.k = k
        self.probe = probe
        self.filter = filter
    }
}

/// One match of a `Database` search: which stored image, how far from the query, and its
/// catalog metadata. Results are ranked by (distance, id).
public struct SearchMatch: Sendable, Equatable {
    /// 1-based position in the ranking.
    public var rank: Int
    public var id: UInt64
    /// Exact squared L2 distance between the query and the stored vector.
    public var distance: Float
    /// Path the image was ingested from (or given at import).
    public var path: String
    public var label: String?
}
