import CKernels

/// Stage 2 of a search: scores a batch of queries against the partitions each one probes and
/// keeps the k nearest per query, with exact distances.
///
/// How it works (and why):
/// 1. Work is cut into `ScanTask`s — a run of ≤ `taskVectors` vectors of one partition plus the
///    queries that probe it — and spread over workers by cost (LPT), so one partition is read once
///    per batch and scored for all its queries with one GEMM (a task of ≤ 4 queries streams each query
///    through the fused C scan kernel instead). Single queries do not come here: `SearchContext` runs them.
/// 2. Each worker keeps `CandidateHeaps` of `k + slack` candidates per query keyed by the BLAS
///    score ‖x‖² + ‖q‖² − 2q·x; nothing is copied, candidates point into the blocks.
/// 3. `finish` re-scores the candidates exactly, then *certifies* the top k: every vector a heap
///    dropped scored ≥ that heap's worst score S, so its exact distance is ≥ S − ε (ε =
///    `L2Kernels.roundingBound`). If S − ε > T, the k-th exact distance, nothing dropped can
///    belong to the top k. Otherwise (near-ties within ε, e.g. duplicates) the query's tasks are
///    rescanned collecting every vector scoring ≤ T + ε — a superset of the true top k.
/// So the result equals brute force over the scanned vectors, in (distance, id) order.
final class PartitionScanner {
    /// A run of vectors of one partition and the queries that score it.
    struct ScanTask {
        var blocks: [VectorBlock]
        /// Indices into the query batch, ascending.
        var queries: [Int32]
        var vectorCount: Int
        /// True when `queries` is the whole batch in order (no need to gather query rows).
        var allQueries: Bool
    }

    let dimension: Int
    let k: Int
    let queryBase: UnsafePointer<Float>
    let queryCount: Int
    let queryNorms: [Float]
    let filter: IDFilter?
    let workerCount: Int
    /// Vectors per task: small enough to balance workers, large enough for efficient GEMMs.
    static let taskVectors = 4096

    private var heaps: [CandidateHeaps]
    // Per-worker accumulators in raw storage: workers write their own slot concurrently, which a
    // Swift array (copy-on-write buffer) does not allow.
    private let workerStats: UnsafeMutablePointer<SearchStats>
    private let workerMaxNorm: UnsafeMutablePointer<Float>
    /// Every task scanned so far (kept for certification rescans).
    private(set) var tasks: [ScanTask] = []

    init(dimension: Int, k: Int, queries: UnsafePointer<Float>, queryCount: Int, queryNorms: [Float],
         filter: IDFilter?, workerCount: Int) {
        self.dimension = dimension
        self.k = k
        self.queryBase = queries
        self.queryCount = queryCount
        self.queryNorms = queryNorms
        self.filter = filter
        self.workerCount = max(1, workerCount)
        let capacity = k + max(8, k)
        heaps = (0..<self.workerCount).map { _ in CandidateHeaps(queryCount: queryCount, capacity: capacity) }
        workerStats = .allocate(capacity: self.workerCount)
        workerStats.initialize(repeating: SearchStats(), count: self.workerCount)
        workerMaxNorm = .allocate(capacity: self.workerCount)
        workerMaxNorm.initialize(repeating: 0, count: self.workerCount)
    }

    deinit {
        workerStats.deinitialize(count: workerCount)
        workerStats.deallocate()
        workerMaxNorm.deallocate()
    }

    /// Largest squared norm of any vector scanned so far.
    private var maxScannedNorm: Float {
        var m: Float = 0
        for w in 0..<workerCount { m = max(m, workerMaxNorm[w]) }
        return m
    }

    // MARK: - Planning

