import ArgumentParser
import Foundation
import RADB
import RADBNeural
import RADBTraining

/// `radb train`: learn an embedding head (and its class anchors) on a folder of labelled images.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an embedding head with class anchors on a folder of labelled images.",
        discussion: """
        DATASET holds one folder per class (DATASET/<class>/<image>), or train/ and test/ (or val/) \
        folders laid out that way. Backbone features are computed once with the backbone's own \
        preprocessing, then a head is trained on them with the chosen loss (CAM by default: \
        learned class anchors, attractor + repeller + minimum-norm terms). The output is a model \
        file for `radb init --model`, with a learning curve (MODEL.curve.svg) beside it. An \
        interrupted run resumes from MODEL.checkpoint.
        """)

    @Argument(help: ArgumentHelp("Folder of class folders (or train/ + test/).", valueName: "dataset"))
    var dataset: String

    @Option(help: ArgumentHelp("Where to write the trained model (.safetensors).", valueName: "model"))
    var out: String

    @Option(help: ArgumentHelp("Loss: cam, ce, contrastive, triplet or center.", valueName: "loss"))
    var loss: String = "cam"

    @Option(help: ArgumentHelp("Backbone model file (default: the built-in MobileNetV2).", valueName: "file"))
    var backbone: String?

    @Option(help: "Training epochs.")
    var epochs: Int = 30

    @Option(help: ArgumentHelp("Use only K training images per class (few-shot).", valueName: "k"))
    var shots: Int?

    @Option(help: "Embedding dimension d.")
    var dim: Int = 128

    @Option(help: "CAM margin m (anchors are pushed at least 2m apart).")
    var margin: Float = 1

    @Option(help: "CAM minimum anchor norm p.")
    var minNorm: Float = 1

    @Option(help: "Learning rate.")
    var lr: Float = TrainerConfiguration.headTraining.learningRate

    @Option(help: "AdamW weight decay (strong decay keeps a linear head from over-fitting few images; see RESULTS.md).")
    var weightDecay: Float = TrainerConfiguration.headTraining.weightDecay

    @Option(help: "Fraction of each class held out for evaluation when DATASET has no test/ folder.")
    var testFraction: Double = 0.2

    @Option(help: "Random seed (runs with the same seed and data are bit-identical).")
    var seed: UInt64 = 0

    @Flag(help: "Print the final evaluation as JSON on stdout.")
    var json = false

    func validate() throws {
        if LossKind(argument: loss) == nil {
            throw ValidationError("--loss must be one of cam, ce, contrastive, triplet, center (got \(loss))")
        }
        if epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if !(weightDecay >= 0) || !weightDecay.isFinite { throw ValidationError("--weight-decay must be a finite number ≥ 0") }
        if !(lr > 0) || !lr.isFinite { throw ValidationError("--lr must be a finite number > 0") }
        if let s = shots, s < 1 { throw ValidationError("--shots must be at least 1") }
        if !(0.01...0.9).contains(testFraction) { throw ValidationError("--test-fraction must be between 0.01 and 0.9") }
    }

    func run() throws {
        try reportingErrors {
            let root = URL(fileURLWithPath: dataset)
            let backboneURL = try backbone.map { URL(fileURLWithPath: $0) } ?? (Embedder.backboneModelURL).orThrow("the built-in model is missing from this build")
            let embedder = try Embedder(modelURL: backboneURL)
            var (trainSet, testSet): (LabeledFeatures, LabeledFeatures?)
            if let split = try ImageFolderDataset.trainTest(root: root) {
                var train = split.train
                if let shots { train = train.limited(perClass: shots) }
                trainSet = try features(of: train, embedder: embedder, what: "train")
                testSet = try features(of: split.test, embedder: embedder, what: "test")
            } else {
                let all = try features(of: ImageFolderDataset(root: root), embedder: embedder, what: "images")
                let parts = all.split(testFraction: testFraction, seed: seed)
                trainSet = shots.map { parts.train.fewShot(perClass: $0, seed: seed) } ?? parts.train
                testSet = parts.test
            }
            var config = TrainerConfiguration.headTraining
            config.weightDecay = weightDecay
            config.loss = LossKind(argument: loss)!
            config.epochs = epochs
            config.embeddingDimension = dim
            config.cam.margin = margin
            config.cam.minimumNorm = minNorm
            config.learningRate = lr
            config.seed = seed
            config.batchSize = min(config.batchSize, max(2, trainSet.count))
            if config.loss == .contrastive || config.loss == .triplet { config.classesPerBatch = min(16, trainSet.classNames.count) }
            let interrupted = InterruptFlag.install()
            let result = try Trainer(configuration: config).train(train: trainSet, test: testSet, output: URL(fileURLWithPath: out),
                                                                  backbone: backboneURL, isCancelled: { interrupted.isSet })
            if json, let r = result.report {
                Output.json(EvalCommand.json(r))
            } else {
                print(result.summary)
                print("model written to \(out) (learning curve: \(out).curve.svg)")
            }
        }
    }

    /// Backbone features of every readable image, via the same Embedder as ingest; unreadable
    /// images are skipped and reported on stderr.
    private func features(of data: ImageFolderDataset, embedder: Embedder, what: String) throws -> LabeledFeatures {
        try EvalCommand.embed(data, embedder: embedder, what: what)
    }
}

extension Optional {
    /// The wrapped value, or a `DatabaseError` saying what is missing.
    func orThrow(_ message: String) throws -> Wrapped {
        guard let value = self else { throw DatabaseError.underlying(message) }
        return value
    }
}
