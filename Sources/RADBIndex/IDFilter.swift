/// A search restriction already resolved to the set of allowed ids.
///
/// The catalog turns a predicate (label in set, path glob, date range…) into ids; the engine only
/// needs membership. It exists so filtered search can both test membership in O(1) while scanning
/// partitions (a bitmap when ids are dense, a hash set otherwise) and enumerate the ids to score
/// them directly when the filter is selective.
public struct IDFilter: Sendable {
    /// The allowed ids, sorted ascending, without duplicates.
    public let ids: [UInt64]
    private let membership: Membership

    private enum Membership: Sendable {
        case bitmap([UInt64])
        case hashed(Set<UInt64>)
    }

    /// Builds a filter from any ids (duplicates are ignored).
    public init<S: Sequence>(_ ids: S) where S.Element == UInt64 {
        var sorted = Array(ids)
        sorted.sort()
        var unique: [UInt64] = []
        unique.reserveCapacity(sorted.count)
        for id in sorted where unique.last != id { unique.append(id) }
        self.ids = unique
        // Dense ids (bitmap ≤ 64 bytes per allowed id, or ≤ 8 KiB): one bit per possible id.
        let maxID = unique.last ?? 0
        let words = maxID / 64 + 1
        if words <= UInt64(max(8 * unique.count, 1024)) {
            var bits = [UInt64](repeating: 0, count: Int(words))
            for id in unique { bits[Int(id / 64)] |= 1 << (id % 64) }
            membership = .bitmap(bits)
        } else {
            membership = .hashed(Set(unique))
        }
    }

    /// Number of allowed ids.
    public var count: Int { ids.count }

    /// Whether `id` is allowed.
    @inline(__always)
    public func contains(_ id: UInt64) -> Bool {
        switch membership {
        case .bitmap(let bits):
            let word = id / 64
            return word < UInt64(bits.count) && bits[Int(word)] & (1 << (id % 64)) != 0
        case .hashed(let set):
            return set.contains(id)
        }
    }
}

/// How a filtered search reaches the matching vectors.
public enum FilterStrategy: Sendable, Equatable {
    /// Score matches directly when that is estimated cheaper than scanning (the default).
    case automatic
    /// Scan the probed partitions and skip non-matching ids (continuing to further partitions
    /// until k matches are found or all partitions are scanned).
    case scanPartitions
    /// Fetch the matching vectors by id (`InvertedLists.gatherVectors`) and score them all — exact
    /// among the matches regardless of `nprobe`.
    case scoreMatchesDirectly
}
