/// Settings of `AnchorRouter.train` (seeded k-means++ followed by Lloyd iterations).
///
/// It exists so that training anchors for vectors that did not come from a CAM model is
/// reproducible (same seed, same data, same settings → same anchors) and bounded in cost.
public struct KMeansConfiguration: Sendable {
    /// Number of anchors (clusters) to train.
    public var anchorCount: Int
    /// Lloyd iterations after seeding (stops earlier when no assignment changes).
    public var iterations: Int = 10
    /// Seed of every random choice (sampling and k-means++).
    public var seed: UInt64 = 0x5EED
    /// Lloyd iterations run on a random sample of at most `anchorCount ×` this many vectors
    /// (FAISS uses 256): more adds cost, hardly quality.
    public var samplesPerAnchor: Int = 256
    /// k-means++ seeding (one pass over its points per anchor) runs on the first
    /// `anchorCount ×` this many sampled vectors.
    public var seedingSamplesPerAnchor: Int = 32
    /// Threads for the assignment GEMMs.
    public var parallelism: Parallelism = .automatic

    public init(anchorCount: Int, iterations: Int = 10, seed: UInt64 = 0x5EED) {
        self.anchorCount = anchorCount
        self.iterations = iterations
        self.seed = seed
    }
}

extension AnchorRouter {
    // MARK: - k-means training

    /// Trains anchors by k-means++ seeding and Lloyd iterations (assignment by BLAS GEMM).
    ///
    ///     var config = KMeansConfiguration(anchorCount: 1000)
    ///     config.seed = 42
    ///     let router = try AnchorRouter.train(vectors: xs, dimension: 128, configuration: config)
    ///
    /// `progress(done, total)` is called after seeding and after each iteration; returning false
    /// cancels (`IndexError.cancelled`). Throws on NaN/Inf, a length that is not a multiple of
    /// `dimension`, fewer vectors than anchors, or non-positive settings.
    public static func train(vectors: [Float], dimension: Int, configuration: KMeansConfiguration,
                             progress: ((Int, Int) -> Bool)? = nil) throws -> AnchorRouter {
        try vectors.withUnsafeBufferPointer {
            try train(vectors: $0, dimension: dimension, configuration: configuration, progress: progress)
        }
    }

    /// Buffer variant of `train(vectors:dimension:configuration:progress:)`.
    public static func train(vectors: UnsafeBufferPointer<Float>, dimension d: Int, configuration c: KMeansConfiguration,
                             progress: ((Int, Int) -> Bool)? = nil) throws -> AnchorRouter {
        guard d > 0, vectors.count % d == 0 else {
            throw IndexError.invalidArgument("\(vectors.count) floats is not a multiple of dimension \(d)")
        }
        let n = vectors.count / d
        let k = c.anchorCount
        guard k >= 1 else { throw IndexError.invalidAnchors("anchorCount must be ≥ 1, got \(k)") }
        guard n >= k else {
            throw IndexError.invalidAnchors("cannot train \(k) anchors from \(n) vectors: give at least one vector per anchor")
        }
        guard c.iterations >= 0, c.samplesPerAnchor >= 1, c.seedingSamplesPerAnchor >= 1 else {
            throw IndexError.invalidArgument("iterations must be ≥ 0 and sample sizes ≥ 1")
        }
        try IndexError.validate(vectors, count: n, dimension: d, what: "training vectors")
        var rng = SplitMix64(seed: c.seed)

        // A random sample, in random order (so any prefix is a random sample too).
        let sampleCount = min(n, max(k, k.multipliedReportingOverflow(by: c.samplesPerAnchor).partialValue))
        var order = Array(0..<n)
        for i in 0..<sampleCount {
            let j = i + Int(rng.next() % UInt64(n - i))
            order.swapAt(i, j)
        }
        var sample = [Float](repeating: 0, count: sampleCount * d)
        sample.withUnsafeMutableBufferPointer { s in
            for i in 0..<sampleCount {
                (s.baseAddress! + i * d).update(from: vectors.baseAddress! + order[i] * d, count: d)
            }
        }
        order = []

        var anchors = sample.withUnsafeBufferPointer { s in
            seedPlusPlus(s.baseAddress!, count: min(sampleCount, max(k, k * c.seedingSamplesPerAnchor)),
                         dimension: d, anchorCount: k, rng: &rng)
        }
        if let progress, !progress(0, c.iterations) { throw IndexError.cancelled("k-means training") }

        // Lloyd iterations.
        var assignment = [Int32](repeating: -1, count: sampleCount)
        var distance = [Float](repeating: 0, count: sampleCount)
        for iteration in 0..<c.iterations {
            let router = try AnchorRouter(anchors: anchors, dimension: d)
            var next = [Int32](repeating: 0, count: sampleCount)
            sample.withUnsafeBufferPointer { s in
                next.withUnsafeMutableBufferPointer { out in
                    distance.withUnsafeMutableBufferPointer { dist in
                        router.assign(s.baseAddress!, count: sampleCount, into: out.baseAddress!,
                                      distances: dist.baseAddress!, parallelism: c.parallelism)
                    }
                }
            }
            if next == assignment { break }
            assignment = next
            anchors = centroids(of: sample, assignment: assignment, distance: distance, previous: anchors,
                                dimension: d, anchorCount: k)
            if let progress, !progress(iteration + 1, c.iterations) { throw IndexError.cancelled("k-means training") }
        }
        return try AnchorRouter(anchors: anchors, dimension: d)
    }

