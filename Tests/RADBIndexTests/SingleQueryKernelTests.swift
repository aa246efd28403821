import Foundation
import RADBIndex
import XCTest

/// The single-query scan kernel (C, AVX2/FMA or portable) against a naive Double dot product, and
/// the full scan score against the exact distance, both within the documented rounding bounds.
final class SingleQueryKernelTests: XCTestCase {
    private typealias Kernel = (UnsafePointer<Float>, UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<Float>) -> Void

    private let kernels: [(name: String, run: Kernel)] = [
        ("dispatched", { L2Kernels.minusTwoDotProducts(query: $0, rows: $1, n: $2, dimension: $3, into: $4) }),
        ("portable", { L2Kernels.minusTwoDotProductsPortable(query: $0, rows: $1, n: $2, dimension: $3, into: $4) }),
        // The anchor kernel (four rows per step, then a one-row tail) with zero norms: the same −2 q·x.
        ("anchors", { q, rows, n, d, out in
            let zeros = [Float](repeating: 0, count: n)
            L2Kernels.normsMinusTwoDot(query: q, rows: rows, norms: zeros, n: n, dimension: d, into: out)
        }),
    ]

    /// γ_d = d·u / (1 − d·u), u = 2⁻²⁴.
    private func gamma(_ d: Int) -> Double {
        let du = Double(d) * 0x1p-24
        return du / (1 - du)
    }

    /// −2 q·x against Double, for dimensions covering every code path (32-wide, 8-wide, scalar tail)
    /// and magnitudes from 1e-3 to 1e3 with an offset that makes the terms cancel.
    func testDotProductsMatchDoubleWithinGammaBound() {
        let dims = [1, 3, 7, 8, 9, 31, 32, 33, 40, 100, 128, 129, 512, 515]
        var seed: UInt64 = 11
        for d in dims {
            for (scale, offset) in [(Float(1), Float(0)), (1e3, 0), (1e-3, 0), (1, 5)] {
                seed += 1
                let n = 37
                let q = TestData.gaussian(count: 1, dimension: d, seed: seed, scale: scale)
                let rows = TestData.gaussian(count: n, dimension: d, seed: seed &* 31, scale: scale, offset: offset)
                for kernel in kernels {
                    var out = [Float](repeating: .nan, count: n)
                    kernel.run(q, rows, n, d, &out)
                    for j in 0..<n {
                        var dot = 0.0, qq = 0.0, xx = 0.0
                        for i in 0..<d {
                            let a = Double(q[i]), b = Double(rows[j * d + i])
                            dot += a * b; qq += a * a; xx += b * b
                        }
                        // Bound on the float dot product (× 2, exact), plus slack for the Double reference.
                        let bound = 2 * gamma(d) * (qq * xx).squareRoot() * (1 + 1e-12) + 1e-300
                        let err = abs(Double(out[j]) - (-2 * dot))
                        XCTAssertLessThanOrEqual(err, bound,
                                                 "\(kernel.name) d=\(d) scale=\(scale) offset=\(offset) row \(j)")
                    }
                }
            }
        }
    }

    /// The scan score ‖x‖² + ‖q‖² − 2q·x the scanner computes stays within `roundingBound` of the
    /// exact distance `exactSquaredDistance` — including near-duplicates, where the score cancels.
    func testScanScoreWithinRoundingBoundOfExactDistance() {
        for d in [8, 33, 128, 512] {
            let n = 200
            let q = TestData.gaussian(count: 1, dimension: d, seed: UInt64(d), scale: 3, offset: 2)
            var rows = TestData.gaussian(count: n, dimension: d, seed: UInt64(d) + 99, scale: 3, offset: 2)
            // Half of the rows are the query plus tiny noise: exact distances near 0.
            let noise = TestData.gaussian(count: n / 2, dimension: d, seed: UInt64(d) + 7, scale: 1e-4)
            for j in 0..<n / 2 { for i in 0..<d { rows[j * d + i] = q[i] + noise[j * d + i] } }
            let qn = L2Kernels.squaredNorm(q, dimension: d)
            var norms = [Float](repeating: 0, count: n)
            L2Kernels.squaredNorms(rows, count: n, dimension: d, into: &norms)
            let eps = L2Kernels.roundingBound(dimension: d, maxSquaredNorm: norms.max()!, querySquaredNorm: qn)
            for kernel in kernels {
                var out = [Float](repeating: .nan, count: n)
                kernel.run(q, rows, n, d, &out)
                for j in 0..<n {
                    let score = out[j] + norms[j] + qn
                    let exact = rows.withUnsafeBufferPointer {
                        L2Kernels.exactSquaredDistance($0.baseAddress! + j * d, q, dimension: d)
                    }
                    XCTAssertLessThanOrEqual(abs(Double(score) - Double(exact)), Double(eps),
                                             "\(kernel.name) d=\(d) row \(j)")
                }
            }
        }
    }

