import Foundation

/// A MobileNet (V1 or V2) image backbone loaded from a radb model file, ready for batched
/// inference on the CPU.
///
/// It exists because radb computes embeddings itself: the converted TFLite weights (or a
/// torchvision state dict with a radb model record) become convolutions whose batch norms are
/// folded into the weights at load, so a forward pass is GEMMs, a SIMD depthwise kernel and
/// fused bias/ReLU6 epilogues. The layer names follow torchvision (`features.0.0.weight`,
/// `features.1.conv.0.0.weight`, …, `classifier.1.weight`); tensors the backbone does not use
/// (a trained `head.*`, `anchors`) stay reachable through `file`.
///
///     let model = try MobileNet(contentsOf: url)
///     let out = try model.forward(images)          // images: [N, 224, 224, 3], normalised
///     print(out.features.shape, out.logits?.shape ?? [])
///
/// Throws `SafeTensorsError` for an unreadable container and `ModelError` for a bad record or an
/// unsupported architecture. Instances are immutable and safe to share between threads.
/// `@unchecked Sendable`: its weights are `let`s never written after loading, and every forward
/// pass takes its own scratch memory from `arenas` (an `ArenaPool`, which locks).
public final class MobileNet: @unchecked Sendable {
    public enum Architecture: String, Sendable { case mobileNetV1 = "mobilenet_v1", mobileNetV2 = "mobilenet_v2" }

    /// The parsed model record (`__metadata__`).
    public let record: ModelRecord
    public let architecture: Architecture
    /// The whole weight file, for tensors beyond the backbone (`head.*`, `anchors`).
    public let file: SafeTensorsFile
    /// Width of the pooled backbone features (1280 for V2, 1024 for V1; twice that for `avg+gem`).
    public let featureDim: Int
    /// How the last feature map becomes the feature vector (metadata `pooling`, `gem_p`; default average).
    public let pooling: GlobalPooling
    /// The ImageNet classifier as a [classes, featureDim] matrix and bias, when the file has one.
    public let classifier: (weight: Tensor, bias: Tensor)?

    // MARK: - Layers (BN folded)
    let stem: Conv2D
    let blocks: [MobileNetBlock]
    let last: Conv2D?
    let arenas = ArenaPool()

    // MARK: - Loading

    /// Loads the model file at `url`.
    public convenience init(contentsOf url: URL) throws {
        try self.init(file: try SafeTensorsFile(contentsOf: url))
    }

    /// Builds the network from a parsed weight file.
    public init(file: SafeTensorsFile) throws {
        self.file = file
        record = try ModelRecord(metadata: file.metadata, source: file.source)
        guard let arch = Architecture(rawValue: record.architecture) else {
            throw ModelError.unknownArchitecture(path: file.source, architecture: record.architecture)
        }
        architecture = arch
        let padding: Padding
        switch file.metadata["padding"] ?? "tf_same" {
        case "tf_same": padding = .same
        case "symmetric": padding = .symmetric(1)
        case let other: throw ModelError.badRecord(path: file.source, reason: "padding '\(other)' is not tf_same or symmetric")
        }
        let loader = LayerLoader(file: file, padding: padding)
        stem = try loader.conv("features.0.0", stride: 2, inChannels: 3, kernel: 3)
        switch arch {
        case .mobileNetV2:
            var blocks = [MobileNetBlock]()
            blocks.append(MobileNetBlock(expand: nil,
                                         depthwise: try loader.depthwise("features.1.conv.0.0", stride: 1),
                                         project: try loader.conv("features.1.conv.1", stride: 1),
                                         projectActivation: .identity, residual: false))
            let strides = [2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]
            for (i, s) in zip(2...17, strides) {
                let expand = try loader.conv("features.\(i).conv.0.0", stride: 1)
                let project = try loader.conv("features.\(i).conv.2", stride: 1)
                blocks.append(MobileNetBlock(expand: expand,
                                             depthwise: try loader.depthwise("features.\(i).conv.1.0", stride: s),
                                             project: project, projectActivation: .identity,
                                             residual: s == 1 && expand.inChannels == project.outChannels))
            }
            self.blocks = blocks
            last = try loader.conv("features.18.0", stride: 1)
        case .mobileNetV1:
            let strides = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
            blocks = try zip(1...13, strides).map { i, s in
                MobileNetBlock(expand: nil, depthwise: try loader.depthwise("features.\(i).depthwise", stride: s),
                               project: try loader.conv("features.\(i).pointwise", stride: 1),
                               projectActivation: .relu6, residual: false)
            }
            last = nil
        }
        pooling = try GlobalPooling(metadata: file.metadata, source: file.source)
        featureDim = pooling.outputWidth(channels: last?.outChannels ?? blocks.last!.project.outChannels)
        try loader.checkChain(stem: stem, blocks: blocks, last: last)
        if file.entry("classifier.1.weight") != nil {
            let w = try file.tensor("classifier.1.weight")
            guard w.rank == 2, w.shape[1] == featureDim else {
                throw SafeTensorsError.shapeMismatch(path: file.source, tensor: "classifier.1.weight", expected: [-1, featureDim], actual: w.shape)
            }
            classifier = (w, try file.tensor("classifier.1.bias", expectedShape: [w.shape[0]]))
        } else {
            classifier = nil
        }
    }
}

/// One MobileNet stage: [expand 1×1, ReLU6] → depthwise 3×3, ReLU6 → project 1×1 [+ shortcut].
/// V1's depthwise-separable pair is the same shape without expansion, with a ReLU6 projection.
struct MobileNetBlock: Sendable {
    var expand: Conv2D?
    var depthwise: DepthwiseConv2D
    var project: Conv2D
    var projectActivation: Activation
    var residual: Bool
}

