/// One search result: a stored vector's id and its exact squared L2 distance to the query.
///
/// Results are always ordered by `(distance, id)` ascending, so equal distances come back in id
/// order and a search is reproducible bit for bit.
public struct SearchHit: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let id: UInt64
    /// Exact squared L2 distance (see `L2Kernels.exactSquaredDistance`).
    public let distance: Float

    public init(id: UInt64, distance: Float) {
        self.id = id
        self.distance = distance
    }

    /// The total order radb ranks by: distance, then id.
    @inlinable
    public static func precedes(_ a: SearchHit, _ b: SearchHit) -> Bool {
        a.distance < b.distance || (a.distance == b.distance && a.id < b.id)
    }

    public var description: String { "#\(id) d²=\(distance)" }
}