    /// On a CPU that advertises AVX2 and FMA (Linux /proc/cpuinfo), the dispatcher picks that path.
    func testDispatchUsesAVX2FMAWhenTheCPUHasIt() throws {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            throw XCTSkip("no /proc/cpuinfo on this system; cannot tell which kernel to expect")
        }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        XCTAssertEqual(L2Kernels.singleQueryKernelUsesAVX2FMA, flags.contains("avx2") && flags.contains("fma"))
    }

    /// The fused scan step returns exactly the rows whose score is ≤ the threshold, each once (in an
    /// unspecified order: the AVX2 path interleaves four quarter streams), each score within the
    /// rounding bound of the exact distance — on both kernel paths, for dimensions covering the wide,
    /// narrow and scalar tails, run lengths with and without a tail after the quarters, and
    /// thresholds from none to all rows.
    func testScanBelowReturnsExactlyTheRowsUnderTheThresholdOnBothPaths() {
        for (d, n) in [(5, 300), (8, 63), (33, 301), (128, 300), (128, 515), (130, 302)] {
            let q = TestData.gaussian(count: 1, dimension: d, seed: UInt64(500 + d + n))
            let rows = TestData.gaussian(count: n, dimension: d, seed: UInt64(600 + d + n), scale: 1.2)
            let norms = (0..<n).map { j in rows[j * d ..< (j + 1) * d].withContiguousStorageIfAvailable {
                L2Kernels.squaredNorm($0.baseAddress!, dimension: d) }! }
            let qn = q.withUnsafeBufferPointer { L2Kernels.squaredNorm($0.baseAddress!, dimension: d) }
            let exact = (0..<n).map { j in
                rows.withUnsafeBufferPointer { L2Kernels.exactSquaredDistance($0.baseAddress! + j * d, q, dimension: d) }
            }
            let bound = L2Kernels.roundingBound(dimension: d, maxSquaredNorm: norms.max()!, querySquaredNorm: qn)
            let sortedExact = exact.sorted()
            for threshold in [-1, sortedExact[0], sortedExact[n / 10], sortedExact[n / 2], Float.infinity] {
                for portable in [false, true] {
                    let found = L2Kernels.scanBelow(query: q, querySquaredNorm: qn, rows: rows, squaredNorms: norms,
                                                    n: n, dimension: d, threshold: threshold, portable: portable)
                    let label = "d=\(d) threshold=\(threshold) portable=\(portable)"
                    let chosen = Set(found.map(\.row))
                    XCTAssertEqual(chosen.count, found.count, "a row returned twice: \(label)")
                    for (row, score) in found {
                        XCTAssertLessThanOrEqual(score, threshold, label)
                        XCTAssertLessThanOrEqual(abs(score - exact[row]), bound, label)
                    }
                    // Rows left out are provably above the threshold (up to the bound); clear cases must be in.
                    for j in 0..<n where !chosen.contains(j) { XCTAssertGreaterThan(exact[j], threshold - bound, label) }
                    for j in 0..<n where exact[j] < threshold - bound { XCTAssertTrue(chosen.contains(j), label) }
                }
            }
        }
    }
}
