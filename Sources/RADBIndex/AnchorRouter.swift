import CBLAS
import CKernels

/// The coarse quantiser of the two-stage search: a set of anchors, one per partition, and the
/// rules that send a vector to its nearest anchor and rank anchors for a query.
///
/// It exists so that both ways of getting anchors — a CAM model's learned class anchors
/// (`init(anchors:dimension:)`) and k-means centroids (`AnchorRouter.train`) — fill the same slot,
/// as FAISS's IVF takes any coarse quantiser. Anchor distances use the BLAS form
/// ‖a‖² + ‖x‖² − 2a·x (one GEMM for a batch); ties between anchors go to the lower anchor index.
public struct AnchorRouter: Sendable {
    /// Number of components of every anchor and every routed vector.
    public let dimension: Int
    /// Number of anchors (= number of partitions).
    public let anchorCount: Int
    /// Anchors, row-major `anchorCount × dimension`.
    public let anchors: [Float]
    /// ‖anchor‖², one per anchor.
    let anchorNorms: [Float]

    // MARK: - Initializers

    /// Wraps existing anchors (e.g. a CAM model's learned class anchors).
    ///
    ///     let router = try AnchorRouter(anchors: model.anchors, dimension: 128)
    ///     let partition = try router.nearestAnchor(of: embedding)
    ///     let lists = try router.nearestAnchors(of: batch)
    ///
    /// Throws `IndexError.invalidAnchors` when there are no anchors or the count is not a multiple of
    /// `dimension`, and `IndexError.nonFiniteValue` for NaN/Inf.
    public init(anchors: [Float], dimension: Int) throws {
        guard dimension > 0 else { throw IndexError.invalidAnchors("dimension must be ≥ 1, got \(dimension)") }
        guard !anchors.isEmpty, anchors.count % dimension == 0 else {
            throw IndexError.invalidAnchors("\(anchors.count) floats is not a positive multiple of dimension \(dimension)")
        }
        let count = anchors.count / dimension
        try anchors.withUnsafeBufferPointer {
            try IndexError.validate($0, count: count, dimension: dimension, what: "anchors")
        }
        self.dimension = dimension
        self.anchorCount = count
        self.anchors = anchors
        var norms = [Float](repeating: 0, count: count)
        anchors.withUnsafeBufferPointer { a in
            norms.withUnsafeMutableBufferPointer { n in
                L2Kernels.squaredNorms(a.baseAddress!, count: count, dimension: dimension, into: n.baseAddress!)
            }
        }
        self.anchorNorms = norms
    }

    /// Anchor `i` as an array.
    public func anchor(_ i: Int) -> [Float] { Array(anchors[i * dimension ..< (i + 1) * dimension]) }

    // MARK: - Assignment

    /// Nearest anchor of each of `vectors.count / dimension` row-major vectors, computed in chunks
    /// of one GEMM each. Throws on a wrong length or NaN/Inf.
    public func nearestAnchors(of vectors: [Float], parallelism: Parallelism = .serial) throws -> [Int32] {
        try vectors.withUnsafeBufferPointer { try nearestAnchors(of: $0, parallelism: parallelism) }
    }

    /// Buffer variant of `nearestAnchors(of:parallelism:)`.
    public func nearestAnchors(of vectors: UnsafeBufferPointer<Float>, parallelism: Parallelism = .serial) throws -> [Int32] {
        guard vectors.count % dimension == 0 else {
            throw IndexError.dimensionMismatch(what: "vectors to route (\(vectors.count) floats)",
                                               expected: dimension, actual: vectors.count % dimension)
        }
        let n = vectors.count / dimension
        try IndexError.validate(vectors, count: n, dimension: dimension, what: "vectors to route")
        var result = [Int32](repeating: 0, count: n)
        guard n > 0 else { return result }
        result.withUnsafeMutableBufferPointer { out in
            assign(vectors.baseAddress!, count: n, into: out.baseAddress!, distances: nil, parallelism: parallelism)
        }
        return result
    }

    /// Nearest anchor of one vector.
    public func nearestAnchor(of vector: [Float]) throws -> Int {
        guard vector.count == dimension else {
            throw IndexError.dimensionMismatch(what: "vector to route", expected: dimension, actual: vector.count)
        }
        return Int(try nearestAnchors(of: vector)[0])
    }

