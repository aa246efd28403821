import CBLAS
import CKernels

/// The arithmetic of squared Euclidean distance, in the two forms the engine needs.
///
/// - *Scoring* (fast, BLAS): `‖x‖² + ‖q‖² − 2 q·x` for many vectors at once via `sgemm`/`sgemv`.
///   Its float rounding error is bounded by `roundingBound` and can reorder near-equal distances.
/// - *Exact* (`exactSquaredDistance`): `Σ (xᵢ − qᵢ)²` accumulated in Double (eight lanes, in a
///   documented order) and rounded once to Float. This is the distance radb reports and ranks by;
///   a brute-force loop summing in the same order produces bit-identical values.
public enum L2Kernels {
    // MARK: - Exact

    /// Exact squared L2 distance: Σ (aᵢ − bᵢ)² in Double, rounded once to Float.
    ///
    /// Summation order (part of the definition, so a reference loop can reproduce it bit for bit):
    /// lane `l` (0…7) accumulates the dimensions i ≡ l (mod 8) in increasing i, then the total is
    /// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). Eight independent chains run ~8× faster
    /// than one, and in Double the order changes the result by ~1e-16 relative, far below the final
    /// Float rounding.
    ///
    /// The C kernel (`radb_exact_squared_l2`) runs this order with AVX2 where available and returns
    /// the same bits as the portable loop.
    @inline(__always)
    public static func exactSquaredDistance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                            dimension: Int) -> Float {
        radb_exact_squared_l2(a, b, dimension)
    }

    /// ‖x‖² in Double (same summation order as `exactSquaredDistance`), rounded once to Float.
    @inlinable
    public static func squaredNorm(_ x: UnsafePointer<Float>, dimension: Int) -> Float {
        var s0: Double = 0, s1: Double = 0, s2: Double = 0, s3: Double = 0
        var s4: Double = 0, s5: Double = 0, s6: Double = 0, s7: Double = 0
        @inline(__always) func sq(_ i: Int) -> Double {
            let t = Double(x[i])
            return t * t
        }
        var i = 0
        while i + 8 <= dimension {
            s0 += sq(i); s1 += sq(i + 1); s2 += sq(i + 2); s3 += sq(i + 3)
            s4 += sq(i + 4); s5 += sq(i + 5); s6 += sq(i + 6); s7 += sq(i + 7)
            i += 8
        }
        while i < dimension {
            s0 += sq(i)
            i += 1
        }
        return Float(((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)))
    }

    /// Squared norms of `count` row-major rows.
    public static func squaredNorms(_ rows: UnsafePointer<Float>, count: Int, dimension: Int,
                                    into out: UnsafeMutablePointer<Float>) {
        for i in 0..<count { out[i] = squaredNorm(rows + i * dimension, dimension: dimension) }
    }

    // MARK: - BLAS scoring

    /// `out[i × n + j] = −2 · queries[i] · rows[j]` for `m` queries and `n` rows (row-major, width `d`).
    /// One `sgemm` (the streaming single-query kernel per query when m ≤ 4); the caller adds the norms.
    @inlinable
    public static func minusTwoDotProducts(queries: UnsafePointer<Float>, m: Int,
                                           rows: UnsafePointer<Float>, n: Int, dimension d: Int,
                                           into out: UnsafeMutablePointer<Float>) {
        if m <= 4 {
            // A few queries: GEMM would spend more packing the block than multiplying it.
            for i in 0..<m {
                minusTwoDotProducts(query: queries + i * d, rows: rows, n: n, dimension: d, into: out + i * n)
            }
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(d),
                        -2, queries, Int32(d), rows, Int32(d), 0, out, Int32(n))
        }
    }

    /// `out[j] = −2 · query · rows[j]` for one query, streaming the rows strictly in order (a purely
    /// sequential stream lets the hardware prefetcher run ahead; measured ~1.7× faster than OpenBLAS
    /// `sgemv`, which interleaves four rows, on 1000 × 128 partitions).
    ///
    /// The arithmetic is the C kernel `radb_minus_two_dot_products` (target CKernels): AVX2 + FMA with
    /// four 8-wide accumulators when the CPU has both (checked once at run time), else a portable
    /// loop. Swift SIMD would compile to SSE without FMA for the baseline x86-64 target. These are
    /// approximate scan scores only; `roundingBound` covers them (see there).
    public static func minusTwoDotProducts(query q: UnsafePointer<Float>, rows: UnsafePointer<Float>, n: Int,
                                           dimension d: Int, into out: UnsafeMutablePointer<Float>) {
        radb_minus_two_dot_products(q, rows, n, d, out)
    }

    /// The portable (non-AVX2) path of `exactSquaredDistance`, for tests comparing both paths.
    package static func exactSquaredDistancePortable(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                                     dimension: Int) -> Float {
        radb_exact_squared_l2_portable(a, b, dimension)
    }

    /// The largest squared norm in `norms` (the C kernel `VectorBlock.maxSquaredNorm` uses).
    package static func maxSquaredNorm(_ norms: UnsafeBufferPointer<Float>) -> Float {
        guard let base = norms.baseAddress else { return 0 }
        return radb_max_nonnegative(base, norms.count)
    }

    /// `out[j]` = ‖rows j‖² (given in `norms`) − 2 q·rows j: the anchor kernel of the single-query
    /// routing step (`AnchorRouter.anchorScores`), four rows per step; exposed for tests.
    package static func normsMinusTwoDot(query q: UnsafePointer<Float>, rows: UnsafePointer<Float>,
                                         norms: UnsafePointer<Float>, n: Int, dimension d: Int,
                                         into out: UnsafeMutablePointer<Float>) {
        radb_norms_minus_two_dot(q, rows, norms, n, d, out)
    }

    /// The portable (non-AVX2) path of `minusTwoDotProducts(query:…)`, for tests comparing both paths.
    package static func minusTwoDotProductsPortable(query q: UnsafePointer<Float>, rows: UnsafePointer<Float>,
                                                    n: Int, dimension d: Int,
                                                    into out: UnsafeMutablePointer<Float>) {
        radb_minus_two_dot_products_portable(q, rows, n, d, out)
    }

    /// The single-query scan step (C `radb_scan_below`, dispatched or portable): the rows of an n × d
    /// block whose score ((−2 q·x) + ‖x‖²) + ‖q‖² is ≤ `threshold`, with their scores, in the kernel's
    /// (unspecified) order.
    /// Exposed for tests comparing the kernel paths.
    package static func scanBelow(query: UnsafePointer<Float>, querySquaredNorm qn: Float, rows: UnsafePointer<Float>,
                                  squaredNorms: UnsafePointer<Float>, n: Int, dimension d: Int, threshold: Float,
                                  portable: Bool) -> [(row: Int, score: Float)] {
        var found = [UInt32](repeating: 0, count: max(1, n))
        var scores = [Float](repeating: 0, count: max(1, n))
        let count = found.withUnsafeMutableBufferPointer { f in
            scores.withUnsafeMutableBufferPointer { s in
                portable
                    ? radb_scan_below_portable(query, qn, rows, squaredNorms, nil, n, d, threshold, f.baseAddress!,
                                               s.baseAddress!)
                    : radb_scan_below(query, qn, rows, squaredNorms, nil, n, d, threshold, f.baseAddress!,
                                      s.baseAddress!)
            }
        }
        return (0..<count).map { (Int(found[$0]), scores[$0]) }
    }

    /// True when the single-query kernel runs its AVX2/FMA path on this CPU.
    public static var singleQueryKernelUsesAVX2FMA: Bool { radb_kernels_use_avx2_fma() != 0 }

    /// A bound on |scored − exact| for any vector whose squared norm is at most `maxSquaredNorm`,
    /// given a query of squared norm `querySquaredNorm`.
    ///
    /// Derivation: the dot product over d terms (any summation order, with or without FMA) errs by
    /// at most γ_d·‖q‖‖x‖ ≤ γ_d·(‖q‖²+‖x‖²)/2 with γ_d = d·u/(1 − d·u), u = 2⁻²⁴; the stored norm may
    /// carry γ_d·‖x‖² (float accumulation); the three float additions add ≤ 3u·2(‖q‖²+‖x‖²); and the
    /// exact value is itself rounded once (u). We take 2γ_d + 8u as the coefficient, plus a tiny
    /// absolute term so that a zero bound never makes the certificate hinge on exact equality.
    ///
    /// FMA (the AVX2 single-query kernel): a fused multiply-add rounds once where multiply-then-add
    /// rounds twice, and γ_h·Σ|qᵢxᵢ| holds for any summation tree in which each term passes through
    /// at most h roundings. In that kernel (and the portable loop, and sgemm) every rounding on a
    /// term's path merges it with at least one other nonzero term or is its single product
    /// rounding, so h ≤ d and γ_d still covers it; adding to the zero-initialised accumulators is
    /// exact. Checked against a Double reference in `SingleQueryKernelTests`.
    @inlinable
    public static func roundingBound(dimension: Int, maxSquaredNorm: Float, querySquaredNorm: Float) -> Float {
        let u = 0x1p-24 as Double
        let du = Double(dimension) * u
        let gamma = du / (1 - du)
        let coefficient = 2 * gamma + 8 * u
        return Float(coefficient * (Double(maxSquaredNorm) + Double(querySquaredNorm))) + Float.leastNormalMagnitude
    }
}