/// Reads conv weights by torchvision name, converting PyTorch layouts and folding a following
/// BatchNorm (`<prefix>.<k+1>.running_mean` …) when the file still has one.
private struct LayerLoader {
    let file: SafeTensorsFile
    let padding: Padding

    /// Largest channel count of any layer (MobileNet's widest is 1280; ×6 for wide variants).
    static let maximumChannels = 8192

    /// A conv whose weight is [out, in, kernel, kernel] (torchvision layout): MobileNet's stem is
    /// 3×3 and every other full conv 1×1, so another kernel (a 0×0 one would crash the forward
    /// pass) is refused here, with every width bounded.
    func conv(_ name: String, stride: Int, inChannels: Int? = nil, kernel: Int = 1) throws -> Conv2D {
        let w = try file.tensor(name + ".weight")
        guard w.rank == 4, inChannels == nil || w.shape[1] == inChannels, w.shape[2] == kernel, w.shape[3] == kernel,
              (1...Self.maximumChannels).contains(w.shape[0]), (1...Self.maximumChannels).contains(w.shape[1]) else {
            throw SafeTensorsError.shapeMismatch(path: file.source, tensor: name + ".weight",
                                                 expected: [-1, inChannels ?? -1, kernel, kernel], actual: w.shape)
        }
        try requireFinite(w, name + ".weight")
        let b = try bias(name, w.shape[0])
        let conv = Conv2D(pytorchWeight: w, bias: b, stride: stride, padding: w.shape[2] == 1 ? .valid : padding)
        return try batchNorm(after: name, channels: w.shape[0]).map { conv.folding($0) } ?? conv
    }

    func depthwise(_ name: String, stride: Int) throws -> DepthwiseConv2D {
        let w = try file.tensor(name + ".weight")
        guard w.rank == 4, w.shape[1] == 1, w.shape[2] == 3, w.shape[3] == 3, (1...Self.maximumChannels).contains(w.shape[0]) else {
            throw SafeTensorsError.shapeMismatch(path: file.source, tensor: name + ".weight", expected: [-1, 1, 3, 3], actual: w.shape)
        }
        try requireFinite(w, name + ".weight")
        let c = w.shape[0]
        var dw = DepthwiseConv2D(pytorchWeight: w, bias: try bias(name, c), stride: stride, padding: padding)
        if let bn = try batchNorm(after: name, channels: c) {
            for ch in 0..<c {
                let s = bn.gamma.storage[ch] / (bn.runningVar.storage[ch] + bn.epsilon).squareRoot()
                for i in Swift.stride(from: ch, to: dw.weight.count, by: c) { dw.weight.storage[i] *= s }
                dw.bias.storage[ch] = (dw.bias.storage[ch] - bn.runningMean.storage[ch]) * s + bn.beta.storage[ch]
            }
        }
        return dw
    }

    private func bias(_ name: String, _ c: Int) throws -> Tensor? {
        guard file.entry(name + ".bias") != nil else { return nil }
        let b = try file.tensor(name + ".bias", expectedShape: [c])
        try requireFinite(b, name + ".bias")
        return b
    }

    /// NaN or infinite weights would make every embedding non-finite.
    private func requireFinite(_ t: Tensor, _ name: String) throws {
        guard t.storage.allSatisfy(\.isFinite) else {
            throw ModelError.badRecord(path: file.source, reason: "tensor '\(name)' holds NaN or infinite values")
        }
    }

    /// torchvision puts a conv's BatchNorm at the next index: `features.0.0` → `features.0.1`.
    private func batchNorm(after name: String, channels c: Int) throws -> BatchNorm2D? {
        var parts = name.split(separator: ".").map(String.init)
        guard let k = Int(parts.last ?? "") else { return nil }
        parts[parts.count - 1] = String(k + 1)
        let bn = parts.joined(separator: ".")
        guard file.entry(bn + ".running_mean") != nil else { return nil }
        var norm = BatchNorm2D(channels: c, epsilon: Float(file.metadata["bn_epsilon"] ?? "") ?? 1e-5)
        norm.gamma = try file.tensor(bn + ".weight", expectedShape: [c])
        norm.beta = try file.tensor(bn + ".bias", expectedShape: [c])
        norm.runningMean = try file.tensor(bn + ".running_mean", expectedShape: [c])
        norm.runningVar = try file.tensor(bn + ".running_var", expectedShape: [c])
        for (t, suffix) in [(norm.gamma, "weight"), (norm.beta, "bias"), (norm.runningMean, "running_mean"), (norm.runningVar, "running_var")] {
            try requireFinite(t, "\(bn).\(suffix)")
        }
        guard norm.runningVar.storage.allSatisfy({ $0 >= 0 }) else {
            throw ModelError.badRecord(path: file.source, reason: "tensor '\(bn).running_var' has negative variances")
        }
        return norm
    }

    /// Every layer's input width must equal the previous layer's output width.
    func checkChain(stem: Conv2D, blocks: [MobileNetBlock], last: Conv2D?) throws {
        var c = stem.outChannels
        for (i, b) in blocks.enumerated() {
            let mid = b.expand?.outChannels ?? c
            guard b.expand?.inChannels ?? c == c, b.depthwise.channels == mid, b.project.inChannels == mid else {
                throw ModelError.badRecord(path: file.source, reason: "block \(i + 1) channel widths do not chain (\(c) → \(mid))")
            }
            c = b.project.outChannels
        }
        if let last, last.inChannels != c {
            throw ModelError.badRecord(path: file.source, reason: "the last conv expects \(last.inChannels) channels, the blocks give \(c)")
        }
    }
}
