import Foundation
import RADBNeural
import RADBTraining
import XCTest

/// Short real training runs on a Fashion-MNIST subset (installed by
/// `apt-get install dataset-fashion-mnist`): the loss must fall, retrieval must beat chance by
/// a wide margin, and a checkpointed run must resume to bit-identical weights.
final class TrainingRunTests: XCTestCase {
    func loadSubsetNeedsFashionMNIST() throws -> (train: LabeledFeatures, test: LabeledFeatures) {
        let dir = FashionMNIST.defaultDirectory
        guard FileManager.default.fileExists(atPath: dir + "/train-labels-idx1-ubyte.gz")
                || FileManager.default.fileExists(atPath: dir + "/train-labels-idx1-ubyte") else {
            throw XCTSkip("Fashion-MNIST not installed at \(dir) (apt-get install -y dataset-fashion-mnist)")
        }
        return (try FashionMNIST.load(split: "train", limit: 3000), try FashionMNIST.load(split: "t10k", limit: 1000))
    }

    func testFashionMNISTLoaderReadsRealIdxFiles() throws {
        let (train, test) = try loadSubsetNeedsFashionMNIST()
        XCTAssertEqual(train.dimension, 784)
        XCTAssertEqual(train.count, 3000)
        XCTAssertEqual(test.count, 1000)
        XCTAssertEqual(Set(train.labels), Set(0..<10))
        XCTAssertTrue(train.features.storage.allSatisfy { $0 >= 0 && $0 <= 1 })
        // The first training image of Fashion-MNIST is an ankle boot (label 9).
        XCTAssertEqual(train.labels[0], 9)
    }

    func testCAMHeadTrainingReducesLossAndBeatsChanceNeedsFashionMNIST() throws {
        let (train, test) = try loadSubsetNeedsFashionMNIST()
        var config = TrainerConfiguration()
        config.embeddingDimension = 32
        config.hiddenWidths = [128]
        config.epochs = 6
        config.batchSize = 128
        config.learningRate = 3e-3
        config.curveQueries = 200
        let dir = try temporaryDirectory("train")
        let model = dir.appendingPathComponent("fmnist.safetensors")
        let result = try Trainer(configuration: config).train(train: train, test: test, output: model, progress: nil)
        let first = result.history.first!.loss, last = result.history.last!.loss
        XCTAssertLessThan(last, first * 0.5, "loss \(first) → \(last)")
        let report = try XCTUnwrap(result.report)
        // Chance mAP with 10 balanced classes is ≈ 0.1; a real embedding is far above it.
        XCTAssertGreaterThan(report.meanAveragePrecision, 0.5, report.description)
        XCTAssertGreaterThan(report.anchorAccuracy ?? 0, 0.6, report.description)
        XCTAssertGreaterThan(report.precisionAt10, 0.6, report.description)

        // The model file holds the head and anchors in torch layout, plus the metadata.
        let archive = try TensorArchive(contentsOf: model)
        XCTAssertEqual(archive.entries["head.0.weight"]?.shape, [128, 784])
        XCTAssertEqual(archive.entries["head.2.weight"]?.shape, [32, 128])
        XCTAssertEqual(archive.entries["anchors"]?.shape, [10, 32])
        XCTAssertEqual(archive.metadata["head"], "mlp")
        XCTAssertEqual(archive.metadata["embedding_dim"], "32")
        XCTAssertEqual(archive.metadata["loss_margin"], "1.0")
        let (head, anchors, names) = try TrainedHead.readHead(from: model)
        XCTAssertEqual(head, result.head)
        XCTAssertEqual(anchors, result.anchors)
        XCTAssertEqual(names, FashionMNIST.classNames)
        let svg = try String(contentsOf: model.appendingPathExtension("curve.svg"), encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("polyline"))
    }

    func testEveryBaselineLossTrainsNeedsFashionMNIST() throws {
        let (train, test) = try loadSubsetNeedsFashionMNIST()
        for loss in [LossKind.ce, .contrastive, .triplet, .centre] {
            var config = TrainerConfiguration()
            config.loss = loss
            config.embeddingDimension = 16
            config.epochs = 3
            config.batchSize = 128
            config.learningRate = 3e-3
            config.curveQueries = 0
            config.classesPerBatch = [.contrastive, .triplet].contains(loss) ? 8 : 0
            let result = try Trainer(configuration: config).train(train: train, test: test, progress: nil)
            XCTAssertGreaterThan(result.report!.meanAveragePrecision, 0.3, "\(loss): \(result.report!)")
        }
    }

    func testCheckpointResumeGivesIdenticalWeightsNeedsFashionMNIST() throws {
        let (train, _) = try loadSubsetNeedsFashionMNIST()
        var config = TrainerConfiguration()
        config.embeddingDimension = 16
        config.hiddenWidths = [32]
        config.epochs = 4
        config.batchSize = 100
        config.curveQueries = 0
        config.seed = 1234
        let dir = try temporaryDirectory("train")
        let trainer = Trainer(configuration: config)
        let straight = try trainer.train(train: train, checkpoint: dir.appendingPathComponent("a.ckpt"), progress: nil)

        let resumedCheckpoint = dir.appendingPathComponent("b.ckpt")
        let half = try trainer.train(train: train, checkpoint: resumedCheckpoint, stopAfterEpochs: 2, progress: nil)
        XCTAssertEqual(half.history.count, 2)
        XCTAssertNotEqual(half.head, straight.head)
        let resumed = try trainer.train(train: train, checkpoint: resumedCheckpoint, progress: nil)
        XCTAssertEqual(resumed.history.count, 4)
        XCTAssertEqual(resumed.head, straight.head, "resumed weights must be bit-identical")
        XCTAssertEqual(resumed.anchors, straight.anchors)
        XCTAssertEqual(resumed.history.map(\.loss), straight.history.map(\.loss))

        // Same seed, fresh run: identical; another seed: different.
        XCTAssertEqual(try trainer.train(train: train, progress: nil).head, straight.head)
        var other = config
        other.seed = 99
        XCTAssertNotEqual(try Trainer(configuration: other).train(train: train, progress: nil).head, straight.head)

        // A checkpoint from another configuration is refused, not silently reused.
        var changed = config
        changed.learningRate = 0.5
        XCTAssertThrowsError(try Trainer(configuration: changed).train(train: train, checkpoint: resumedCheckpoint, progress: nil)) {
            XCTAssertEqual($0 as? TrainingError, .checkpointMismatch(path: resumedCheckpoint.path))
        }
    }

    func testFewShotAndSeededSplitNeedsFashionMNIST() throws {
        let (train, _) = try loadSubsetNeedsFashionMNIST()
        let few = train.fewShot(perClass: 5, seed: 3)
        XCTAssertEqual(few.count, 50)
        XCTAssertEqual(few.indicesByClass.map(\.count), [Int](repeating: 5, count: 10))
        XCTAssertEqual(few.labels, train.fewShot(perClass: 5, seed: 3).labels)
        let (a, b) = train.split(testFraction: 0.2, seed: 1)
        XCTAssertEqual(a.count + b.count, train.count)
        XCTAssertEqual(Double(b.count), Double(train.count) * 0.2, accuracy: 10)
    }
}
