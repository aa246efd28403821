import Foundation

/// A thread-safe free list of `SearchContext`s.
///
/// It exists so that `AnchorIndex.search` can reuse scratch memory across calls without the caller
/// managing contexts, and without global or thread-local state: a search takes a context (or makes
/// one when all are busy), and gives it back when done. Concurrent searches each get their own.
/// Copies of an index share its pool; several indexes may share one (pass it to `AnchorIndex.init`).
/// `@unchecked Sendable`: the free list is read and written only under its lock; a context
/// handed out is owned by one search until it is given back.
public final class SearchContextPool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [SearchContext] = []
    /// Contexts kept when returned; more concurrent searches than this make and drop extra ones.
    public let capacity: Int

    /// - Parameter capacity: how many idle contexts to keep (default: 2 per active processor).
    public init(capacity: Int = 2 * ProcessInfo.processInfo.activeProcessorCount) {
        self.capacity = max(1, capacity)
        free.reserveCapacity(self.capacity)
    }

    /// An idle context, or a new one.
    public func acquire() -> SearchContext {
        lock.lock()
        defer { lock.unlock() }
        return free.popLast() ?? SearchContext()
    }

    /// Returns a context taken with `acquire` (kept if there is room).
    public func release(_ context: SearchContext) {
        lock.lock()
        defer { lock.unlock() }
        if free.count < capacity { free.append(context) }
    }

    /// Number of idle contexts held.
    public var idleCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return free.count
    }
}
