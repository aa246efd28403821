import RADBStore
import XCTest

/// The eight-rows-at-a-time norm kernel the insert path uses must give, bit for bit, the norm
/// the store documents (a Float sum of squares in component order), which search code and
/// `check()` recompute.
final class SquaredNormTests: StoreTestCase {
    func testEightRowKernelMatchesTheSequentialSumBitForBit() {
        var rng = SplitMix(state: 77)
        for d in [1, 3, 7, 8, 9, 64, 128, 130, 512] {
            for count in [0, 1, 7, 8, 9, 16, 17, 41] {
                // Mixed magnitudes so that summation order matters to the last bit.
                let rows = (0..<count * d).map { i in Float.random(in: -1...1, using: &rng) * (i % 5 == 0 ? 1e3 : 1e-2) }
                var fast = [Float](repeating: .nan, count: count)
                rows.withUnsafeBufferPointer { r in
                    fast.withUnsafeMutableBufferPointer { squaredNorms(rows: r.baseAddress!, count: count, dimension: d, into: $0.baseAddress!) }
                }
                for i in 0..<count {
                    let slow = rows.withUnsafeBufferPointer { squaredNorm(UnsafeBufferPointer(rebasing: $0[i * d ..< (i + 1) * d])) }
                    XCTAssertEqual(fast[i].bitPattern, slow.bitPattern, "d \(d), row \(i) of \(count)")
                }
            }
        }
    }

    func testTheFirstBadVectorInBatchOrderIsNamed() throws {
        let store = try makeStore(dimension: 4)
        // Items 5 and 2 are bad; partition order would visit 5 (anchor 0) before 2 (anchor 9).
        var items = newItems(8, dimension: 4, anchors: 1, seed: 4)
        items[2].anchor = 9
        items[2].vector[3] = .nan
        items[5].vector[1] = .infinity
        assertStoreError(try store.insert(items)) { if case .nonFiniteVector(_, 2, 3) = $0 { return true }; return false }
        XCTAssertEqual(try store.stats().items, 0)
    }
}
