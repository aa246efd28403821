import RADBIndex
import XCTest

/// The exact distance is part of radb's contract (results are ranked and reported by it, and exact
/// mode must equal a brute-force loop bit for bit), so its C kernel — AVX2 and portable — must
/// reproduce the documented summation order exactly, for every dimension shape.
final class ExactDistanceKernelTests: XCTestCase {
    /// The documented order written out naively: lane i mod 8 in Double, lanes combined pairwise.
    private func reference(_ a: [Float], _ b: [Float]) -> Float {
        var lane = [Double](repeating: 0, count: 8)
        for i in a.indices {
            let t = Double(a[i]) - Double(b[i])
            lane[i % 8] += t * t
        }
        return Float(((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7])))
    }

    func testBothPathsEqualTheDocumentedOrderBitForBit() {
        var seed: UInt64 = 400
        for d in [1, 2, 7, 8, 9, 15, 16, 17, 31, 64, 100, 128, 129, 511, 512, 1000] {
            for (scale, offset) in [(Float(1), Float(0)), (1e3, 0), (1e-3, 0), (1, 100)] {
                seed += 1
                let a = TestData.gaussian(count: 1, dimension: d, seed: seed, scale: scale, offset: offset)
                // b close to a: the differences cancel, where a fused or reordered sum would show.
                let b = zip(a, TestData.gaussian(count: 1, dimension: d, seed: seed + 1000, scale: scale * 1e-3))
                    .map { $0 + $1 }
                let expected = reference(a, b)
                let fast = L2Kernels.exactSquaredDistance(a, b, dimension: d)
                let portable = L2Kernels.exactSquaredDistancePortable(a, b, dimension: d)
                XCTAssertEqual(fast.bitPattern, expected.bitPattern, "dispatched kernel, d = \(d), scale \(scale)")
                XCTAssertEqual(portable.bitPattern, expected.bitPattern, "portable kernel, d = \(d), scale \(scale)")
            }
        }
    }

    func testMaxSquaredNormOverEveryLengthAndPosition() {
        for n in [0, 1, 5, 15, 16, 17, 33, 100] {
            for peak in 0..<max(1, n) {
                var norms = (0..<n).map { Float($0 % 7) * 0.5 }
                if n > 0 { norms[peak] = 1000 + Float(peak) }
                let expected = norms.max() ?? 0
                norms.withUnsafeBufferPointer {
                    XCTAssertEqual(L2Kernels.maxSquaredNorm($0), expected, "n = \(n), peak at \(peak)")
                }
            }
        }
    }
}
