import Foundation

/// Reusable scratch memory for searching one query at a time: the anchor scores and probe order of
/// stage 1, the candidate heaps and chunk buffers of stage 2, the candidate list and top-k selector
/// of the exact re-scoring.
///
/// It exists because a routed single query on a 128-d index costs tens of microseconds, and setting
/// up fresh buffers, heaps and arrays for every query was a measurable share of that (see
/// BENCHMARKS.md). A context keeps them between searches and only grows them, so a steady stream of
/// queries allocates nothing but each result's hit array.
///
/// `AnchorIndex` keeps a `SearchContextPool` and takes a context from it for every single-query
/// search, so callers normally never see one; pass your own to
/// `AnchorIndex.search(_:k:nprobe:filter:filterStrategy:context:)` to pin one per thread.
///
///     let context = SearchContext()
///     for query in queries { hits.append(try index.search(query, k: 10, nprobe: 16, context: context).hits) }
///
/// A context serves one search at a time: a search that finds its context busy (another thread is
/// using it) throws `IndexError.contextInUse` instead of racing. Results never depend on what a
/// context was used for before: every search resets what it reads.
/// `@unchecked Sendable`: its scratch buffers are touched only inside `exclusively`, which takes
/// the `busy` lock with `try()` first and throws `contextInUse` when another thread holds it.
public final class SearchContext: @unchecked Sendable {
    // MARK: - Stage 1: anchors

    /// ‖aⱼ‖² − 2 q·aⱼ of the current query, one per anchor.
    var anchorScores = Scratch<Float>()
    /// Probed lists in anchor order (the first `probed` entries are in use).
    var probeOrder = Scratch<Int32>()
    var selectionScratch = Scratch<Float>()

    // MARK: - Stage 2: scan

    /// Every block scanned by the current search, in scan order (kept for a certification rescan;
    /// valid only during the search call).
    var blocks: [VectorBlock] = []
    /// One lane per piece of a split scan (lane 0 alone when the scan is serial).
    var lanes: [ScanLane] = []
    /// Lanes holding candidates of the current search.
    var lanesInUse = 0
    /// Largest squared norm of any vector scanned by the current search (for the rounding bound).
    var maxScannedNorm: Float = 0
    /// Candidates each lane keeps: k + max(8, k), as the batch path's heaps.
    var heapCapacity = 18

    // MARK: - Finish

    var candidates = Scratch<Candidate>()
    var selector = TopKSelector(validatedK: 1)

    /// Serialises use: a second concurrent search on this context fails instead of corrupting it.
    private let busy = NSLock()

    public init() {}

    /// Runs `body` with exclusive use of this context, or throws `IndexError.contextInUse`.
    package func exclusively<T>(_ body: () throws -> T) throws -> T {
        guard busy.try() else { throw IndexError.contextInUse }
        defer { busy.unlock() }
        return try body()
    }

    /// A heap candidate: its BLAS score, id, and where its vector lives.
    struct Candidate {
        var score: Float
        var id: UInt64
        var vector: UnsafePointer<Float>

        /// (score, id) order, the heaps' key.
        static func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
            a.score < b.score || (a.score == b.score && a.id < b.id)
        }
    }
}

/// The per-piece state of a single-query scan: a bounded candidate heap and the chunk buffers the
/// C scan kernel writes into. Pieces of a split scan run on different threads, each on its own lane.
final class ScanLane {
    /// Rows per call of the scan kernel once the heap is full: long enough for the kernel's four
    /// prefetch streams (measured 2–9 % faster than 512 at nprobe 16–64), while its output buffers
    /// (8 bytes a row) stay in L1; the threshold is refreshed between calls.
    static let chunk = 2048
    /// Rows per call while the heap still has room (every row passes an infinite threshold).
    static let firstChunk = 32

    let heap = CandidateHeaps(queryCount: 1, capacity: 1)
    let rows = UnsafeMutablePointer<UInt32>.allocate(capacity: ScanLane.chunk)
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: ScanLane.chunk)
    /// Vectors scored by this lane in the current search.
    var distanceComputations = 0

    deinit {
        rows.deallocate()
        scores.deallocate()
    }
}

/// A growable buffer that never shrinks: `ensure(n)` returns room for n elements, reallocating (and
/// dropping the old contents) only when n exceeds what it has. Elements are trivial types.
struct Scratch<Element> {
    private final class Storage {
        var pointer: UnsafeMutablePointer<Element>
        var capacity: Int
        init(_ capacity: Int) {
            self.capacity = capacity
            pointer = .allocate(capacity: capacity)
        }
        deinit { pointer.deallocate() }
    }

    private var storage = Storage(16)

    /// Room for at least `count` elements; contents are undefined after a reallocation.
    mutating func ensure(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > storage.capacity { storage = Storage(max(count, 2 * storage.capacity)) }
        return storage.pointer
    }

    var pointer: UnsafeMutablePointer<Element> { storage.pointer }
}
