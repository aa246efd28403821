/// How a `Database` search runs: how many results, how many anchors to scan, which items.
public struct SearchOptions: Sendable, Equatable {
    /// How many partitions a routed search scans when the caller does not say.
    ///
    /// The paper routes to one anchor; radb scans 16 of the default model's 200 by default
    /// because a photo collection's images rarely sit near the Tiny ImageNet classes the anchors
    /// were learned on (with one anchor, recall of the exact top-100 on CIFAR-10 is only 0.28,
    /// RESULTS.md "Default model").
    public static let defaultNProbe = 16

    /// Which partitions to scan.
    public enum Probe: Sendable, Equatable {
        /// Every stored vector: the same ids in the same order as brute force.
        case exact
        /// The vectors under the `n` anchors nearest to the query (more if they hold fewer than k).
        case nearest(Int)
    }

    /// Number of results wanted (at least 1); fewer come back only when fewer items match.
    public var k: Int
    public var probe: Probe
    /// Restricts the results to matching items; empty = everything.
    public var filter: SearchFilter

    public init(k: Int = 10, probe: Probe = .nearest(SearchOptions.defaultNProbe), filter: SearchFilter = SearchFilter()) {
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
