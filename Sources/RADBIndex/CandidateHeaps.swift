import CKernels

/// One bounded max-heap of scored candidates per query, in flat buffers, owned by one worker.
///
/// It exists because the scan loop offers millions of scores per query and must reject almost all
/// of them with a single comparison against `thresholds[q]` (the worst kept score once the heap is
/// full, +∞ before). Keys are (BLAS score, id); each entry also keeps a pointer to its vector so
/// the winners can be re-scored exactly without looking them up again.
///
/// A `SearchContext` keeps its heaps between searches and `reset`s them, so a steady stream of
/// single queries allocates nothing here.
final class CandidateHeaps {
    private(set) var queryCount: Int
    private(set) var capacity: Int
    private(set) var scores: UnsafeMutablePointer<Float>
    private(set) var ids: UnsafeMutablePointer<UInt64>
    private(set) var vectors: UnsafeMutablePointer<UnsafePointer<Float>>
    private(set) var counts: UnsafeMutablePointer<Int>
    /// Worst kept score of each full heap; +∞ while a heap has room.
    private(set) var thresholds: UnsafeMutablePointer<Float>
    /// Entries and queries the buffers have room for.
    private var entryRoom: Int
    private var queryRoom: Int

    init(queryCount: Int, capacity: Int) {
        self.queryCount = queryCount
        self.capacity = capacity
        entryRoom = max(1, queryCount * capacity)
        queryRoom = max(1, queryCount)
        scores = .allocate(capacity: entryRoom)
        ids = .allocate(capacity: entryRoom)
        vectors = .allocate(capacity: entryRoom)
        counts = .allocate(capacity: queryRoom)
        counts.initialize(repeating: 0, count: queryRoom)
        thresholds = .allocate(capacity: queryRoom)
        thresholds.initialize(repeating: .infinity, count: queryRoom)
    }

    /// Empties every heap for a new search of `queryCount` queries keeping `capacity` candidates
    /// each; reallocates only when the buffers are too small.
    func reset(queryCount: Int, capacity: Int) {
        if queryCount * capacity > entryRoom {
            scores.deallocate(); ids.deallocate(); vectors.deallocate()
            entryRoom = queryCount * capacity
            scores = .allocate(capacity: entryRoom)
            ids = .allocate(capacity: entryRoom)
            vectors = .allocate(capacity: entryRoom)
        }
        if queryCount > queryRoom {
            counts.deallocate(); thresholds.deallocate()
            queryRoom = queryCount
            counts = .allocate(capacity: queryRoom)
            thresholds = .allocate(capacity: queryRoom)
        }
        self.queryCount = queryCount
        self.capacity = capacity
        counts.initialize(repeating: 0, count: queryCount)
        thresholds.initialize(repeating: .infinity, count: queryCount)
    }

    deinit {
        scores.deallocate(); ids.deallocate(); vectors.deallocate()
        counts.deallocate(); thresholds.deallocate()
    }

    /// Whether heap `q` is full (so it may have dropped candidates).
    func isFull(_ q: Int) -> Bool { counts[q] == capacity }

    /// Offers a candidate to heap `q`. Callers pre-filter with `score <= thresholds[q]`.
    @inline(__always)
    func offer(_ q: Int, score: Float, id: UInt64, vector: UnsafePointer<Float>) {
        let base = q * capacity
        let s = scores + base, i = ids + base, v = vectors + base
        let n = counts[q]
        if n < capacity {
            // Append and sift up.
            var child = n
            while child > 0 {
                let parent = (child - 1) >> 1
                guard Self.precedes(s[parent], i[parent], score, id) else { break }
                s[child] = s[parent]; i[child] = i[parent]; v[child] = v[parent]
                child = parent
            }
            s[child] = score; i[child] = id; v[child] = vector
            counts[q] = n + 1
            if n + 1 == capacity { thresholds[q] = s[0] }
            return
        }
        guard Self.precedes(score, id, s[0], i[0]) else { return }
        // Replace the root and sift down.
        var parent = 0
        while true {
            let left = 2 * parent + 1
            if left >= n { break }
            var larger = left
            let right = left + 1
            if right < n && Self.precedes(s[left], i[left], s[right], i[right]) { larger = right }
            guard Self.precedes(score, id, s[larger], i[larger]) else { break }
            s[parent] = s[larger]; i[parent] = i[larger]; v[parent] = v[larger]
            parent = larger
        }
        s[parent] = score; i[parent] = id; v[parent] = vector
        thresholds[q] = s[0]
    }

    /// Offers the `found` rows a scan kernel returned (`rows` index `ids` and the row-major
    /// `vectors`) to heap `q` — the same as calling `offer` for each, in C, for unfiltered scans.
    @inline(__always)
    func offerRows(_ q: Int, rows: UnsafePointer<UInt32>, scores rowScores: UnsafePointer<Float>, found: Int,
                   ids rowIDs: UnsafePointer<UInt64>, vectors rowVectors: UnsafePointer<Float>, dimension: Int) {
        let base = q * capacity
        let heapVectors = UnsafeMutableRawPointer(vectors + base).assumingMemoryBound(to: UnsafePointer<Float>?.self)
        (counts + q).withMemoryRebound(to: Int64.self, capacity: 1) { count in
            radb_heap_offer_rows(scores + base, ids + base, heapVectors, count, Int64(capacity), thresholds + q,
                                 rows, rowScores, found, rowIDs, rowVectors, dimension)
        }
    }

    /// (a, idA) ranks before (b, idB).
    @inline(__always)
    static func precedes(_ a: Float, _ idA: UInt64, _ b: Float, _ idB: UInt64) -> Bool {
        a < b || (a == b && idA < idB)
    }
}