    /// Assigns `count` validated rows: `out[i]` = nearest anchor, `distances[i]` (if given) = its
    /// BLAS-form squared distance clamped at 0. Rows are processed in chunks so the score matrix
    /// stays small; chunks are spread over the workers.
    func assign(_ rows: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Int32>,
                distances: UnsafeMutablePointer<Float>?, parallelism: Parallelism) {
        let chunk = max(1, min(4096, (1 << 22) / anchorCount))
        let chunkCount = (count + chunk - 1) / chunk
        let workers = min(parallelism.workerCount, chunkCount)
        let d = dimension, a = anchorCount
        anchors.withUnsafeBufferPointer { anchorBuffer in
            anchorNorms.withUnsafeBufferPointer { anchorNormBuffer in
                let anchorPtr = anchorBuffer.baseAddress!, normPtr = anchorNormBuffer.baseAddress!
                parallelism.run(workers) { worker in
                    let scores = UnsafeMutablePointer<Float>.allocate(capacity: chunk * a)
                    defer { scores.deallocate() }
                    var c = worker
                    while c < chunkCount {
                        let start = c * chunk, m = min(chunk, count - start)
                        L2Kernels.minusTwoDotProducts(queries: rows + start * d, m: m, rows: anchorPtr, n: a,
                                                      dimension: d, into: scores)
                        for i in 0..<m {
                            let row = scores + i * a
                            var best = 0
                            var bestScore = row[0] + normPtr[0]
                            for j in 1..<a {
                                let s = row[j] + normPtr[j]
                                if s < bestScore { bestScore = s; best = j }
                            }
                            out[start + i] = Int32(best)
                            if let distances {
                                let xn = L2Kernels.squaredNorm(rows + (start + i) * d, dimension: d)
                                distances[start + i] = max(0, bestScore + xn)
                            }
                        }
                        c += workers
                    }
                }
            }
        }
    }

    // MARK: - Ranking

    /// Anchors ordered by distance to `query` (ties: lower index first), the nearest `limit` of them
    /// (all when nil). Throws on a wrong dimension or NaN/Inf.
    public func rankAnchors(for query: [Float], limit: Int? = nil) throws -> [Int] {
        try query.withUnsafeBufferPointer { q in
            try IndexError.validate(q, count: 1, dimension: dimension, what: "query")
            var scores = [Float](repeating: 0, count: anchorCount)
            scores.withUnsafeMutableBufferPointer { s in
                anchorScores(query: q.baseAddress!, into: s.baseAddress!)
            }
            return scores.withUnsafeBufferPointer {
                Self.rank(scores: $0.baseAddress!, count: anchorCount, limit: limit ?? anchorCount)
            }
        }
    }

    /// `out[j]` = ‖aⱼ‖² − 2 q·aⱼ for one validated query, in one pass over the anchors (C kernel
    /// `radb_norms_minus_two_dot`: four anchors per step, the norms added in the same pass). This
    /// is the single-query path's stage 1; a batch uses one GEMM instead (`anchorScores(queries:…)`).
    func anchorScores(query: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        anchors.withUnsafeBufferPointer { anchorBuffer in
            anchorNorms.withUnsafeBufferPointer { norms in
                radb_norms_minus_two_dot(query, anchorBuffer.baseAddress!, norms.baseAddress!, anchorCount, dimension,
                                         out)
            }
        }
    }

    /// `out[i × anchorCount + j]` = ‖aⱼ‖² − 2 qᵢ·aⱼ (the query norm is omitted: it does not change
    /// the ranking), for `count` validated queries.
    func anchorScores(queries: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        if count == 1 {
            anchorScores(query: queries, into: out)
            return
        }
        let a = anchorCount
        anchors.withUnsafeBufferPointer { anchorBuffer in
            L2Kernels.minusTwoDotProducts(queries: queries, m: count, rows: anchorBuffer.baseAddress!, n: a,
                                          dimension: dimension, into: out)
        }
        anchorNorms.withUnsafeBufferPointer { norms in
            for i in 0..<count {
                let row = out + i * a
                for j in 0..<a { row[j] += norms[j] }
            }
        }
    }

    /// Indices of the `limit` smallest scores, ordered by (score, index).
    static func rank(scores: UnsafePointer<Float>, count: Int, limit: Int) -> [Int] {
        let limit = min(limit, count)
        guard limit > 0 else { return [] }
        let order = UnsafeMutablePointer<Int32>.allocate(capacity: limit)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: limit)
        defer { order.deallocate(); scratch.deallocate() }
        let n = select(scores: scores, count: count, limit: limit, into: order, scratch: scratch)
        return (0..<n).map { Int(order[$0]) }
    }

    /// Partial selection without allocation: writes the indices of the `limit` smallest scores,
    /// ordered by (score, index), to `out`; `scratch` needs room for `limit` floats. Returns how many
    /// (min(limit, count)). O(count · log limit): the single-query path ranks only the anchors it probes.
    @inline(__always)
    static func select(scores: UnsafePointer<Float>, count: Int, limit: Int, into out: UnsafeMutablePointer<Int32>,
                       scratch: UnsafeMutablePointer<Float>) -> Int {
        radb_select_smallest(scores, count, limit, out, scratch)
    }
}
