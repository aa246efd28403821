import Dispatch
import Foundation
import RADBNeural

/// Trains an embedding head (mode a: a linear layer or small MLP on frozen, cached backbone
/// features) with CAM or a baseline loss, reproducibly and resumably.
///
/// Usage:
///
///     var config = TrainerConfiguration(); config.epochs = 20
///     let run = try Trainer(configuration: config).train(train: trainSet, test: testSet,
///                                                        checkpoint: URL(fileURLWithPath: "run.ckpt"))
///     print(run.summary)
///
/// Invariant: the state after epoch k depends only on the configuration, the data and k;
/// a run resumed from the checkpoint written after epoch k ends bit-identical to an
/// uninterrupted one (the checkpoint holds weights, loss parameters, optimiser moments, the
/// generator state and the step count).
public struct Trainer: Sendable {
    public var configuration: TrainerConfiguration

    public init(configuration: TrainerConfiguration) {
        self.configuration = configuration
    }

    // MARK: - Training

    /// Trains on `train`; `test` (optional) gives the per-epoch mAP of the learning curve and
    /// the final evaluation. Writes a checkpoint after every epoch when `checkpoint` is set and
    /// resumes from it when it already exists. `stopAfterEpochs` ends the run early (for tests
    /// and time-boxed jobs) after that many epochs in total, checkpoint written.
    public func train(train: LabeledFeatures, test: LabeledFeatures? = nil, checkpoint: URL? = nil,
                      stopAfterEpochs: Int? = nil,
                      progress: (@Sendable (TrainingProgress) -> Void)? = Trainer.printProgress,
                      isCancelled: (@Sendable () -> Bool)? = nil) throws -> TrainedHead {
        let cfg = configuration
        try cfg.validate()
        let classes = train.classNames.count
        guard classes >= 2 else { throw DatasetError.tooFewClasses(path: "training set", found: classes) }
        if let test, test.dimension != train.dimension {
            throw DatasetError.mismatchedDimensions(expected: train.dimension, found: test.dimension, path: "test set")
        }
        let started = DispatchTime.now().uptimeNanoseconds
        var state = TrainingState(configuration: cfg, inputDimension: train.dimension, classes: classes)
        let fingerprint = Trainer.fingerprint(cfg, train)
        if let checkpoint, FileManager.default.fileExists(atPath: checkpoint.path) {
            state = try TrainingState.load(from: checkpoint, configuration: cfg, fingerprint: fingerprint,
                                           inputDimension: train.dimension, classes: classes)
        }
        let batchesPerEpoch = Trainer.batches(for: train, cfg, using: &state.generator, dryRun: true).count
        let schedule = LearningRateSchedule.cosine(warmupSteps: cfg.warmupEpochs * batchesPerEpoch,
                                                   totalSteps: cfg.epochs * batchesPerEpoch, minimumFactor: 0.01)
        let curveQueries = test.map { t in Trainer.curveSubset(t, count: cfg.curveQueries) }
        let lastEpoch = min(cfg.epochs, stopAfterEpochs ?? cfg.epochs)
        var epochTimes: [Double] = []

        while state.epoch < lastEpoch {
            let epochStart = DispatchTime.now().uptimeNanoseconds
            let batches = Trainer.batches(for: train, cfg, using: &state.generator, dryRun: false)
            var lossSum: Double = 0
            var termSums: [String: Double] = [:]
            var termOrder: [String] = []
            for batch in batches {
                if isCancelled?() == true { throw TrainingError.cancelled }
                let x = train.subset(batch)
                let lr = schedule.rate(base: cfg.learningRate, step: state.step)
                let evaluation = state.step(x.features, labels: x.labels, learningRate: lr)
                guard evaluation.value.isFinite else { throw TrainingError.diverged(epoch: state.epoch + 1, step: state.step) }
                lossSum += Double(evaluation.value)
                for term in evaluation.terms {
                    if termSums[term.name] == nil { termOrder.append(term.name) }
                    termSums[term.name, default: 0] += Double(term.value)
                }
            }
            state.epoch += 1
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - epochStart) / 1e9
            epochTimes.append(seconds)
            var curveMAP: Double?
            if let curveQueries, curveQueries.count > 0 {
                let db = try state.embed(train)
                let q = try state.embed(curveQueries)
                curveMAP = RetrievalEvaluator.evaluate(database: db, queries: q).meanAveragePrecision
            }
            let n = Double(max(batches.count, 1))
            let record = EpochRecord(epoch: state.epoch, loss: lossSum / n,
                                     terms: termOrder.map { EpochRecord.Term(name: $0, value: termSums[$0]! / n) },
                                     curveMAP: curveMAP, seconds: seconds)
            state.history.append(record)
            if let checkpoint { try state.save(to: checkpoint, fingerprint: fingerprint) }
            let meanEpoch = epochTimes.reduce(0, +) / Double(epochTimes.count)
            progress?(TrainingProgress(record: record, epochs: cfg.epochs,
                                       learningRate: schedule.rate(base: cfg.learningRate, step: max(state.step - 1, 0)),
                                       itemsPerSecond: Double(batches.reduce(0) { $0 + $1.count }) / max(seconds, 1e-9),
                                       secondsRemaining: meanEpoch * Double(lastEpoch - state.epoch)))
        }
        let anchors = try state.anchors(for: train)
        var report: EvaluationReport?
        if let test, state.epoch == cfg.epochs {
            report = RetrievalEvaluator.evaluate(database: try state.embed(train), queries: try state.embed(test), anchors: anchors)
        }
        return TrainedHead(configuration: cfg, head: state.head, loss: state.loss, anchors: anchors,
                           classNames: train.classNames, history: state.history, report: report,
                           seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
    }

