import CKernels
import Dispatch

/// The single-query engine: the same search as `AnchorIndex`'s batch path (same routing, same
/// continuation rules, same certified exact top k), specialised for one query so that nothing is
/// allocated per query once the context has grown to fit.
///
/// Steps:
/// 1. Stage 1 (routed only): ‖aⱼ‖² − 2q·aⱼ for every anchor in one pass (C kernel), then a partial
///    selection of the nprobe nearest by (score, anchor index) — not a sort of all anchors.
/// 2. Stage 2: the probed lists' blocks are collected (pointers into the lists, no copies) and
///    scanned by the C kernel `radb_scan_below`, which scores a chunk of rows and returns only those
///    under the heap's current threshold. A large scan is cut into pieces that run on the index's
///    workers, each into its own lane (heap); the threshold of a lane only tightens.
/// 3. Finish: the lanes' candidates are re-scored exactly in score order and the top k certified
///    against the rounding bound, as in `PartitionScanner.finish`; an uncertifiable top k (near-ties
///    within the bound) is settled by a thresholded rescan of the same blocks.
extension SearchContext {
    /// Searches one validated query (dimension checked, finite; k ≥ 1; `probeCount` nil = exact).
    func search<L: InvertedLists>(_ index: AnchorIndex<L>, query: UnsafePointer<Float>, k: Int, probeCount: Int?,
                                  filter: IDFilter?, strategy: FilterStrategy) throws -> SearchResult {
        let lists = index.lists
        var stats = SearchStats()
        let total = lists.totalCount
        stats.indexedVectors = total
        guard total > 0, filter.map({ $0.count > 0 }) ?? true else { return SearchResult(hits: [], stats: stats) }
        let d = index.dimension
        let qn = L2Kernels.squaredNorm(query, dimension: d)
        let anchorCount = index.router.anchorCount

        // Stage 1: the nearest `probeCount` anchors (more when they hold fewer than k vectors).
        var probed = 0
        var held = 0
        if let p = probeCount {
            let scores = anchorScores.ensure(anchorCount)
            index.router.anchorScores(query: query, into: scores)
            stats.anchorDistanceComputations = anchorCount
            probed = rankAnchors(count: anchorCount, limit: p)
            for i in 0..<probed { held += lists.count(ofList: Int(probeOrder.pointer[i])) }
            if filter == nil && held < k {
                let ranked = rankAnchors(count: anchorCount, limit: anchorCount)
                held = 0
                probed = 0
                while probed < ranked && held < k {
                    held += lists.count(ofList: Int(probeOrder.pointer[probed]))
                    probed += 1
                }
            }
        }

        // A selective filter: score the matching ids directly (the batch path's code and rule).
        if let filter {
            let expectedScan = probeCount == nil ? total : held
            let scanCost = max(expectedScan, Int(min(Double(total) * Double(k) / Double(filter.count), Double(total))))
            let direct = strategy == .scoreMatchesDirectly
                || (strategy == .automatic
                    && filter.count.multipliedReportingOverflow(by: index.directScoringCost).partialValue <= scanCost)
            if direct {
                let (hits, directStats) = try index.scoreDirectly(filter: filter, queries: query, count: 1, norms: [qn],
                                                                  k: k, stats: stats)
                return SearchResult(hits: hits[0], stats: directStats)
            }
        }

        // Stage 2: scan.
        begin(k: k)
        if probeCount == nil {
            for list in 0..<lists.listCount where lists.count(ofList: list) > 0 {
                try collectBlocks(ofList: list, in: lists, dimension: d)
                stats.partitionsScanned += 1
            }
        } else {
            for i in 0..<probed { try collectBlocks(ofList: Int(probeOrder.pointer[i]), in: lists, dimension: d) }
            stats.partitionsScanned += probed
        }
        scanCollectedBlocks(from: 0, query: query, qn: qn, dimension: d, filter: filter, parallelism: index.parallelism)

        // Filtered and routed: continue with further anchors, doubling the step, until k match or
        // every partition has been scanned.
        if filter != nil, let p = probeCount {
            var step = p
            while candidateCount < k && probed < anchorCount {
                step *= 2
                let end = min(anchorCount, probed + step)
                _ = rankAnchors(count: anchorCount, limit: end)  // same order: the first `probed` are unchanged
                let first = blocks.count
                for i in probed..<end { try collectBlocks(ofList: Int(probeOrder.pointer[i]), in: lists, dimension: d) }
                stats.partitionsScanned += end - probed
                probed = end
                scanCollectedBlocks(from: first, query: query, qn: qn, dimension: d, filter: filter,
                                    parallelism: index.parallelism)
            }
        }

        let hits = finish(query: query, qn: qn, k: k, dimension: d, filter: filter, stats: &stats)
        for l in 0..<lanesInUse { stats.distanceComputations += lanes[l].distanceComputations }
        blocks.removeAll(keepingCapacity: true)  // block pointers are valid only during this call
        return SearchResult(hits: hits, stats: stats)
    }

