import Foundation
import XCTest
import RADBNeural

/// Paths into the repository and ../shared, found from this file's location.
enum Repo {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("Fixtures/reference")
    static let models = root.appendingPathComponent("Sources/RADB/Resources/Models")
    static let v2 = models.appendingPathComponent("mobilenet_v2_1.0_224.safetensors")
    static let v1 = models.appendingPathComponent("mobilenet_v1_1.0_224_embedding.safetensors")
    static let shared = root.deletingLastPathComponent().appendingPathComponent("shared")
    static let tinyVal = root.appendingPathComponent(".data/tiny-imagenet-200-mini/val")

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }
}

/// A tiny deterministic generator so random tests are reproducible (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

func cosine(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
    return dot / ((na * nb).squareRoot() + 1e-30)
}

func argmax(_ a: ArraySlice<Float>) -> Int {
    var best = a.startIndex
    for i in a.indices where a[i] > a[best] { best = i }
    return best - a.startIndex
}

func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    XCTAssertEqual(a.shape, b.shape)
    return zip(a.storage, b.storage).map { abs($0 - $1) }.max() ?? 0
}
