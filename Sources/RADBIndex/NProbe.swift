/// How many partitions a search scans: the `n` nearest to the query, or all of them (exact search).
///
/// It exists so "exact" is a value a caller can ask for, not a magic number: `.all` scans every
/// partition and returns exactly what brute force returns. An integer literal means `.count(n)`.
/// `.count(n)` with n < 1 is rejected (`IndexError.invalidProbeCount`); n ≥ the number of partitions
/// is clamped to `.all`.
public enum NProbe: Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    case all
    case count(Int)

    public init(integerLiteral value: Int) { self = .count(value) }

    public var description: String {
        switch self {
        case .all: return "all"
        case .count(let n): return "\(n)"
        }
    }

    /// The number of partitions to probe out of `listCount`, or nil for all of them.
    func resolved(listCount: Int) throws -> Int? {
        switch self {
        case .all: return nil
        case .count(let n):
            guard n >= 1 else { throw IndexError.invalidProbeCount(n) }
            return n >= listCount ? nil : n
        }
    }
}
