import Foundation
import XCTest
import RADBNeural

/// The batched engine: every parallel schedule computes the same features, bad inputs throw,
/// extra tensors in a model file are tolerated, and a torchvision-style file with unfolded
/// BatchNorm loads (folded at load) to the same network.
final class MobileNetEngineTests: XCTestCase {
    func photos(_ model: MobileNet, count: Int) throws -> Tensor {
        let bytes = try Repo.bytes("photos_224_u8.bin").prefix(count * 150_528)
        return Tensor(shape: [count, 224, 224, 3], storage: bytes.map { Float($0) * model.record.inputScale + model.record.inputOffset })
    }

    /// An image's features are bit-identical whatever batch it is in, whatever its neighbours and
    /// whatever the lane count (fixed GEMM tiles per image, single-threaded BLAS).
    func testFeaturesAreBitIdenticalAcrossBatchesNeighboursAndLanes() throws {
        for url in [Repo.v2, Repo.v1] {
            let model = try MobileNet(contentsOf: url)
            let x = try photos(model, count: 5)
            let d = model.featureDim
            let reference = try model.forward(x, workers: 1).features
            for workers in [2, 3, 8] {
                XCTAssertEqual(try model.forward(x, workers: workers).features.storage, reference.storage,
                               "\(url.lastPathComponent): batch of 5, \(workers) lanes")
            }
            // Each image alone (lanes share its tiles) and inside other batches, in another order.
            for i in 0..<5 {
                let one = Tensor(shape: [1, 224, 224, 3], storage: Array(x.storage[150_528 * i..<150_528 * (i + 1)]))
                for workers in [1, 2] {
                    XCTAssertEqual(try model.forward(one, workers: workers).features.storage,
                                   Array(reference.storage[d * i..<d * (i + 1)]),
                                   "\(url.lastPathComponent): image \(i) alone, \(workers) lanes")
                }
            }
            let reversed = Tensor(shape: [3, 224, 224, 3], storage: Array(x.storage[150_528 * 2..<150_528 * 5]).chunked(150_528).reversed().flatMap { $0 })
            let r = try model.forward(reversed, workers: 2).features.storage
            XCTAssertEqual(Array(r[0..<d]), Array(reference.storage[d * 4..<d * 5]), "\(url.lastPathComponent): reordered batch")
        }
    }

    func testBadInputsThrow() throws {
        let model = try MobileNet(contentsOf: Repo.v1)
        XCTAssertThrowsError(try model.forward(Tensor(shape: [1, 224, 224, 4])))
        XCTAssertThrowsError(try model.forward(Tensor(shape: [224, 224, 3])))
        var nan = Tensor(shape: [1, 32, 32, 3])
        nan.storage[7] = .nan
        XCTAssertThrowsError(try model.forward(nan)) { XCTAssertTrue("\($0)".contains("NaN")) }
        // Other input sizes run (the network is fully convolutional).
        XCTAssertEqual(try model.forward(Tensor(shape: [2, 96, 128, 3])).features.shape, [2, 1024])
    }

    func testUnknownArchitectureAndMissingTensorsAreTypedErrors() throws {
        let record = ModelRecord(architecture: "resnet_9000", inputSize: 224, inputScale: 1, inputOffset: 0, embeddingDim: 8)
        let bytes = try SafeTensorsFile.serialize([("x", Tensor(shape: [1]), .f32)], metadata: record.metadata)
        XCTAssertThrowsError(try MobileNet(file: SafeTensorsFile(bytes: bytes, source: "r.safetensors"))) {
            XCTAssertEqual($0 as? ModelError, .unknownArchitecture(path: "r.safetensors", architecture: "resnet_9000"))
        }
        let v2 = ModelRecord(architecture: "mobilenet_v2", inputSize: 224, inputScale: 1, inputOffset: 0, embeddingDim: 1280)
        let empty = try SafeTensorsFile.serialize([("x", Tensor(shape: [1]), .f32)], metadata: v2.metadata)
        XCTAssertThrowsError(try MobileNet(file: SafeTensorsFile(bytes: empty, source: "e.safetensors"))) {
            XCTAssertEqual($0 as? SafeTensorsError, .missingTensor(path: "e.safetensors", tensor: "features.0.0.weight"))
        }
    }

    /// Re-export V1 with every conv's bias replaced by an explicit BatchNorm (torchvision layout:
    /// `features.0.1.*` after `features.0.0`) plus head tensors; it must load and compute the same.
    func testUnfoldedBatchNormAndExtraTensorsLoad() throws {
        let original = try SafeTensorsFile(contentsOf: Repo.v1)
        var tensors: [(name: String, tensor: Tensor, dtype: SafeTensorsDType)] = []
        var r = SeededGenerator(seed: 5)
        for name in original.tensorNames where name.hasSuffix(".weight") {
            let base = String(name.dropLast(".weight".count))
            let w = try original.tensor(name), b = try original.tensor(base + ".bias")
            let c = w.shape[0]
            // y = conv(x)·s + t with s random positive: store W/s … no — store W and BN(γ, β, μ, σ²) with
            // γ/√(σ²+ε) = 1, β − μ = b so the folded network equals the original.
            let variance = Tensor.randomUniform(shape: [c], in: 0.5...2, using: &r)
            let gamma = Tensor(shape: [c], storage: variance.storage.map { ($0 + 1e-5).squareRoot() })
            let mean = Tensor.randomNormal(shape: [c], std: 1, using: &r)
            let beta = Tensor(shape: [c], storage: zip(b.storage, mean.storage).map { $0 + $1 })
            let bn: String
            if base.hasSuffix(".0") { bn = String(base.dropLast()) + "1" } else { continue }
            tensors += [(name, w, .f32), (bn + ".weight", gamma, .f32), (bn + ".bias", beta, .f32),
                        (bn + ".running_mean", mean, .f32), (bn + ".running_var", variance, .f32)]
        }
        // Layers not named "<x>.0" (V1's depthwise/pointwise) keep weight + bias.
        for name in original.tensorNames where !tensors.contains(where: { $0.name == name }) && !name.hasPrefix("features.0.") {
            tensors.append((name, try original.tensor(name), .f32))
        }
        tensors.append(("head.0.weight", Tensor(shape: [4, 1024], repeating: 0.5), .f32))
        tensors.append(("anchors", Tensor(shape: [3, 4], repeating: 1), .f32))
        var meta = original.metadata
        meta["class_names"] = #"["a","b","c"]"#
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("radb-bn-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensorsFile.write(tensors, metadata: meta, to: url)

        let folded = try MobileNet(contentsOf: url), plain = try MobileNet(contentsOf: Repo.v1)
        XCTAssertNotNil(folded.file.entry("features.0.1.running_var"))
        XCTAssertEqual(try folded.file.tensor("anchors").shape, [3, 4])
        XCTAssertEqual(folded.record.metadata["class_names"], #"["a","b","c"]"#)
        let x = try photos(plain, count: 2)
        XCTAssertLessThan(maxAbsDifference(try folded.forward(x).features, try plain.forward(x).features), 1e-3)
    }
}

private extension Array {
    /// Consecutive pieces of `size` elements (the last may be shorter).
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min(count, $0 + size)]) }
    }
}