    // MARK: - Stage 1

    /// Ranks the anchors by the scores in `anchorScores` into `probeOrder`; returns how many.
    private func rankAnchors(count: Int, limit: Int) -> Int {
        let order = probeOrder.ensure(limit)
        let scratch = selectionScratch.ensure(limit)
        return AnchorRouter.select(scores: anchorScores.pointer, count: count, limit: limit, into: order,
                                   scratch: scratch)
    }

    // MARK: - Stage 2

    /// Clears the per-search state; lanes are reset as they are taken into use.
    private func begin(k: Int) {
        blocks.removeAll(keepingCapacity: true)
        lanesInUse = 0
        maxScannedNorm = 0
        heapCapacity = k + max(8, k)
    }

    /// Appends the non-empty blocks of `list` to `blocks`, refusing blocks of the wrong width.
    private func collectBlocks<L: InvertedLists>(ofList list: Int, in lists: L, dimension d: Int) throws {
        try lists.forEachBlock(ofList: list) { block in
            // A block of another width would be read out of bounds: refuse it (a damaged or foreign store).
            guard block.vectors.count == block.count * d else {
                throw IndexError.layoutMismatch(
                    "list \(list) holds a block of \(block.vectors.count) floats for \(block.count) vectors, "
                        + "expected dimension \(d); check the store with `radb check`")
            }
            guard block.count > 0 else { return }
            maxScannedNorm = max(maxScannedNorm, block.maxSquaredNorm)
            blocks.append(block)
        }
    }

    /// Makes lanes `0..<count` available, resetting the ones this search has not used yet.
    private func activateLanes(_ count: Int) {
        while lanes.count < count { lanes.append(ScanLane()) }
        while lanesInUse < count {
            lanes[lanesInUse].heap.reset(queryCount: 1, capacity: heapCapacity)
            lanes[lanesInUse].distanceComputations = 0
            lanesInUse += 1
        }
    }

    /// Scans `blocks[first...]`: on the calling thread, or — when there is enough work for the
    /// index's workers — cut into pieces of consecutive rows, each scanned into its own lane.
    private func scanCollectedBlocks(from first: Int, query: UnsafePointer<Float>, qn: Float, dimension d: Int,
                                     filter: IDFilter?, parallelism: Parallelism) {
        var rows = 0
        for b in first..<blocks.count { rows += blocks[b].count }
        guard rows > 0 else { activateLanes(max(1, lanesInUse)); return }
        // Split only scans of ≥ 2²² multiply-adds (≈ 32k vectors of 128-d): measured on (a) at 2
        // threads, splitting a 5k–22k-vector scan (nprobe 4–16) over two workers made the median query
        // slower than the serial scan (dispatch and a second core that is often busy), while exact and
        // nprobe-64 scans gained. Pieces are claimed dynamically, so two per worker let a thread that
        // was descheduled hold up less of the scan.
        let workers = parallelism.workerCount
        let work = rows * d
        let pieces = workers > 1 && work >= 1 << 22 ? min(2 * workers, max(2, work >> 21)) : 1
        activateLanes(max(pieces, lanesInUse))
        blocks.withUnsafeBufferPointer { all in
            let scanned = UnsafeBufferPointer(rebasing: all[first...])
            if pieces == 1 {
                lanes[0].scan(scanned, rows: 0 ..< rows, query: query, qn: qn, dimension: d, filter: filter)
            } else {
                let lanes = self.lanes
                parallelism.run(pieces) { p in
                    let range = rows * p / pieces ..< rows * (p + 1) / pieces
                    lanes[p].scan(scanned, rows: range, query: query, qn: qn, dimension: d, filter: filter)
                }
            }
        }
    }

    /// Candidates kept over all lanes (= matches scanned, while below k).
    private var candidateCount: Int {
        var n = 0
        for l in 0..<lanesInUse { n += lanes[l].heap.counts[0] }
        return n
    }

    // MARK: - Finish