    /// One line per epoch on stderr: epoch, loss terms, throughput, ETA and the curve's mAP.
    public static let printProgress: @Sendable (TrainingProgress) -> Void = { p in
        FileHandle.standardError.write(Data((p.description + "\n").utf8))
    }

    // MARK: - Batching

    /// The batches of one epoch. Plain: a seeded permutation cut into batches (a final batch
    /// smaller than 2 is dropped). Class-balanced (`classesPerBatch` > 0): chunks of
    /// `batchSize / classesPerBatch` items of one class, shuffled and grouped, so that pair
    /// losses always see positives. `dryRun` counts batches without consuming randomness.
    static func batches(for set: LabeledFeatures, _ cfg: TrainerConfiguration, using rng: inout SeededGenerator,
                        dryRun: Bool) -> [[Int]] {
        var local = rng
        defer { if !dryRun { rng = local } }
        if cfg.classesPerBatch <= 0 {
            let order = Array(0..<set.count).shuffled(using: &local)
            return stride(from: 0, to: order.count, by: cfg.batchSize).compactMap { s in
                let batch = Array(order[s..<min(s + cfg.batchSize, order.count)])
                return batch.count >= 2 ? batch : nil
            }
        }
        let perClass = max(cfg.batchSize / cfg.classesPerBatch, 2)
        var chunks = [[Int]]()
        for group in set.indicesByClass where group.count >= 2 {
            let shuffled = group.shuffled(using: &local)
            chunks += stride(from: 0, to: shuffled.count - 1, by: perClass).map { Array(shuffled[$0..<min($0 + perClass, shuffled.count)]) }
        }
        chunks.shuffle(using: &local)
        return stride(from: 0, to: chunks.count, by: cfg.classesPerBatch).map { s in
            chunks[s..<min(s + cfg.classesPerBatch, chunks.count)].flatMap { $0 }
        }
    }

    /// An evenly spaced subset of the test queries for the per-epoch learning curve.
    static func curveSubset(_ test: LabeledFeatures, count: Int) -> LabeledFeatures {
        guard count > 0, count < test.count else { return count <= 0 ? test.subset([]) : test }
        let stride = Double(test.count) / Double(count)
        return test.subset((0..<count).map { Int(Double($0) * stride) })
    }

    /// Identifies the configuration and the training data a checkpoint belongs to.
    static func fingerprint(_ cfg: TrainerConfiguration, _ set: LabeledFeatures) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ v: UInt64) { h = (h ^ v) &* 0x100_0000_01b3 }
        for y in set.labels { mix(UInt64(y)) }
        for v in set.features.storage.prefix(100_000) { mix(UInt64(v.bitPattern)) }
        mix(UInt64(set.count)); mix(UInt64(set.dimension))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys  // key order must not vary between runs
        let json = (try? encoder.encode(cfg)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return json + "#" + String(h, radix: 16)
    }
}

// MARK: - Progress and history

/// What one finished epoch achieved.
public struct EpochRecord: Sendable, Codable, Equatable {
    public struct Term: Sendable, Codable, Equatable { public var name: String; public var value: Double }
    public var epoch: Int
    /// Mean total loss over the epoch's batches.
    public var loss: Double
    public var terms: [Term]
    /// mAP of the curve's query subset after the epoch.
    public var curveMAP: Double?
    public var seconds: Double
}

/// Reported after every epoch.
public struct TrainingProgress: Sendable, CustomStringConvertible {
    public var record: EpochRecord
    public var epochs: Int
    public var learningRate: Float
    public var itemsPerSecond: Double
    public var secondsRemaining: Double

    public var description: String {
        let terms = record.terms.count > 1 ? " (" + record.terms.map { "\($0.name) \(fmt($0.value))" }.joined(separator: ", ") + ")" : ""
        let map = record.curveMAP.map { "  mAP \(fmt($0))" } ?? ""
        return "epoch \(record.epoch)/\(epochs)  loss \(fmt(record.loss))\(terms)\(map)  lr \(String(format: "%.2e", learningRate))  "
            + "\(Int(itemsPerSecond)) items/s  ETA \(fmt(secondsRemaining, 1)) s"
    }
}