    /// Cuts partition `list` into tasks for `queries` (ascending indices).
    static func tasks<L: InvertedLists>(ofList list: Int, in lists: L, queries: [Int32], queryCount: Int,
                                        dimension: Int) throws -> [ScanTask] {
        var result: [ScanTask] = []
        let all = queries.count == queryCount
        var current = ScanTask(blocks: [], queries: queries, vectorCount: 0, allQueries: all)
        try lists.forEachBlock(ofList: list) { block in
            // A block of another width would be read out of bounds: refuse it (a damaged or foreign store).
            guard block.vectors.count == block.count * dimension else {
                throw IndexError.layoutMismatch(
                    "list \(list) holds a block of \(block.vectors.count) floats for \(block.count) vectors, "
                        + "expected dimension \(dimension); check the store with `radb check`")
            }
            var start = 0
            while start < block.count {
                let room = taskVectors - current.vectorCount
                let n = min(room, block.count - start)
                current.blocks.append(block.slice(start, n, dimension: dimension))
                current.vectorCount += n
                start += n
                if current.vectorCount == taskVectors {
                    result.append(current)
                    current = ScanTask(blocks: [], queries: queries, vectorCount: 0, allQueries: all)
                }
            }
        }
        if current.vectorCount > 0 { result.append(current) }
        return result
    }

    // MARK: - Scanning

