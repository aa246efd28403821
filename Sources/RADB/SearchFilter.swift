import Foundation

/// A restriction of a search to catalog rows that match every given condition.
///
/// It exists so that "the ten most similar images *among the cats added this year*" is one
/// search, not a search followed by a post-filter that can come back short: the engine
/// resolves the filter to the matching ids first and still returns `k` results whenever at
/// least `k` items match. All set conditions are combined with AND; an empty filter matches
/// everything.
public struct SearchFilter: Sendable, Equatable {
    /// Keep items whose label is one of these (one element = "label equals").
    public var labels: Set<String>?
    /// Keep items whose stored path matches this SQLite GLOB pattern (`*`, `?`, `[...]`).
    public var pathGlob: String?
    /// Keep items added at or after this instant.
    public var addedAfter: Date?
    /// Keep items added strictly before this instant.
    public var addedBefore: Date?
    /// Keep only these ids.
    public var ids: Set<UInt64>?

    public init(labels: Set<String>? = nil, pathGlob: String? = nil, addedAfter: Date? = nil,
                addedBefore: Date? = nil, ids: Set<UInt64>? = nil) {
        self.labels = labels
        self.pathGlob = pathGlob
        self.addedAfter = addedAfter
        self.addedBefore = addedBefore
        self.ids = ids
    }

    /// True when no condition is set.
    public var isEmpty: Bool {
        labels == nil && pathGlob == nil && addedAfter == nil && addedBefore == nil && ids == nil
    }
}
