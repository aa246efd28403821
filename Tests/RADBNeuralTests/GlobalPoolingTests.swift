import Foundation
import XCTest
import RADBNeural

/// The last pooling step of the backbone: average, GeM and their concatenation against the
/// formulas computed here in Float64, the metadata that selects them, and a real network whose
/// `avg+gem` output holds exactly its `avg` and `gem` outputs.
final class GlobalPoolingTests: XCTestCase {
    /// A ReLU6-like feature map [positions, channels] with some exact zeros (GeM clamps them to ε).
    func featureMap(positions: Int, channels: Int) -> [Float] {
        var rng = SystemRandomNumberGenerator()
        return (0..<(positions * channels)).map { _ in max(0, Float.random(in: -1...6, using: &rng)) }
    }

    func reference(_ x: [Float], positions: Int, channels: Int, p: Double?) -> [Double] {
        (0..<channels).map { c in
            let column = (0..<positions).map { Double(x[$0 * channels + c]) }
            guard let p else { return column.reduce(0, +) / Double(positions) }
            let eps = Double(GlobalPooling.epsilon)
            return Foundation.pow(column.map { Foundation.pow(max($0, eps), p) }.reduce(0, +) / Double(positions), 1 / p)
        }
    }

    func pooled(_ pooling: GlobalPooling, _ x: [Float], positions: Int, channels: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: pooling.outputWidth(channels: channels))
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
            pooling.forward(xp.baseAddress!, positions: positions, channels: channels, into: op.baseAddress!)
        } }
        return out
    }

    func testPoolingsMatchTheirFormulas() {
        let (positions, channels) = (49, 1280)
        let x = featureMap(positions: positions, channels: channels)
        // Tolerance: relative 1e-5 (Float32 sums of 49 terms, one pow/cbrt).
        func check(_ got: ArraySlice<Float>, _ expected: [Double], _ what: String) {
            XCTAssertEqual(got.count, expected.count)
            for (g, e) in zip(got, expected) { XCTAssertEqual(Double(g), e, accuracy: 1e-5 * max(1, abs(e)), what) }
        }
        check(pooled(.average, x, positions: positions, channels: channels)[...], reference(x, positions: positions, channels: channels, p: nil), "avg")
        for p: Float in [3, 2.5, 1] {
            check(pooled(.generalizedMean(p: p), x, positions: positions, channels: channels)[...],
                  reference(x, positions: positions, channels: channels, p: Double(p)), "gem p=\(p)")
        }
        let both = pooled(.averageAndGeneralizedMean(p: 3), x, positions: positions, channels: channels)
        check(both[0..<channels], reference(x, positions: positions, channels: channels, p: nil), "avg+gem, avg half")
        check(both[channels...], reference(x, positions: positions, channels: channels, p: 3), "avg+gem, gem half")
        // GeM lies between the mean and the maximum.
        let gem = pooled(.generalizedMean(p: 3), x, positions: positions, channels: channels)
        let avg = pooled(.average, x, positions: positions, channels: channels)
        for c in 0..<channels { XCTAssertGreaterThanOrEqual(gem[c], avg[c] * (1 - 1e-6)) }
    }

    func testMetadataSelectsThePoolingAndRejectsBadValues() throws {
        XCTAssertEqual(try GlobalPooling(metadata: [:], source: "m"), .average)
        XCTAssertEqual(try GlobalPooling(metadata: ["pooling": "gem"], source: "m"), .generalizedMean(p: 3))
        XCTAssertEqual(try GlobalPooling(metadata: ["pooling": "gem", "gem_p": "4.5"], source: "m"), .generalizedMean(p: 4.5))
        XCTAssertEqual(try GlobalPooling(metadata: ["pooling": "avg+gem"], source: "m"), .averageAndGeneralizedMean(p: 3))
        for bad in [["pooling": "max"], ["pooling": "gem", "gem_p": "0"], ["pooling": "gem", "gem_p": "nan"], ["pooling": "gem", "gem_p": "x"]] {
            XCTAssertThrowsError(try GlobalPooling(metadata: bad, source: "/tmp/m.safetensors"), "\(bad)") {
                XCTAssertTrue("\($0)".contains("/tmp/m.safetensors"), "\($0)")
            }
        }
    }

    /// The real MobileNetV2 with `pooling` in its metadata: features change width and values as the
    /// pooling says, and the concatenated pooling holds the two others.
    func testNetworkPoolsAsItsMetadataSays() throws {
        let file = try SafeTensorsFile(contentsOf: Repo.v2)
        let tensors: [(name: String, tensor: Tensor, dtype: SafeTensorsDType)] =
            try file.tensorNames.filter { !$0.hasPrefix("classifier") }.map { ($0, try file.tensor($0), .f32) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("radb-pooling-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func model(_ pooling: String) throws -> MobileNet {
            var meta = file.metadata
            meta["pooling"] = pooling
            let url = dir.appendingPathComponent("\(pooling).safetensors")
            try SafeTensorsFile.write(tensors, metadata: meta, to: url)
            return try MobileNet(contentsOf: url)
        }
        let (avg, gem, both) = (try model("avg"), try model("gem"), try model("avg+gem"))
        XCTAssertEqual(both.featureDim, 2560)
        var rng = SystemRandomNumberGenerator()
        let x = Tensor(shape: [2, 96, 96, 3], storage: (0..<(2 * 96 * 96 * 3)).map { _ in Float.random(in: -1...1, using: &rng) })
        let (fa, fg, fb) = (try avg.forward(x).features, try gem.forward(x).features, try both.forward(x).features)
        XCTAssertEqual(fb.shape, [2, 2560])
        for i in 0..<2 { for c in 0..<1280 {
            XCTAssertEqual(fb.storage[i * 2560 + c], fa.storage[i * 1280 + c], accuracy: 1e-5)
            XCTAssertEqual(fb.storage[i * 2560 + 1280 + c], fg.storage[i * 1280 + c], accuracy: 1e-5)
        } }
        XCTAssertGreaterThan(zip(fa.storage, fg.storage).map { abs($0 - $1) }.max()!, 1e-2, "GeM must differ from the mean")
    }
}
