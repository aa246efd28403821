import Dispatch
import Synchronization

/// Data-parallel loops for radb's numeric code, in one place.
///
/// Every parallel loop in radb runs through here so that Swift 6's strict concurrency checking
/// sees one rule: the body is `@Sendable`, and memory that several iterations write is handed over
/// as `DisjointRows` (each iteration writes only its own rows). `DispatchQueue.concurrentPerform`
/// returns only when every iteration has finished, so buffers borrowed for the loop outlive it.
public enum Parallel {
    /// Runs `body(i)` for `i` in `0..<iterations`, concurrently when `iterations > 1`.
    @inlinable
    public static func forEach(_ iterations: Int, _ body: @Sendable (Int) -> Void) {
        if iterations <= 1 {
            if iterations == 1 { body(0) }
        } else {
            DispatchQueue.concurrentPerform(iterations: iterations, execute: body)
        }
    }

    /// Runs `body(i)` for `i` in `0..<iterations`, concurrently, where `body` captures raw pointers.
    ///
    /// For numeric kernels whose iterations each write their own disjoint slice of buffers the
    /// caller owns for the duration of the call (rows of an output, one scratch buffer per lane) and
    /// only read everything else. The closure is not `@Sendable` because raw pointers are not; the
    /// caller takes on that proof obligation, stated at each call site. Prefer `forEach` with
    /// `DisjointRows` where the captures are few.
    @inlinable
    public static func forEachDisjoint(_ iterations: Int, _ body: (Int) -> Void) {
        if iterations <= 1 {
            if iterations == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = DisjointBody(body)
            DispatchQueue.concurrentPerform(iterations: iterations) { shared.body($0) }
        }
    }

    /// Runs `body(range, chunk)` over `chunks` contiguous ranges that cover `0..<count`,
    /// concurrently when there is more than one chunk; empty ranges are skipped.
    @inlinable
    public static func forEachChunk(of count: Int, chunks: Int,
                                    _ body: @Sendable (Range<Int>, Int) -> Void) {
        let n = max(1, min(chunks, count))
        if n == 1 {
            if count > 0 { body(0..<count, 0) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: n) { c in
            let lo = count * c / n, hi = count * (c + 1) / n
            if lo < hi { body(lo..<hi, c) }
        }
    }
}

/// The body of `Parallel.forEachDisjoint`, handed to the worker threads.
///
/// `@unchecked Sendable`: `forEachDisjoint` documents the contract its callers keep — iterations
/// write disjoint memory and mutate nothing else they capture — and the closure never outlives
/// the call (`concurrentPerform` returns after the last iteration).
@usableFromInline
struct DisjointBody: @unchecked Sendable {
    @usableFromInline let body: (Int) -> Void
    @usableFromInline init(_ body: @escaping (Int) -> Void) { self.body = body }
}

/// A mutable buffer shared by the iterations of one parallel loop, each of which writes only
/// elements no other iteration touches (its own rows).
///
/// `@unchecked Sendable` because a raw pointer carries no ownership: the proof is the loop's, not
/// the type's — disjoint writes (no data race) and a buffer that outlives the loop
/// (`Parallel.forEach` returns after every iteration). Create one only right around such a loop.
public struct DisjointRows<Element>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Element>
    @inlinable public init(_ base: UnsafeMutablePointer<Element>) { self.base = base }
    @inlinable public subscript(i: Int) -> Element {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
}

/// Read-only memory shared by the iterations of one parallel loop.
///
/// `@unchecked Sendable` because nobody writes the memory while the loop runs and the owner keeps
/// it alive until the loop returns (the same proof as `DisjointRows`, with no writes at all).
public struct SharedInput<Element>: @unchecked Sendable {
    public let base: UnsafePointer<Element>
    @inlinable public init(_ base: UnsafePointer<Element>) { self.base = base }
    @inlinable public subscript(i: Int) -> Element { base[i] }
}

/// A counter that parallel workers draw work items from (`0, 1, 2, …`), so that fast workers take
/// more items than slow ones. Sendable by construction: the count lives in a `Mutex`.
public final class WorkCounter: Sendable {
    private let next = Mutex(0)
    public init() {}
    /// The next unclaimed item number; every number is handed out once.
    public func claim() -> Int {
        next.withLock { value in
            defer { value += 1 }
            return value
        }
    }
}
