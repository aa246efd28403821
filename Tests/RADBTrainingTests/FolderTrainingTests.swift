import Foundation
import RADBNeural
import RADBTraining
import XCTest

/// `radb train` on a folder, end to end: real CIFAR-10 JPEGs, the packaged MobileNetV2, a
/// broken file mixed in, feature caching, and a model file the backbone loader accepts.
final class FolderTrainingTests: XCTestCase {
    func testTrainOnImageFolderWritesLoadableModelNeedsCIFARAndBackbone() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let cifar = repo.appendingPathComponent(".data/cifar10/train")
        let backbone = repo.appendingPathComponent("Sources/RADB/Resources/Models/mobilenet_v2_1.0_224.safetensors")
        guard FileManager.default.fileExists(atPath: cifar.path) else {
            throw XCTSkip("CIFAR-10 not unpacked at \(cifar.path) (run Tools/unpack-datasets.sh; needs ../shared)")
        }
        guard FileManager.default.fileExists(atPath: backbone.path) else { throw XCTSkip("no packaged backbone at \(backbone.path)") }

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("radb-folder-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        for cls in ["automobile", "frog"] {
            let files = try fm.contentsOfDirectory(atPath: cifar.appendingPathComponent(cls).path).sorted().prefix(9)
            for (i, f) in files.enumerated() {
                let split = i < 6 ? "train" : "test"
                let dir = root.appendingPathComponent("photos/\(split)/\(cls)")
                try fm.createDirectory(at: dir, withIntermediateDirectories: true)
                try fm.copyItem(at: cifar.appendingPathComponent("\(cls)/\(f)"), to: dir.appendingPathComponent(f))
            }
        }
        try Data("not a jpeg".utf8).write(to: root.appendingPathComponent("photos/train/frog/broken.jpg"))

        var config = TrainerConfiguration()
        config.embeddingDimension = 8
        config.epochs = 3
        config.batchSize = 4
        config.curveQueries = 0
        let output = root.appendingPathComponent("photos.safetensors")
        let cache = root.appendingPathComponent("cache")
        let result = try Trainer(configuration: config).train(folder: root.appendingPathComponent("photos"), backbone: backbone,
                                                              output: output, cacheDirectory: cache, progress: nil)
        XCTAssertEqual(result.trainCount, 12)
        XCTAssertEqual(result.testCount, 6)
        XCTAssertEqual(result.skipped.map(\.path), ["train/frog/broken.jpg"])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: cache.path).filter { $0.hasSuffix(".f32") }.count, 2)

        // The backbone loader accepts the trained file and sees the head's record.
        let net = try MobileNet(contentsOf: output)
        XCTAssertEqual(net.record.embeddingDim, 8)
        XCTAssertEqual(net.record.head, "linear")
        XCTAssertEqual(try net.file.tensor("anchors").shape, [2, 8])
        XCTAssertEqual(try net.file.tensor("head.0.weight").shape, [8, 1280])

        // Re-training reads the cached features (the broken file is no longer re-decoded).
        let again = try Trainer(configuration: config).train(folder: root.appendingPathComponent("photos"), backbone: backbone,
                                                             output: output, cacheDirectory: cache, progress: nil)
        XCTAssertTrue(again.skipped.isEmpty)
        XCTAssertEqual(again.trained.head, result.trained.head)
    }
}