    /// The certified top k, ordered by (exact distance, id) — see `PartitionScanner.finish`.
    private func finish(query: UnsafePointer<Float>, qn: Float, k: Int, dimension d: Int, filter: IDFilter?,
                        stats: inout SearchStats) -> [SearchHit] {
        let n = candidateCount
        var buffer = UnsafeMutableBufferPointer(start: candidates.ensure(max(1, n)), count: n)
        var dropBound = Float.infinity
        var i = 0
        for l in 0..<lanesInUse {
            let heap = lanes[l].heap
            for e in 0..<heap.counts[0] {
                buffer[i] = Candidate(score: heap.scores[e], id: heap.ids[e], vector: heap.vectors[e])
                i += 1
            }
            if heap.isFull(0) { dropBound = min(dropBound, heap.thresholds[0]) }
        }
        buffer.sort(by: Candidate.precedes)
        // A long scan has evicted the first winners' vectors: start their cache misses together.
        for c in buffer.prefix(2 * k) { radb_prefetch(c.vector, d * MemoryLayout<Float>.size) }
        let epsilon = Double(L2Kernels.roundingBound(dimension: d, maxSquaredNorm: maxScannedNorm,
                                                     querySquaredNorm: qn))
        selector.reset(validatedK: k)
        for c in buffer {
            if let worst = selector.worst, Double(c.score) - epsilon > Double(worst.distance) { break }
            selector.insert(SearchHit(id: c.id, distance: L2Kernels.exactSquaredDistance(c.vector, query, dimension: d)))
        }
        // Nothing was dropped, or everything dropped provably ranks after the k-th.
        guard dropBound.isFinite, let kth = selector.worst?.distance else { return selector.sorted() }
        let kthDistance = Double(kth)
        if Double(dropBound) - epsilon > kthDistance { return selector.sorted() }
        stats.certificationRescans += 1
        let threshold: Float = Float(kthDistance + epsilon).nextUp
        return rescan(query: query, qn: qn, k: k, dimension: d, filter: filter, threshold: threshold)
    }

    /// Every scanned vector scoring ≤ `threshold` (a superset of the true top k), scored exactly.
    private func rescan(query: UnsafePointer<Float>, qn: Float, k: Int, dimension d: Int, filter: IDFilter?,
                        threshold: Float) -> [SearchHit] {
        selector.reset(validatedK: k)
        let lane = lanes[0]
        for block in blocks {
            let ids = block.ids.baseAddress!, norms = block.squaredNorms.baseAddress!
            let vectors = block.vectors.baseAddress!
            var start = 0
            while start < block.count {
                let len = min(ScanLane.chunk, block.count - start)
                let found = radb_scan_below(query, qn, vectors + start * d, norms + start, ids + start, len, d, threshold,
                                            lane.rows, lane.scores)
                lane.distanceComputations += len
                for f in 0..<found {
                    let j = start + Int(lane.rows[f])
                    if let filter, !filter.contains(ids[j]) { continue }
                    selector.insert(SearchHit(id: ids[j], distance: L2Kernels.exactSquaredDistance(
                        vectors + j * d, query, dimension: d)))
                }
                start += len
            }
        }
        return selector.sorted()
    }
}

extension ScanLane {
    /// Scans rows `rows` of the concatenation of `blocks` into this lane's heap.
    func scan(_ blocks: UnsafeBufferPointer<VectorBlock>, rows: Range<Int>, query: UnsafePointer<Float>, qn: Float,
              dimension d: Int, filter: IDFilter?) {
        var offset = 0
        for block in blocks {
            if offset >= rows.upperBound { break }
            let lo = max(rows.lowerBound, offset) - offset
            let hi = min(rows.upperBound, offset + block.count) - offset
            if lo < hi { scan(block, lo ..< hi, query: query, qn: qn, dimension: d, filter: filter) }
            offset += block.count
        }
    }

    /// Offers rows `range` of `block` to the heap, `chunk` rows per kernel call so the threshold the
    /// kernel filters by is refreshed as the heap tightens.
    private func scan(_ block: VectorBlock, _ range: Range<Int>, query: UnsafePointer<Float>, qn: Float,
                      dimension d: Int, filter: IDFilter?) {
        let ids = block.ids.baseAddress!, norms = block.squaredNorms.baseAddress!
        let vectors = block.vectors.baseAddress!
        var start = range.lowerBound
        while start < range.upperBound {
            let len = min(range.upperBound - start, heap.isFull(0) ? Self.chunk : Self.firstChunk)
            let found = radb_scan_below(query, qn, vectors + start * d, norms + start, ids + start, len, d, heap.thresholds[0],
                                        rows, scores)
            heap.offerRows(0, rows: rows, scores: scores, found: found, ids: ids + start, vectors: vectors + start * d,
                           dimension: d, filter: filter)
            distanceComputations += len
            start += len
        }
    }
}
