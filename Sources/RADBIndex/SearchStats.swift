/// What a search did, counted — so a caller (and the evaluation) can show that routed search
/// computed fewer distances than exact search, and how often the rounding certificate needed a rescan.
public struct SearchStats: Sendable, Equatable, CustomStringConvertible {
    /// Query-to-anchor distances computed in stage 1 (0 for exact search).
    public var anchorDistanceComputations = 0
    /// Query-to-vector distances computed in stage 2 (scored vectors, including rescans and direct scoring).
    public var distanceComputations = 0
    /// (query, partition) pairs scanned.
    public var partitionsScanned = 0
    /// Queries whose top k could not be certified from the BLAS scores alone (near-ties within the
    /// rounding bound, e.g. duplicates) and were finished by a second, thresholded pass.
    public var certificationRescans = 0
    /// Queries answered by scoring a filter's matching ids directly instead of scanning partitions.
    public var directlyScoredQueries = 0
    /// Number of vectors in the index when searched (for ratios against exact search).
    public var indexedVectors = 0

    public init() {}

    public var description: String {
        "anchors=\(anchorDistanceComputations) distances=\(distanceComputations) partitions=\(partitionsScanned) "
            + "rescans=\(certificationRescans) direct=\(directlyScoredQueries) of \(indexedVectors) vectors"
    }

    mutating func add(_ other: SearchStats) {
        anchorDistanceComputations += other.anchorDistanceComputations
        distanceComputations += other.distanceComputations
        partitionsScanned += other.partitionsScanned
        certificationRescans += other.certificationRescans
        directlyScoredQueries += other.directlyScoredQueries
    }
}

/// The answer to one query: its hits in ranking order and what it cost.
public struct SearchResult: Sendable, Equatable {
    /// At most k hits ordered by (distance, id); fewer only when fewer vectors (or filter matches) exist.
    public let hits: [SearchHit]
    public let stats: SearchStats
}

/// The answer to a batch of queries: one hit list per query, in query order, and the summed cost.
public struct BatchSearchResult: Sendable, Equatable {
    public let hits: [[SearchHit]]
    public let stats: SearchStats
}
