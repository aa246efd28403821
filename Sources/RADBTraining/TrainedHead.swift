import Foundation
import RADBNeural

/// The outcome of a head-training run: the head, its anchors and loss, the history and the
/// final evaluation — and the means to write it as a radb model file.
public struct TrainedHead: Sendable {
    public var configuration: TrainerConfiguration
    public var head: EmbeddingHead
    public var loss: any EmbeddingLoss
    /// [t, d]: CAM's learned anchors, or the class means of the training embeddings for baselines.
    public var anchors: Tensor
    public var classNames: [String]
    public var history: [EpochRecord]
    /// Evaluation on the test split after the last epoch (nil when no test split was given).
    public var report: EvaluationReport?
    public var seconds: Double

    public init(configuration: TrainerConfiguration, head: EmbeddingHead, loss: any EmbeddingLoss, anchors: Tensor,
                classNames: [String], history: [EpochRecord] = [], report: EvaluationReport? = nil, seconds: Double = 0) {
        self.configuration = configuration
        self.head = head
        self.loss = loss
        self.anchors = anchors
        self.classNames = classNames
        self.history = history
        self.report = report
        self.seconds = seconds
    }

    /// A few lines a person reads at the end of a run.
    public var summary: String {
        var lines = ["trained \(head.kind) head \(head.inputDimension)→\(head.outputDimension) with \(configuration.loss.rawValue) loss, "
            + "\(history.count) epochs in \(fmt(seconds, 1)) s, final loss \(history.last.map { fmt($0.loss) } ?? "-")"]
        if let report { lines.append(report.description) }
        return lines.joined(separator: "\n")
    }

    /// Writes the model file: the backbone's tensors and metadata (when `backbone` is given),
    /// plus `head.<i>.weight` [out, in], `head.<i>.bias` [out], `anchors` [t, d] and metadata
    /// `head`, `embedding_dim`, `class_names` (JSON array) and the loss settings.
    /// `metadata` adds (or overrides) header entries, e.g. the search a learned model prefers.
    public func writeModel(to url: URL, backbone: URL? = nil, metadata extra: [String: String] = [:]) throws {
        var archive = try backbone.map { try TensorArchive(contentsOf: $0) } ?? TensorArchive()
        // Keep only the backbone: a head replaces the backbone file's own head, anchors and
        // L2 / whitening stage (the head is trained on the raw pooled features).
        for name in archive.entries.keys where name.hasPrefix("head.") || name == "anchors" || name.hasPrefix("whiten.") {
            archive.entries[name] = nil
        }
        for key in ["l2_features", "l2_output"] { archive.metadata[key] = nil }
        for (name, t) in zip(head.parameterNames, head.parameters) { archive.set(name, t) }
        archive.set("anchors", anchors)
        archive.metadata["head"] = head.kind
        archive.metadata["head_widths"] = ([head.inputDimension] + head.layers.map(\.outFeatures)).map(String.init).joined(separator: ",")
        archive.metadata["embedding_dim"] = String(head.outputDimension)
        archive.metadata["class_names"] = String(decoding: try JSONSerialization.data(withJSONObject: classNames), as: UTF8.self)
        for (key, value) in loss.settings { archive.metadata["loss_" + key] = value }
        archive.metadata["loss"] = configuration.loss.rawValue
        archive.metadata["training"] = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
        if let report { archive.metadata["evaluation"] = String(decoding: try JSONEncoder().encode(report), as: UTF8.self) }
        for (key, value) in extra { archive.metadata[key] = value }
        try archive.write(to: url)
    }

    /// Reads the head and anchors back from a model file written by `writeModel`.
    public static func readHead(from url: URL) throws -> (head: EmbeddingHead, anchors: Tensor, classNames: [String]) {
        let archive = try TensorArchive(contentsOf: url)
        var layers = [Linear]()
        var i = 0
        while let w = archive.tensor("head.\(i).weight"), let b = archive.tensor("head.\(i).bias") {
            layers.append(Linear(weight: w, bias: b))
            i += 2
        }
        guard !layers.isEmpty, let anchors = archive.tensor("anchors") else {
            throw DatasetError.malformed(path: url.path, reason: "model has no head.0.weight/anchors tensors. Train a head first.")
        }
        let names = (try? JSONSerialization.jsonObject(with: Data((archive.metadata["class_names"] ?? "[]").utf8))) as? [String] ?? []
        return (EmbeddingHead(layers: layers), anchors, names)
    }
}