    /// k-means++ (Arthur & Vassilvitskii 2007): each next anchor is a point drawn with probability
    /// proportional to its squared distance to the nearest anchor chosen so far.
    private static func seedPlusPlus(_ points: UnsafePointer<Float>, count n: Int, dimension d: Int, anchorCount k: Int,
                                     rng: inout SplitMix64) -> [Float] {
        var anchors = [Float](repeating: 0, count: k * d)
        var norms = [Float](repeating: 0, count: n)
        var nearest = [Float](repeating: .infinity, count: n)
        var dots = [Float](repeating: 0, count: n)
        norms.withUnsafeMutableBufferPointer { L2Kernels.squaredNorms(points, count: n, dimension: d, into: $0.baseAddress!) }
        var chosen = Int(rng.next() % UInt64(n))
        for a in 0..<k {
            let center = points + chosen * d
            anchors.withUnsafeMutableBufferPointer { ($0.baseAddress! + a * d).update(from: center, count: d) }
            if a == k - 1 { break }
            let centerNorm = norms[chosen]
            dots.withUnsafeMutableBufferPointer {
                L2Kernels.minusTwoDotProducts(queries: center, m: 1, rows: points, n: n, dimension: d, into: $0.baseAddress!)
            }
            var total: Double = 0
            for i in 0..<n {
                let dist = max(0, norms[i] + centerNorm + dots[i])
                if dist < nearest[i] { nearest[i] = dist }
                total += Double(nearest[i])
            }
            if total > 0 {
                var target = rng.nextUnit() * total
                chosen = n - 1
                for i in 0..<n {
                    target -= Double(nearest[i])
                    if target < 0 && nearest[i] > 0 { chosen = i; break }
                }
            } else {
                // Every point coincides with an anchor: any choice is as good.
                chosen = Int(rng.next() % UInt64(n))
            }
        }
        return anchors
    }

    /// Mean of each cluster; an empty cluster takes the point farthest from its own anchor
    /// (each such point used once), which splits the worst-fitted cluster.
    private static func centroids(of sample: [Float], assignment: [Int32], distance: [Float], previous: [Float],
                                  dimension d: Int, anchorCount k: Int) -> [Float] {
        var sums = [Double](repeating: 0, count: k * d)
        var sizes = [Int](repeating: 0, count: k)
        sample.withUnsafeBufferPointer { s in
            sums.withUnsafeMutableBufferPointer { sum in
                for (i, a) in assignment.enumerated() {
                    let row = s.baseAddress! + i * d, target = sum.baseAddress! + Int(a) * d
                    for j in 0..<d { target[j] += Double(row[j]) }
                    sizes[Int(a)] += 1
                }
            }
        }
        var anchors = previous
        var farthest: [Int] = []
        var nextFarthest = 0
        for a in 0..<k {
            if sizes[a] > 0 {
                let scale = 1 / Double(sizes[a])
                for j in 0..<d { anchors[a * d + j] = Float(sums[a * d + j] * scale) }
            } else {
                if farthest.isEmpty {
                    farthest = distance.indices.sorted { distance[$0] > distance[$1] || (distance[$0] == distance[$1] && $0 < $1) }
                }
                let p = farthest[min(nextFarthest, farthest.count - 1)]
                nextFarthest += 1
                for j in 0..<d { anchors[a * d + j] = sample[p * d + j] }
            }
        }
        return anchors
    }
}
