import Foundation
import RADBNeural
import RADBTraining
import XCTest

/// A from-scratch ResNetSmall written with `ScratchModelFile` reads back as the same network:
/// same weights, same running batch-norm statistics, hence the same embeddings — and damaged or
/// foreign files are refused with the file's path.
final class ScratchModelFileTests: XCTestCase {
    /// A small network after two training steps, so the batch norms' running statistics and the
    /// weights differ from their initial values (a file that dropped them would embed differently).
    func trainedNetwork() -> (ResNetSmall, Tensor, Tensor) {
        var rng = SeededGenerator(seed: 11)
        var net = ResNetSmall(inChannels: 3, widths: [4, 6, 8], embeddingDimension: 5, using: &rng)
        let x = Tensor(shape: [6, 12, 12, 3], storage: (0..<(6 * 12 * 12 * 3)).map { _ in Float.random(in: 0...1, using: &rng) })
        var config = TrainerConfiguration()
        config.embeddingDimension = 5
        var loss = config.makeLoss(classes: 3, using: &rng)
        var optimizer = config.makeOptimizer()
        for _ in 0..<2 {
            _ = ScratchTrainer.step(net: &net, loss: &loss, optimizer: &optimizer, x: x, labels: [0, 1, 2, 0, 1, 2], learningRate: 1e-2)
        }
        return (net, (loss as! CAMLoss).anchors, x)
    }

    func testWrittenNetworkReadsBackWithIdenticalEmbeddings() throws {
        let (net, anchors, x) = trainedNetwork()
        XCTAssertNotEqual(net.stemBN.runningMean, Tensor(shape: [4]), "training must have moved the running statistics")
        let url = try temporaryDirectory("scratch").appendingPathComponent("models/net.safetensors")
        try ScratchModelFile.write(net, anchors: anchors, imageSize: 12, classNames: ["a", "b", "c"],
                                   metadata: ["loss": "cam"], to: url)
        let back = try ScratchModelFile.read(from: url)
        XCTAssertEqual(back.imageSize, 12)
        XCTAssertEqual(back.classNames, ["a", "b", "c"])
        XCTAssertEqual(back.metadata["loss"], "cam")
        XCTAssertEqual(back.anchors, anchors)
        XCTAssertEqual(back.net.parameters, net.parameters)
        XCTAssertEqual(back.net.blocks[2].shortcut?.bn.runningVar, net.blocks[2].shortcut?.bn.runningVar)
        XCTAssertEqual(back.net.forward(x).storage, net.forward(x).storage, "embeddings must be bit-identical")
    }

    func testWrongShapeMissingTensorAndForeignFileAreRefusedNamingTheFile() throws {
        let (net, anchors, _) = trainedNetwork()
        let dir = try temporaryDirectory("scratch")
        let url = dir.appendingPathComponent("net.safetensors")
        try ScratchModelFile.write(net, anchors: anchors, imageSize: 12, classNames: ["a", "b", "c"], to: url)

        var archive = try TensorArchive(contentsOf: url)
        archive.set("fc.bias", Tensor(shape: [4]))
        let wrongShape = dir.appendingPathComponent("wrong-shape.safetensors")
        try archive.write(to: wrongShape)
        XCTAssertThrowsError(try ScratchModelFile.read(from: wrongShape)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(wrongShape.path) && message.contains("fc.bias"), message)
        }

        archive = try TensorArchive(contentsOf: url)
        archive.entries["blocks.1.bn2.running_var"] = nil
        let missing = dir.appendingPathComponent("missing.safetensors")
        try archive.write(to: missing)
        XCTAssertThrowsError(try ScratchModelFile.read(from: missing)) { error in
            XCTAssertTrue("\(error)".contains("blocks.1.bn2.running_var"), "\(error)")
        }

        var foreign = TensorArchive()
        foreign.set("anchors", anchors)
        let other = dir.appendingPathComponent("head.safetensors")
        try foreign.write(to: other)
        XCTAssertThrowsError(try ScratchModelFile.read(from: other)) { error in
            XCTAssertEqual(error as? DatasetError,
                           .malformed(path: other.path, reason: "not a ResNetSmall model file (metadata model = none). "
                                      + "Re-create it with `radb-bench-train scratch … --save FILE`."))
        }
        XCTAssertThrowsError(try ScratchModelFile.read(from: dir.appendingPathComponent("absent.safetensors")))
    }
}
