import Foundation
import XCTest
import RADB
import RADBNeural
import RADBVision

/// The L2 / whitening stage a model file may carry after its backbone (EmbeddingPostprocess):
/// the Embedder's vectors equal the reference formula computed here from the same file's pooled
/// backbone features, for the packaged default model and a synthetic one; bad stages are refused.
final class EmbeddingPostprocessTests: XCTestCase {
    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("radb-postprocess-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Two synthetic photos (no shared files needed) of different content and shape.
    func images() -> [Image] {
        var a = Image(width: 300, height: 200, filledWith: RGB(200, 120, 40))
        for x in 0..<150 { for y in 0..<100 { a.setPixel(x: x, y: y, to: RGB(10, 200, 90)) } }
        var b = Image(width: 180, height: 260, filledWith: RGB(30, 30, 160))
        for x in 0..<180 { for y in stride(from: 0, to: 260, by: 7) { b.setPixel(x: x, y: y, to: RGB(250, 250, 250)) } }
        return [a, b]
    }

    typealias Entry = (name: String, tensor: Tensor, dtype: SafeTensorsDType)

    /// `file`'s tensors and metadata without the post-processing stage: the bare pooled backbone.
    func backboneOnly(_ file: SafeTensorsFile) throws -> (tensors: [Entry], metadata: [String: String]) {
        let tensors = try file.tensorNames.filter { !$0.hasPrefix("whiten.") }.map { ($0, try file.tensor($0), SafeTensorsDType.f32) }
        var meta = file.metadata
        meta["l2_features"] = nil
        meta["l2_output"] = nil
        let net = try MobileNet(file: file)
        meta["embedding_dim"] = String(net.featureDim)
        return (tensors, meta)
    }

    /// e = L2?(W · (L2?(f) − mean)), in Float64.
    func reference(_ f: [Float], mean: [Float]?, weight: Tensor?, l2Features: Bool, l2Output: Bool) -> [Double] {
        func l2(_ v: [Double]) -> [Double] { let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot(); return v.map { $0 / n } }
        var x = f.map(Double.init)
        if l2Features { x = l2(x) }
        if let mean, let weight {
            x = zip(x, mean).map { $0 - Double($1) }
            let d = x.count
            x = (0..<weight.shape[0]).map { o in (0..<d).reduce(0.0) { $0 + Double(weight.storage[o * d + $1]) * x[$1] } }
        }
        return l2Output ? l2(x) : x
    }

    func assertMatches(_ got: [Float], _ expected: [Double], _ what: String) {
        XCTAssertEqual(got.count, expected.count, what)
        // Tolerance: the stage runs in Float32 over up to 1280 products per output.
        let scale = expected.map(abs).max() ?? 1
        for (g, e) in zip(got, expected) { XCTAssertEqual(Double(g), e, accuracy: 2e-5 * max(scale, 1e-3), what) }
    }

    func testPackagedDefaultAppliesPoolingAndWhiteningAsItsFileSays() throws {
        let embedder = try Embedder()
        let file = try SafeTensorsFile(contentsOf: embedder.modelURL)
        XCTAssertNil(embedder.anchors, "the default model is generic: no class anchors")
        XCTAssertEqual(embedder.dimension, Int(file.metadata["embedding_dim"] ?? ""))
        let stripped = try backboneOnly(file)
        let url = try tempDir().appendingPathComponent("backbone.safetensors")
        try SafeTensorsFile.write(stripped.tensors, metadata: stripped.metadata, to: url)
        let backbone = try Embedder(modelURL: url)
        XCTAssertEqual(backbone.model.pooling, embedder.model.pooling)
        let hasWhitening = file.entry("whiten.mean") != nil
        XCTAssertTrue(hasWhitening, "the default ships a whitening stage (RESULTS.md, \"Default model\")")
        let mean = hasWhitening ? try file.tensor("whiten.mean").storage : nil
        let weight = hasWhitening ? try file.tensor("whiten.weight") : nil
        for (i, image) in images().enumerated() {
            let f = try backbone.embed(image: image)
            let expected = reference(f, mean: mean, weight: weight, l2Features: file.metadata["l2_features"] == "1",
                                     l2Output: file.metadata["l2_output"] == "1")
            assertMatches(try embedder.embed(image: image), expected, "default model, image \(i)")
        }
    }

    func testSyntheticWhiteningWithGeMMatchesTheFormula() throws {
        let base = try SafeTensorsFile(contentsOf: XCTUnwrap(Embedder.backboneModelURL))
        var tensors: [Entry] = try base.tensorNames.filter { !$0.hasPrefix("classifier") }.map { ($0, try base.tensor($0), .f32) }
        var meta = base.metadata
        meta["pooling"] = "gem"
        meta["gem_p"] = "3.0"
        let dir = try tempDir()
        let gemURL = dir.appendingPathComponent("gem.safetensors")
        try SafeTensorsFile.write(tensors, metadata: meta, to: gemURL)
        let gem = try Embedder(modelURL: gemURL)

        var rng = SystemRandomNumberGenerator()
        let mean = Tensor.randomNormal(shape: [1280], std: 0.01, using: &rng)
        let weight = Tensor.randomNormal(shape: [24, 1280], std: 0.1, using: &rng)
        tensors += [("whiten.mean", mean, .f32), ("whiten.weight", weight, .f32)]
        meta["embedding_dim"] = "24"
        for (l2In, l2Out) in [(true, true), (false, false), (true, false)] {
            meta["l2_features"] = l2In ? "1" : "0"
            meta["l2_output"] = l2Out ? "1" : "0"
            let url = dir.appendingPathComponent("whitened-\(l2In)-\(l2Out).safetensors")
            try SafeTensorsFile.write(tensors, metadata: meta, to: url)
            let embedder = try Embedder(modelURL: url)
            XCTAssertEqual(embedder.dimension, 24)
            let images = images()
            let batch = try embedder.embed(images: images)
            for (i, image) in images.enumerated() {
                let expected = reference(try gem.embed(image: image), mean: mean.storage, weight: weight, l2Features: l2In, l2Output: l2Out)
                assertMatches(batch[i], expected, "l2 \(l2In)/\(l2Out), image \(i)")
            }
        }
    }

    func testBadWhiteningStagesAreRefusedNamingTheFile() throws {
        let base = try SafeTensorsFile(contentsOf: XCTUnwrap(Embedder.backboneModelURL))
        let backbone: [Entry] = try base.tensorNames.filter { !$0.hasPrefix("classifier") }.map { ($0, try base.tensor($0), .f32) }
        let dir = try tempDir()
        var nanWeight = Tensor(shape: [8, 1280], repeating: 0.01)
        nanWeight.storage[17] = .nan
        var infMean = Tensor(shape: [1280], repeating: 0)
        infMean.storage[3] = .infinity
        let good = (mean: Tensor(shape: [1280], repeating: 0), weight: Tensor(shape: [8, 1280], repeating: 0.01))
        let head: [Entry] = [("head.0.weight", Tensor(shape: [8, 1280], repeating: 0), .f32), ("head.0.bias", Tensor(shape: [8], repeating: 0), .f32)]
        let cases: [(String, [Entry], [String: String], String)] = [
            ("mean of the wrong width", [("whiten.mean", Tensor(shape: [1024], repeating: 0), .f32), ("whiten.weight", good.weight, .f32)], [:], "whiten.mean"),
            ("weight of the wrong width", [("whiten.mean", good.mean, .f32), ("whiten.weight", Tensor(shape: [8, 1000], repeating: 0), .f32)], [:], "whiten.weight"),
            ("weight of rank 1", [("whiten.mean", good.mean, .f32), ("whiten.weight", Tensor(shape: [1280], repeating: 0), .f32)], [:], "whiten.weight"),
            ("NaN in the weight", [("whiten.mean", good.mean, .f32), ("whiten.weight", nanWeight, .f32)], [:], "NaN"),
            ("infinity in the mean", [("whiten.mean", infMean, .f32), ("whiten.weight", good.weight, .f32)], [:], "NaN or infinity"),
            ("mean without weight", [("whiten.mean", good.mean, .f32)], [:], "whiten.weight"),
            ("a bad L2 flag", [("whiten.mean", good.mean, .f32), ("whiten.weight", good.weight, .f32)], ["l2_output": "yes"], "l2_output"),
            ("a head and a whitening stage", [("whiten.mean", good.mean, .f32), ("whiten.weight", good.weight, .f32)] + head, ["head": "linear"], "both"),
            ("a bad pooling", [], ["pooling": "median", "embedding_dim": "1280"], "pooling"),
        ]
        for (i, (what, extra, overrides, needle)) in cases.enumerated() {
            var meta = base.metadata
            meta["embedding_dim"] = "8"
            for (k, v) in overrides { meta[k] = v }
            let url = dir.appendingPathComponent("bad-\(i).safetensors")
            try SafeTensorsFile.write(backbone + extra, metadata: meta, to: url)
            XCTAssertThrowsError(try Embedder(modelURL: url), what) {
                guard case let .badModel(path, reason)? = $0 as? EmbedderError else { return XCTFail("\(what): \($0)") }
                XCTAssertEqual(path, url.path, what)
                XCTAssertTrue(reason.contains(needle), "\(what): \(reason)")
                XCTAssertTrue("\($0)".contains(url.lastPathComponent), what)
            }
        }
    }
}
