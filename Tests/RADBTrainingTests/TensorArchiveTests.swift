import Foundation
import RADBNeural
import RADBTraining
import XCTest

/// TensorArchive reads and writes through RADBNeural's SafeTensorsFile: F16 tensors pass through
/// byte for byte, new tensors are F32, and damaged files fail with the file's path.
final class TensorArchiveTests: XCTestCase {
    func testF16TensorsPassThroughUnchangedAndF32TensorsRoundTrip() throws {
        let dir = try temporaryDirectory("archive")
        let source = dir.appendingPathComponent("backbone.safetensors")
        // 1/3 is not representable in F16: a converting round trip would still give the same
        // half bits, but a dtype change (F16 → F32) would show in the entry and the byte count.
        let half = Tensor(shape: [2, 3], storage: [1, -2, 0.5, 1.0 / 3.0, 65504, -0.0])
        try SafeTensorsFile.write([("features.w", half, .f16)], metadata: ["architecture": "test"], to: source)
        let originalBytes = try SafeTensorsFile(contentsOf: source).raw("features.w").bytes

        var archive = try TensorArchive(contentsOf: source)
        XCTAssertEqual(archive.metadata["architecture"], "test")
        let anchors = Tensor(shape: [2, 2], storage: [0.1, -3.25, 7, 1e-7])
        archive.set("anchors", anchors)
        archive.metadata["head"] = "linear"
        let out = dir.appendingPathComponent("model.safetensors")
        try archive.write(to: out)

        let reread = try SafeTensorsFile(contentsOf: out)
        XCTAssertEqual(reread.entry("features.w")?.dtype, .f16)
        XCTAssertEqual(try reread.raw("features.w").bytes, originalBytes, "F16 bytes must be copied, not re-encoded")
        XCTAssertEqual(reread.entry("anchors")?.dtype, .f32)
        XCTAssertEqual(try reread.tensor("anchors"), anchors)
        XCTAssertEqual(reread.metadata["head"], "linear")
        XCTAssertEqual(reread.metadata["architecture"], "test")
        // Values read back through the archive are converted to Float whatever the dtype.
        XCTAssertEqual(try TensorArchive(contentsOf: out).tensor("features.w")?.storage[3] ?? 0, 1.0 / 3.0, accuracy: 1e-3)
        // Writing is deterministic: the same archive gives the same bytes.
        let again = dir.appendingPathComponent("again.safetensors")
        try TensorArchive(contentsOf: out).write(to: again)
        XCTAssertEqual(try Data(contentsOf: again), try Data(contentsOf: out))
    }

    func testDamagedFilesFailWithTheirPath() throws {
        let dir = try temporaryDirectory("archive")
        let good = dir.appendingPathComponent("good.safetensors")
        try SafeTensorsFile.write([("w", Tensor(shape: [4], storage: [1, 2, 3, 4]), .f32)], to: good)
        let bytes = try Data(contentsOf: good)
        let truncated = dir.appendingPathComponent("truncated.safetensors")
        try bytes.prefix(bytes.count - 3).write(to: truncated)
        XCTAssertThrowsError(try TensorArchive(contentsOf: truncated)) { error in
            guard case .truncated(let path, _, _)? = error as? SafeTensorsError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, truncated.path)
        }
        let missing = dir.appendingPathComponent("missing.safetensors")
        XCTAssertThrowsError(try TensorArchive(contentsOf: missing)) { error in
            XCTAssertTrue("\(error)".contains(missing.path), "\(error)")
        }
        XCTAssertThrowsError(try SafeTensorsRawTensor(dtype: .f32, shape: [3], bytes: [0, 0, 0, 0]))
    }

    /// A trained head written over the packaged F16 backbone keeps every backbone tensor
    /// byte-identical, and the result still loads as a MobileNet (what the Embedder does).
    func testModelFileOverThePackagedBackboneKeepsItsWeights() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let backbone = root.appendingPathComponent("Sources/RADB/Resources/Models/mobilenet_v2_1.0_224.safetensors")
        guard FileManager.default.fileExists(atPath: backbone.path) else { throw XCTSkip("no packaged backbone at \(backbone.path)") }
        var rng = SeededGenerator(seed: 5)
        let head = EmbeddingHead(widths: [1280, 8], using: &rng)
        let trained = TrainedHead(configuration: TrainerConfiguration(), head: head,
                                  loss: CAMLoss(classes: 3, dimension: 8, using: &rng),
                                  anchors: Tensor(shape: [3, 8], storage: (0..<24).map { Float($0) / 10 }),
                                  classNames: ["a", "b", "c"], history: [], report: nil, seconds: 0)
        let out = try temporaryDirectory("archive").appendingPathComponent("model.safetensors")
        try trained.writeModel(to: out, backbone: backbone)

        let original = try SafeTensorsFile(contentsOf: backbone), written = try SafeTensorsFile(contentsOf: out)
        for name in original.tensorNames {
            XCTAssertEqual(try written.raw(name), try original.raw(name), name)
        }
        XCTAssertEqual(try written.tensor("head.0.weight"), head.layers[0].weight)
        XCTAssertEqual(written.metadata["embedding_dim"], "8")
        XCTAssertEqual(written.metadata["head"], "linear")
        XCTAssertEqual(written.metadata["weights_dtype"], original.metadata["weights_dtype"])
        XCTAssertNoThrow(try MobileNet(contentsOf: out))
        let (readHead, anchors, names) = try TrainedHead.readHead(from: out)
        XCTAssertEqual(readHead, head)
        XCTAssertEqual(anchors, trained.anchors)
        XCTAssertEqual(names, ["a", "b", "c"])
    }
}
