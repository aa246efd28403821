import CKernels

/// One bounded max-heap of scored candidates per query, in flat buffers, owned by one worker
/// (entries are added by the C kernel `radb_heap_offer_rows`, which keeps the heap order).
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

    /// Offers the `found` rows a scan kernel returned (`rows` index `ids` and the row-major
    /// `vectors`) to heap `q` (C `radb_heap_offer_rows`: rows over the threshold are skipped, equal
    /// scores keep the smaller id). With a filter, rows whose id it rejects are first dropped from
    /// `rows`/`scores` in place.
    @inline(__always)
    func offerRows(_ q: Int, rows: UnsafeMutablePointer<UInt32>, scores rowScores: UnsafeMutablePointer<Float>,
                   found: Int, ids rowIDs: UnsafePointer<UInt64>, vectors rowVectors: UnsafePointer<Float>,
                   dimension: Int, filter: IDFilter?) {
        var found = found
        if let filter {
            var kept = 0
            for f in 0..<found where filter.contains(rowIDs[Int(rows[f])]) {
                rows[kept] = rows[f]
                rowScores[kept] = rowScores[f]
                kept += 1
            }
            found = kept
        }
        let base = q * capacity
        let heapVectors = UnsafeMutableRawPointer(vectors + base).assumingMemoryBound(to: UnsafePointer<Float>?.self)
        (counts + q).withMemoryRebound(to: Int64.self, capacity: 1) { count in
            radb_heap_offer_rows(scores + base, ids + base, heapVectors, count, Int64(capacity), thresholds + q,
                                 rows, rowScores, found, rowIDs, rowVectors, dimension)
        }
    }
}