    /// Scans `newTasks` into the heaps, spread over the workers; may be called again with more tasks
    /// (later rounds of a filtered search) before `finish`.
    func scan(_ newTasks: [ScanTask], parallelism: Parallelism) {
        guard !newTasks.isEmpty else { return }
        let costs = newTasks.map { $0.vectorCount * $0.queries.count }
        let totalCost = costs.reduce(0, +)
        // Below ~256k multiply-adds per worker, dispatch overhead outweighs the parallel speed-up.
        let useful = max(1, min(workerCount, totalCost * dimension / (1 << 18)))
        let bins = balancedAssignment(costs: costs, workers: min(useful, newTasks.count))
        let workers = bins.count
        let d = dimension
        let maxQueries = newTasks.reduce(0) {
            max($0, $1.allQueries || $1.queries.count <= Self.streamingQueries ? 0 : $1.queries.count)
        }
        parallelism.run(workers) { worker in
            let heap = self.heaps[worker]
            var stats = SearchStats()
            var maxNorm = self.workerMaxNorm[worker]
            let gathered = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxQueries * d))
            defer { gathered.deallocate() }
            let widest = newTasks.reduce(1) { max($0, $1.queries.count * $1.vectorCount) }
            // Up to 16 MiB of scores per worker, so a 1000-query batch multiplies ≥ 4096-vector panels
            // per GEMM call (smaller panels re-pack the query matrix too often).
            let scoreCapacity = max(ScanLane.chunk, min(1 << 22, widest))
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: scoreCapacity)
            defer { scores.deallocate() }
            let candidateRows = UnsafeMutablePointer<UInt32>.allocate(capacity: ScanLane.chunk)
            defer { candidateRows.deallocate() }
            let candidateScores = UnsafeMutablePointer<Float>.allocate(capacity: ScanLane.chunk)
            defer { candidateScores.deallocate() }
            self.queryNorms.withUnsafeBufferPointer { qNorms in
                for t in bins[worker] {
                    let task = newTasks[t]
                    let m = task.queries.count
                    if m <= Self.streamingQueries {
                        // A few queries: stream each over the blocks with the single-query kernel, which
                        // returns only rows under the heap's threshold (GEMM would spend more packing).
                        for block in task.blocks {
                            maxNorm = max(maxNorm, block.maxSquaredNorm)
                            for q in task.queries {
                                let q = Int(q)
                                self.scanBelow(block, query: self.queryBase + q * d, qn: qNorms[q], q: q, heap: heap,
                                               rows: candidateRows, scores: candidateScores)
                            }
                            stats.distanceComputations += m * block.count
                        }
                        continue
                    }
                    let qRows: UnsafePointer<Float>
                    if task.allQueries {
                        qRows = self.queryBase
                    } else {
                        for (r, q) in task.queries.enumerated() {
                            (gathered + r * d).update(from: self.queryBase + Int(q) * d, count: d)
                        }
                        qRows = UnsafePointer(gathered)
                    }
                    let chunk = max(1, scoreCapacity / m)
                    for block in task.blocks {
                        maxNorm = max(maxNorm, block.maxSquaredNorm)
                        var start = 0
                        while start < block.count {
                            let n = min(chunk, block.count - start)
                            let rows = block.vectors.baseAddress! + start * d
                            L2Kernels.minusTwoDotProducts(queries: qRows, m: m, rows: rows, n: n, dimension: d,
                                                          into: scores)
                            stats.distanceComputations += m * n
                            self.collect(scores: scores, m: m, n: n, block: block, start: start,
                                         queries: task.queries, qNorms: qNorms.baseAddress!, heap: heap,
                                         candidateRows: candidateRows, candidateScores: candidateScores)
                            start += n
                        }
                    }
                }
            }
            self.workerStats[worker].add(stats)
            self.workerMaxNorm[worker] = maxNorm
        }
        tasks.append(contentsOf: newTasks)
    }

    /// Tasks with at most this many queries are streamed query by query (`scanBelow`).
    static let streamingQueries = 4

    /// Offers the rows of `block` that score under heap `q`'s threshold, `ScanLane.chunk` rows per
    /// kernel call (C `radb_scan_below`; the threshold is refreshed between calls).
    @inline(__always)
    private func scanBelow(_ block: VectorBlock, query: UnsafePointer<Float>, qn: Float, q: Int, heap: CandidateHeaps,
                           rows: UnsafeMutablePointer<UInt32>, scores: UnsafeMutablePointer<Float>) {
        let d = dimension
        let ids = block.ids.baseAddress!, norms = block.squaredNorms.baseAddress!
        let vectors = block.vectors.baseAddress!
        var start = 0
        while start < block.count {
            let len = min(block.count - start, heap.isFull(q) ? ScanLane.chunk : ScanLane.firstChunk)
            let found = radb_scan_below(query, qn, vectors + start * d, norms + start, ids + start, len, d,
                                        heap.thresholds[q], rows, scores)
            heap.offerRows(q, rows: rows, scores: scores, found: found, ids: ids + start,
                           vectors: vectors + start * d, dimension: d, filter: filter)
            start += len
        }
    }

    /// Offers the scores of rows `start..<start+n` of `block` (an m × n matrix of −2q·x) to the heaps:
    /// the C kernel `radb_scores_below` picks the rows under a heap's threshold, `ScanLane.chunk` at a
    /// time, so the threshold is refreshed as the heap tightens.
    @inline(__always)
    private func collect(scores: UnsafeMutablePointer<Float>, m: Int, n: Int, block: VectorBlock, start: Int,
                         queries: [Int32], qNorms: UnsafePointer<Float>, heap: CandidateHeaps,
                         candidateRows: UnsafeMutablePointer<UInt32>, candidateScores: UnsafeMutablePointer<Float>) {
        let norms = block.squaredNorms.baseAddress! + start
        let ids = block.ids.baseAddress! + start
        let rows = block.vectors.baseAddress! + start * dimension
        let d = dimension
        queries.withUnsafeBufferPointer { queryIndices in
            for r in 0..<m {
                let q = Int(queryIndices[r])
                let qn = qNorms[q]
                let row = scores + r * n
                var sub = 0
                while sub < n {
                    let len = min(ScanLane.chunk, n - sub)
                    let found = radb_scores_below(row + sub, norms + sub, qn, len, heap.thresholds[q], candidateRows,
                                                  candidateScores)
                    heap.offerRows(q, rows: candidateRows, scores: candidateScores, found: found, ids: ids + sub,
                                   vectors: rows + sub * d, dimension: d, filter: filter)
                    sub += len
                }
            }
        }
    }

    // MARK: - Results

    /// Number of candidates kept for query `q` over all workers (= matches scanned, when below k).
    func candidateCount(_ q: Int) -> Int {
        heaps.reduce(0) { $0 + $1.counts[q] }
    }

    /// Summed statistics of everything scanned so far.
    var stats: SearchStats {
        var total = SearchStats()
        for w in 0..<workerCount { total.add(workerStats[w]) }
        return total
    }

    /// The certified top k of query `q`, ordered by (exact distance, id).
    ///
    /// Candidates are re-scored exactly in BLAS-score order, stopping at the first whose score − ε
    /// exceeds the current k-th exact distance T (it, and every later one, has exact distance > T);
    /// usually only a little more than k exact distances are computed.
    func finish(_ q: Int, stats: inout SearchStats) -> [SearchHit] {
        let d = dimension
        let query = queryBase + q * d
        var candidates: [(score: Float, id: UInt64, vector: UnsafePointer<Float>)] = []
        var dropBound = Float.infinity
        for heap in heaps {
            let base = q * heap.capacity
            for e in 0..<heap.counts[q] {
                candidates.append((heap.scores[base + e], heap.ids[base + e], heap.vectors[base + e]))
            }
            if heap.isFull(q) { dropBound = min(dropBound, heap.thresholds[q]) }
        }
        candidates.sort { $0.score < $1.score || ($0.score == $1.score && $0.id < $1.id) }
        // The winners' vectors were scanned long before (a batch went on to other partitions), so
        // they are likely out of cache: start all their misses now, in re-scoring order.
        for c in candidates.prefix(2 * k) { radb_prefetch(c.vector, d * MemoryLayout<Float>.size) }
        let epsilon = Double(L2Kernels.roundingBound(dimension: d, maxSquaredNorm: maxScannedNorm,
                                                     querySquaredNorm: queryNorms[q]))
        var best = TopKSelector(validatedK: k)
        for c in candidates {
            if let worst = best.worst, Double(c.score) - epsilon > Double(worst.distance) { break }
            best.insert(SearchHit(id: c.id, distance: L2Kernels.exactSquaredDistance(c.vector, query, dimension: d)))
        }
        // Nothing was dropped, or everything dropped provably ranks after the k-th.
        guard dropBound.isFinite, let kth = best.worst?.distance else { return best.sorted() }
        if Double(dropBound) - epsilon > Double(kth) { return best.sorted() }
        stats.certificationRescans += 1
        return rescan(q, threshold: Float(Double(kth) + epsilon).nextUp, stats: &stats)
    }

    /// Collects every vector of query `q`'s tasks scoring ≤ `threshold`, scored exactly.
    private func rescan(_ q: Int, threshold: Float, stats: inout SearchStats) -> [SearchHit] {
        let d = dimension
        let query = queryBase + q * d
        let qn = queryNorms[q]
        var selector = TopKSelector(validatedK: k)
        var scores = [Float](repeating: 0, count: Self.taskVectors)
        scores.withUnsafeMutableBufferPointer { scoreBuffer in
            for task in tasks where task.allQueries || task.queries.contains(Int32(q)) {
                for block in task.blocks {
                    var start = 0
                    while start < block.count {
                        let n = min(scoreBuffer.count, block.count - start)
                        let rows = block.vectors.baseAddress! + start * d
                        L2Kernels.minusTwoDotProducts(queries: query, m: 1, rows: rows, n: n, dimension: d,
                                                      into: scoreBuffer.baseAddress!)
                        stats.distanceComputations += n
                        for j in 0..<n {
                            let id = block.ids[start + j]
                            let s = scoreBuffer[j] + block.squaredNorms[start + j] + qn
                            guard s <= threshold, filter?.contains(id) ?? true else { continue }
                            selector.insert(SearchHit(id: id, distance: L2Kernels.exactSquaredDistance(
                                rows + j * d, query, dimension: d)))
                        }
                        start += n
                    }
                }
            }
        }
        return selector.sorted()
    }
}

extension VectorBlock {
    /// Rows `start..<start+n` of this block.
    func slice(_ start: Int, _ n: Int, dimension: Int) -> VectorBlock {
        if start == 0 && n == count { return self }
        return VectorBlock(
            ids: UnsafeBufferPointer(rebasing: ids[start ..< start + n]),
            vectors: UnsafeBufferPointer(rebasing: vectors[start * dimension ..< (start + n) * dimension]),
            squaredNorms: UnsafeBufferPointer(rebasing: squaredNorms[start ..< start + n]))
    }
}
