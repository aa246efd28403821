import Foundation

/// A predicate over catalog rows, used to restrict a search to matching items.
///
/// Cases combine with `.all([...])` (AND). Example:
/// `.all([.labelIn(["cat", "dog"]), .addedAfter(lastWeek)])`.
public indirect enum CatalogFilter: Sendable, Equatable {
    case labelEquals(String)
    case labelIn(Set<String>)
    /// SQLite GLOB on the path: `*` any run, `?` one character, `[abc]` a class; case-sensitive.
    case pathGlob(String)
    case addedAfter(Date)
    case addedBefore(Date)
    case ids(Set<UInt64>)
    /// All conditions hold.
    case all([CatalogFilter])
}
