/// Ranks the whole database for one query from its row of distances, and reads the paper's
/// metrics off the ranking — the inner loop of `RetrievalEvaluator`, run 10,000 times over
/// 50,000–100,000 items per evaluation, so it is linear time:
///
/// - the exact ranking is an LSD radix sort (three 11-bit digits) of keys
///   `distance bits << 32 | index`, started in index order; radix sorting is stable, so equal
///   distances stay in index order and the result is exactly the ascending order of those
///   64-bit keys (what a comparison sort of them gives, at a fraction of the cost);
/// - the two-stage ranking (DESIGN §5: the probed anchor's items first by distance, then the
///   other partitions by anchor rank) is a stable counting sort of the exact ranking by the
///   rank of each item's anchor for this query — the exact ranking already orders every
///   partition by (distance, index).
///
/// Distances must be ≥ 0 (the evaluator clamps them): the IEEE bits of non-negative floats
/// order like their values. One ranker per thread; its buffers are reused query after query.
package struct QueryRanker {
    /// Database size.
    package let count: Int
    /// After `rankExact`: ascending `distance bits << 32 | index`; the low 32 bits are the ranking.
    private var keys: [UInt64]
    private var spare: [UInt64]
    /// After `rankTwoStage`: position s of the two-stage ranking holds the item's exact position.
    private var twoStage: [UInt32]
    private var digitCounts = [Int](repeating: 0, count: 3 * 2048)

    package init(count: Int) {
        precondition(count >= 0 && count <= Int(UInt32.max), "QueryRanker: database of \(count) items")
        self.count = count
        keys = [UInt64](repeating: 0, count: count)
        spare = keys
        twoStage = [UInt32](repeating: 0, count: count)
    }

    /// The sort key of one distance; −0 and negative values (never produced by the clamped
    /// distances) map to 0 so the bit order stays the value order.
    @inline(__always) package static func key(_ distance: Float, _ index: Int) -> UInt64 {
        UInt64((distance > 0 ? distance : 0).bitPattern) << 32 | UInt64(index)
    }

    // MARK: - Rankings

    /// Ranks `distances[0..<count]` (database order) ascending, ties by index.
    package mutating func rankExact(_ distances: UnsafeBufferPointer<Float>) {
        precondition(distances.count == count, "QueryRanker: \(distances.count) distances for \(count) items")
        let n = count
        keys.withUnsafeMutableBufferPointer { k in
            spare.withUnsafeMutableBufferPointer { s in
                digitCounts.withUnsafeMutableBufferPointer { h in
                    for i in h.indices { h[i] = 0 }
                    for j in 0..<n {
                        let key = QueryRanker.key(distances[j], j)
                        k[j] = key
                        let bits = Int(truncatingIfNeeded: key >> 32)
                        h[bits & 0x7FF] += 1
                        h[2048 + (bits >> 11) & 0x7FF] += 1
                        h[4096 + (bits >> 22)] += 1
                    }
                    var source = k, destination = s
                    var inKeys = true
                    for pass in 0..<3 {
                        let shift = UInt64(32 + 11 * pass), base = 2048 * pass
                        // A digit that is the same for every item leaves the order unchanged.
                        if n == 0 || (0..<2048).contains(where: { h[base + $0] == n }) { continue }
                        var offset = 0
                        for b in 0..<2048 { let c = h[base + b]; h[base + b] = offset; offset += c }
                        for j in 0..<n {
                            let key = source[j]
                            let digit = base + Int(truncatingIfNeeded: (key >> shift) & 0x7FF)
                            destination[h[digit]] = key
                            h[digit] += 1
                        }
                        swap(&source, &destination)
                        inKeys.toggle()
                    }
                    if !inKeys { for j in 0..<n { k[j] = s[j] } }
                }
            }
        }
    }

    /// Database index at exact rank `position` (after `rankExact`).
    @inline(__always) package func exactItem(_ position: Int) -> Int { Int(keys[position] & 0xFFFF_FFFF) }

    /// The exact ranking as database indices (for tests and callers that keep rankings).
    package var exactRanking: [Int] { keys.map { Int($0 & 0xFFFF_FFFF) } }

    /// Reorders the exact ranking into the two-stage ranking. `itemAnchor[i]` is database item
    /// i's anchor, `anchorRank[a]` the position of anchor a in this query's anchor order
    /// (0 = nearest, a permutation of 0..<t).
    package mutating func rankTwoStage(itemAnchor: [Int32], anchorRank: [Int]) {
        precondition(itemAnchor.count == count, "QueryRanker: \(itemAnchor.count) item anchors for \(count) items")
        var start = [Int](repeating: 0, count: anchorRank.count + 1)
        for i in 0..<count { start[anchorRank[Int(itemAnchor[i])] + 1] += 1 }
        for b in 0..<anchorRank.count { start[b + 1] += start[b] }
        keys.withUnsafeBufferPointer { k in
            twoStage.withUnsafeMutableBufferPointer { out in
                for p in 0..<count {
                    let bucket = anchorRank[Int(itemAnchor[Int(k[p] & 0xFFFF_FFFF)])]
                    out[start[bucket]] = UInt32(p)
                    start[bucket] += 1
                }
            }
        }
    }

    /// The two-stage ranking as database indices (after `rankTwoStage`).
    package var twoStageRanking: [Int] { twoStage.map { exactItem(Int($0)) } }

    // MARK: - Metrics

    /// AP over the full exact ranking, P@10 and P@100; relevant = database label equals `label`.
    package func exactMetrics(labels: [Int], label: Int) -> (ap: Double, p10: Double, p100: Double) {
        QueryRanker.metrics(count: count) { labels[exactItem($0)] == label }
    }

    /// The same metrics over the two-stage ranking.
    package func twoStageMetrics(labels: [Int], label: Int) -> (ap: Double, p10: Double, p100: Double) {
        QueryRanker.metrics(count: count) { labels[exactItem(Int(twoStage[$0]))] == label }
    }

    /// Fraction of the exact top-k found in the two-stage top-k (k capped at the database size).
    package func recallOfExactTop(_ k: Int) -> Double {
        let depth = min(k, count)
        var hits = 0
        for s in 0..<depth where Int(twoStage[s]) < depth { hits += 1 }
        return Double(hits) / Double(depth)
    }

    /// AP = (1/R) Σ_{relevant at rank r} (relevant in top r) / r, 0 when nothing is relevant;
    /// P@10 and P@100 count hits over 10 and 100 even when the ranking is shorter.
    @inline(__always) static func metrics(count: Int, relevantAt: (Int) -> Bool) -> (ap: Double, p10: Double, p100: Double) {
        var hits = 0
        var sum = 0.0
        var at10 = 0, at100 = 0
        for r in 0..<count {
            if relevantAt(r) {
                hits += 1
                sum += Double(hits) / Double(r + 1)
            }
            if r == 9 { at10 = hits }
            if r == 99 { at100 = hits }
        }
        if count < 10 { at10 = hits }
        if count < 100 { at100 = hits }
        return (hits == 0 ? 0 : sum / Double(hits), Double(at10) / 10, Double(at100) / 100)
    }
}
