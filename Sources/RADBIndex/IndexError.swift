/// The one error type of RADBIndex.
///
/// It exists so that every way a caller can misuse the search engine — a wrong vector length, a
/// NaN in a query, a `k` of zero — is reported as a value the caller can match on, with a message
/// that says what was wrong and what to do, instead of a crash.
public enum IndexError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `k` must be at least 1.
    case invalidK(Int)
    /// `nprobe` must be at least 1 (values above the anchor count are clamped to "all").
    case invalidProbeCount(Int)
    /// A vector (query, anchor, training vector) has the wrong number of components.
    case dimensionMismatch(what: String, expected: Int, actual: Int)
    /// A vector holds NaN or ±Inf; `index` is the position of the first bad component in the buffer.
    case nonFiniteValue(what: String, index: Int)
    /// The router has no anchors, or was asked for more anchors than it can train.
    case invalidAnchors(String)
    /// The router and the inverted lists disagree (anchor count vs list count, or dimension).
    case layoutMismatch(String)
    /// A parameter outside its documented range (batch size, iteration count, sample size…).
    case invalidArgument(String)
    /// A long operation was cancelled by its progress callback.
    case cancelled(String)
    /// A `SearchContext` was passed to a search while another search was still using it.
    case contextInUse

    public var description: String {
        switch self {
        case .invalidK(let k):
            return "k = \(k) is not a valid result count: ask for at least 1 result (k ≥ 1)."
        case .invalidProbeCount(let n):
            return "nprobe = \(n) is not valid: probe at least 1 partition, or use .all for exact search."
        case .dimensionMismatch(let what, let expected, let actual):
            return "\(what) has \(actual) components but this index holds \(expected)-dimensional vectors: "
                + "embed it with the same model that built the index."
        case .nonFiniteValue(let what, let index):
            return "\(what) contains NaN or infinity at component \(index): such vectors cannot be ranked; "
                + "check the embedder's input or drop this vector."
        case .invalidAnchors(let message):
            return "invalid anchors: \(message)"
        case .layoutMismatch(let message):
            return "router and inverted lists do not fit together: \(message)"
        case .invalidArgument(let message):
            return "invalid argument: \(message)"
        case .cancelled(let operation):
            return "\(operation) was cancelled by its caller; nothing was changed."
        case .contextInUse:
            return "this SearchContext is being used by another search: give each thread its own context, "
                + "or call search without a context (the index then takes one from its pool)."
        }
    }
}

extension IndexError {
    /// Rejects a buffer whose length is not `count × dimension`, or that holds a non-finite value.
    static func validate(_ values: UnsafeBufferPointer<Float>, count: Int, dimension: Int, what: String) throws {
        if count == 1 && values.count != dimension {
            throw IndexError.dimensionMismatch(what: what, expected: dimension, actual: values.count)
        }
        if values.count != count * dimension {
            throw IndexError.dimensionMismatch(
                what: "\(what) (\(values.count) floats for \(count) vectors)", expected: dimension,
                actual: count == 0 ? values.count : values.count / max(count, 1))
        }
        // A NaN or Inf anywhere makes the sum non-finite; the per-element loop only runs to locate it.
        var sum: Float = 0
        for v in values { sum += v * 0 }
        if !sum.isFinite || sum != 0 {
            for (i, v) in values.enumerated() where !v.isFinite {
                throw IndexError.nonFiniteValue(what: what, index: i)
            }
        }
    }
}
