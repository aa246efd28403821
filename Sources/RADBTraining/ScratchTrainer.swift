import Dispatch
import Foundation
import RADBNeural

/// Training mode (b): a `ResNetSmall` trained end to end from raw pixels of small images
/// (28–64 px) with CAM or a baseline loss, with random-crop-with-padding and horizontal-flip
/// augmentation. Seeded and deterministic; unlike head mode it keeps no resumable checkpoints —
/// the trained network and its anchors are written with `ScratchModelFile`.
public struct ScratchTrainer: Sendable {
    public var configuration: TrainerConfiguration
    public var imageSize: Int
    public var channels: Int
    public var widths: [Int] = [16, 32, 64]
    /// Pixels of zero padding for the random crop (0 = no crop augmentation).
    public var cropPadding = 4
    public var horizontalFlip = true
    /// Batch slices every layer of a training step is split into (concurrent when > 1; BLAS is
    /// then set to one thread so the two kinds of parallelism never stack); also the threads
    /// that rank the queries in the final evaluation.
    public var lanes = 1

    public init(configuration: TrainerConfiguration, imageSize: Int, channels: Int) {
        self.configuration = configuration
        self.imageSize = imageSize
        self.channels = channels
    }

    /// The network, its loss and the optimiser, with the generator positioned after initialisation.
    public func makeModel(classes: Int) -> (net: ResNetSmall, loss: any EmbeddingLoss, optimizer: any Optimizer, rng: SeededGenerator) {
        var rng = SeededGenerator(seed: configuration.seed)
        let net = ResNetSmall(inChannels: channels, widths: widths, embeddingDimension: configuration.embeddingDimension, using: &rng)
        let loss = configuration.makeLoss(classes: classes, using: &rng)
        return (net, loss, configuration.makeOptimizer(), rng)
    }

    /// One optimisation step on a batch x [B, H, W, C]; returns the loss evaluation.
    /// `workspace` keeps the step's buffers alive across steps (a fresh one is made when nil).
    public static func step(net: inout ResNetSmall, loss: inout any EmbeddingLoss, optimizer: inout any Optimizer,
                            x: Tensor, labels: [Int], learningRate: Float,
                            workspace: ResNetSmall.TrainingWorkspace? = nil) -> LossEvaluation {
        let (e, cache) = net.forwardTraining(x, workspace: workspace ?? ResNetSmall.TrainingWorkspace())
        let evaluation = loss.evaluate(embeddings: e, labels: labels)
        let netGrads = net.backward(cache: cache, outputGradient: evaluation.embeddingGradient)
        var params = net.parameters + loss.parameters
        optimizer.step(parameters: &params, gradients: netGrads + evaluation.parameterGradients, learningRate: learningRate)
        net.parameters = Array(params[0..<netGrads.count])
        if params.count > netGrads.count { loss.parameters = Array(params[netGrads.count...]) }
        return evaluation
    }

    /// Trains on pixel rows ([count, H·W·C], NHWC per row) and evaluates on `test`.
    public func train(train: LabeledFeatures, test: LabeledFeatures?,
                      progress: (@Sendable (TrainingProgress) -> Void)? = Trainer.printProgress) throws
        -> (net: ResNetSmall, anchors: Tensor, history: [EpochRecord], report: EvaluationReport?) {
        let cfg = configuration
        try cfg.validate()
        let pixels = imageSize * imageSize * channels
        guard train.dimension == pixels else {
            throw DatasetError.mismatchedDimensions(expected: pixels, found: train.dimension, path: "training images")
        }
        var (net, loss, optimizer, rng) = makeModel(classes: train.classNames.count)
        let steps = Trainer.batches(for: train, cfg, using: &rng, dryRun: true).count
        let schedule = LearningRateSchedule.cosine(warmupSteps: cfg.warmupEpochs * steps, totalSteps: cfg.epochs * steps, minimumFactor: 0.01)
        var history = [EpochRecord]()
        var step = 0
        if lanes > 1 { BLASThreads.set(1) }
        let workspace = ResNetSmall.TrainingWorkspace(lanes: lanes)
        for epoch in 1...cfg.epochs {
            let start = DispatchTime.now().uptimeNanoseconds
            var total = 0.0
            let batches = Trainer.batches(for: train, cfg, using: &rng, dryRun: false)
            for batch in batches {
                let x = augment(train.subset(batch).features.storage, count: batch.count, using: &rng)
                let ev = ScratchTrainer.step(net: &net, loss: &loss, optimizer: &optimizer, x: x, labels: batch.map { train.labels[$0] },
                                             learningRate: schedule.rate(base: cfg.learningRate, step: step),
                                             workspace: workspace)
                guard ev.value.isFinite else { throw TrainingError.diverged(epoch: epoch, step: step) }
                total += Double(ev.value)
                step += 1
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let record = EpochRecord(epoch: epoch, loss: total / Double(max(batches.count, 1)), terms: [], curveMAP: nil, seconds: seconds)
            history.append(record)
            progress?(TrainingProgress(record: record, epochs: cfg.epochs, learningRate: schedule.rate(base: cfg.learningRate, step: step - 1),
                                       itemsPerSecond: Double(train.count) / max(seconds, 1e-9),
                                       secondsRemaining: seconds * Double(cfg.epochs - epoch)))
        }
        let db = try embed(net, train)
        let anchors = (loss as? CAMLoss)?.anchors ?? RetrievalEvaluator.classMeans(of: db)
        let report = try test.map {
            RetrievalEvaluator.evaluate(database: db, queries: try embed(net, $0), anchors: anchors, lanes: lanes)
        }
        return (net, anchors, history, report)
    }

    /// Embeds pixel rows with running batch-norm statistics, 256 images at a time.
    public func embed(_ net: ResNetSmall, _ set: LabeledFeatures) throws -> LabeledFeatures {
        var out = [Float]()
        for s in stride(from: 0, to: set.count, by: 256) {
            let n = min(256, set.count - s)
            let x = Tensor(shape: [n, imageSize, imageSize, channels],
                           storage: Array(set.features.storage[(s * set.dimension)..<((s + n) * set.dimension)]))
            out += net.forward(x).storage
        }
        return try LabeledFeatures(features: Tensor(shape: [set.count, configuration.embeddingDimension], storage: out),
                                   labels: set.labels, classNames: set.classNames, origin: "embeddings")
    }

    /// Random crop with zero padding (shift by up to `cropPadding` pixels) and horizontal flip.
    func augment(_ rows: [Float], count: Int, using rng: inout SeededGenerator) -> Tensor {
        let s = imageSize, c = channels, pad = cropPadding
        var out = [Float](repeating: 0, count: rows.count)
        for n in 0..<count {
            let dx = pad > 0 ? Int.random(in: -pad...pad, using: &rng) : 0
            let dy = pad > 0 ? Int.random(in: -pad...pad, using: &rng) : 0
            let flip = horizontalFlip && Bool.random(using: &rng)
            let base = n * s * s * c
            for y in 0..<s {
                let sy = y + dy
                guard sy >= 0 && sy < s else { continue }
                for x in 0..<s {
                    var sx = x + dx
                    guard sx >= 0 && sx < s else { continue }
                    if flip { sx = s - 1 - sx }
                    for ch in 0..<c { out[base + (y * s + x) * c + ch] = rows[base + (sy * s + sx) * c + ch] }
                }
            }
        }
        return Tensor(shape: [count, s, s, c], storage: out)
    }
}
