import Foundation
import RADBNeural

/// Everything a head-training run changes as it goes — weights, loss parameters, optimiser
/// moments, the generator, counters and history — and its checkpoint format (a safetensors
/// archive, so a checkpoint is inspectable with the usual tools).
struct TrainingState {
    var head: EmbeddingHead
    var loss: any EmbeddingLoss
    var optimizer: any Optimizer
    var generator: SeededGenerator
    var epoch = 0
    var step = 0
    var history: [EpochRecord] = []

    init(configuration cfg: TrainerConfiguration, inputDimension: Int, classes: Int) {
        var rng = SeededGenerator(seed: cfg.seed)
        head = EmbeddingHead(widths: [inputDimension] + cfg.hiddenWidths + [cfg.embeddingDimension], using: &rng)
        loss = cfg.makeLoss(classes: classes, using: &rng)
        optimizer = cfg.makeOptimizer()
        generator = rng
    }

    // MARK: - One optimisation step

    /// x [B, in], labels [B] → the loss evaluation; updates head and loss parameters in place.
    mutating func step(_ x: Tensor, labels: [Int], learningRate: Float) -> LossEvaluation {
        let activations = head.forwardKeepingActivations(x)
        let evaluation = loss.evaluate(embeddings: activations[activations.count - 1], labels: labels)
        let headGradients = head.backward(activations: activations, outputGradient: evaluation.embeddingGradient).parameters
        let headCount = headGradients.count
        var parameters = head.parameters + loss.parameters
        optimizer.step(parameters: &parameters, gradients: headGradients + evaluation.parameterGradients,
                       learningRate: learningRate)
        head.parameters = Array(parameters[0..<headCount])
        if parameters.count > headCount { loss.parameters = Array(parameters[headCount...]) }
        step += 1
        return evaluation
    }

    func embed(_ set: LabeledFeatures) throws -> LabeledFeatures {
        try LabeledFeatures(features: head.embed(set.features), labels: set.labels, classNames: set.classNames,
                            paths: set.paths, origin: "embeddings")
    }

    /// CAM's learned anchors; for the baselines the class means of the training embeddings,
    /// so every loss can route the two-stage search.
    func anchors(for train: LabeledFeatures) throws -> Tensor {
        if let cam = loss as? CAMLoss { return cam.anchors }
        return RetrievalEvaluator.classMeans(of: try embed(train))
    }

    // MARK: - Checkpoints

    func save(to url: URL, fingerprint: String) throws {
        var archive = TensorArchive()
        for (name, t) in zip(head.parameterNames, head.parameters) { archive.set(name, t) }
        for (name, t) in zip(loss.parameterNames, loss.parameters) { archive.set("loss." + name, t) }
        for (i, t) in optimizer.state.enumerated() { archive.set("optimizer.\(i)", t) }
        archive.metadata = [
            "format": "radb-training-checkpoint-1",
            "fingerprint": fingerprint,
            "epoch": String(epoch),
            "step": String(step),
            "optimizer_slots": String(optimizer.state.count),
            "generator": generator.stateWords.map { String($0) }.joined(separator: ","),
            "history": String(decoding: try JSONEncoder().encode(history), as: UTF8.self),
        ]
        try archive.write(to: url)
    }

    static func load(from url: URL, configuration: TrainerConfiguration, fingerprint: String,
                     inputDimension: Int, classes: Int) throws -> TrainingState {
        let archive = try TensorArchive(contentsOf: url)
        guard archive.metadata["fingerprint"] == fingerprint else { throw TrainingError.checkpointMismatch(path: url.path) }
        var state = TrainingState(configuration: configuration, inputDimension: inputDimension, classes: classes)
        func need(_ name: String) throws -> Tensor {
            guard let t = archive.tensor(name) else {
                throw DatasetError.malformed(path: url.path, reason: "checkpoint lacks tensor \(name). Delete it and restart.")
            }
            return t
        }
        state.head.parameters = try state.head.parameterNames.map(need)
        if !state.loss.parameterNames.isEmpty { state.loss.parameters = try state.loss.parameterNames.map { try need("loss." + $0) } }
        let slots = Int(archive.metadata["optimizer_slots"] ?? "0") ?? 0
        if slots > 0 { state.optimizer.state = try (0..<slots).map { try need("optimizer.\($0)") } }
        let words = (archive.metadata["generator"] ?? "").split(separator: ",").compactMap { UInt64($0) }
        guard words.count == 4, let epoch = Int(archive.metadata["epoch"] ?? ""), let step = Int(archive.metadata["step"] ?? "") else {
            throw DatasetError.malformed(path: url.path, reason: "checkpoint metadata is incomplete. Delete it and restart.")
        }
        state.generator = SeededGenerator(stateWords: words)
        state.epoch = epoch
        state.step = step
        state.history = (try? JSONDecoder().decode([EpochRecord].self, from: Data((archive.metadata["history"] ?? "[]").utf8))) ?? []
        return state
    }
}
