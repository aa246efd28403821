import RADBIndex

/// Deterministic synthetic data and a naive reference search for the tests.
enum TestData {
    /// `count × dimension` standard-normal values scaled by `scale` and shifted by `offset`.
    static func gaussian(count: Int, dimension: Int, seed: UInt64, scale: Float = 1, offset: Float = 0) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<count * dimension).map { _ in Float(rng.nextGaussian()) * scale + offset }
    }

    /// Points around `clusters` random centres (spread `centreSpread`), noise `noise`; returns the
    /// points and the true cluster of each.
    static func blobs(count: Int, clusters: Int, dimension: Int, seed: UInt64, centreSpread: Float = 10,
                      noise: Float = 1) -> (points: [Float], labels: [Int], centres: [Float]) {
        var rng = SplitMix64(seed: seed)
        let centres = (0..<clusters * dimension).map { _ in Float(rng.nextGaussian()) * centreSpread }
        var points = [Float](repeating: 0, count: count * dimension)
        var labels = [Int](repeating: 0, count: count)
        for i in 0..<count {
            let c = i % clusters
            labels[i] = c
            for j in 0..<dimension {
                points[i * dimension + j] = centres[c * dimension + j] + Float(rng.nextGaussian()) * noise
            }
        }
        return (points, labels, centres)
    }

    /// Naive exact search: every distance written out as Σ(x−q)² in Double — lane l = i mod 8 sums
    /// its dimensions in order, lanes combined ((0+1)+(2+3))+((4+5)+(6+7)), the order
    /// `L2Kernels.exactSquaredDistance` documents — rounded once to Float; sorted by (distance, id);
    /// optional restriction to allowed ids.
    static func bruteForce(query: [Float], vectors: [Float], ids: [UInt64], dimension d: Int, k: Int,
                           allowed: Set<UInt64>? = nil) -> [SearchHit] {
        var all: [SearchHit] = []
        for (row, id) in ids.enumerated() {
            if let allowed, !allowed.contains(id) { continue }
            var lane = [Double](repeating: 0, count: 8)
            for j in 0..<d {
                let t = Double(vectors[row * d + j]) - Double(query[j])
                lane[j % 8] += t * t
            }
            let sum = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]))
            all.append(SearchHit(id: id, distance: Float(sum)))
        }
        all.sort { $0.distance < $1.distance || ($0.distance == $1.distance && $0.id < $1.id) }
        return Array(all.prefix(k))
    }

    /// Row `i` of a row-major matrix.
    static func row(_ m: [Float], _ i: Int, _ d: Int) -> [Float] { Array(m[i * d ..< (i + 1) * d]) }

    /// An index over `vectors` with ids `ids`, routed by `router`.
    static func index(vectors: [Float], ids: [UInt64], router: AnchorRouter, blockCapacity: Int? = nil,
                      parallelism: Parallelism = .automatic) throws -> AnchorIndex<MemoryInvertedLists> {
        let lists = try MemoryInvertedLists(dimension: router.dimension, listCount: router.anchorCount,
                                            blockCapacity: blockCapacity)
        try lists.add(vectors: vectors, ids: ids, lists: router.nearestAnchors(of: vectors))
        return try AnchorIndex(router: router, lists: lists, parallelism: parallelism)
    }

    /// A router whose anchors are `count` of the given vectors (rows 0, step, 2·step…).
    static func routerFromRows(_ vectors: [Float], dimension d: Int, count: Int) throws -> AnchorRouter {
        let n = vectors.count / d
        let step = max(1, n / count)
        var anchors: [Float] = []
        for a in 0..<count { anchors += row(vectors, (a * step) % n, d) }
        return try AnchorRouter(anchors: anchors, dimension: d)
    }
}
