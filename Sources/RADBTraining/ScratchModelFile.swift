import Foundation
import RADBNeural

/// A `ResNetSmall` trained from scratch (mode b) as one safetensors file, so a from-scratch run's
/// network can be kept next to its figures and re-evaluated or re-used without retraining.
///
/// Tensors (F32): `stem.weight`, `stem_bn.{gamma,beta,running_mean,running_var}`,
/// `blocks.<i>.{conv1,conv2}.weight`, `blocks.<i>.{bn1,bn2}.{gamma,beta,running_mean,running_var}`,
/// `blocks.<i>.shortcut.weight` and `blocks.<i>.shortcut_bn.*` when the block projects,
/// `fc.weight`, `fc.bias`, and `anchors` [t, d] (CAM's learned anchors, or the class means of the
/// training embeddings for the baselines). Metadata: `model` = `resnet_small`, `in_channels`,
/// `widths`, `image_size`, `embedding_dim`, `class_names` (JSON) and whatever the caller adds.
/// Convolution weights keep radb's [kH, kW, Cin, Cout] layout. Batch-norm ε and momentum are
/// the `BatchNorm2D` defaults, which `ResNetSmall` always uses; its convolutions have no trained
/// bias (always zero), so none is stored.
public enum ScratchModelFile {
    /// Writes `net` and `anchors` atomically to `url`.
    public static func write(_ net: ResNetSmall, anchors: Tensor, imageSize: Int, classNames: [String],
                             metadata extra: [String: String] = [:], to url: URL) throws {
        var archive = TensorArchive()
        for (name, tensor) in namedTensors(net) { archive.set(name, tensor) }
        archive.set("anchors", anchors)
        archive.metadata = extra
        archive.metadata["model"] = "resnet_small"
        archive.metadata["in_channels"] = String(net.stem.inChannels)
        archive.metadata["widths"] = net.blocks.map { String($0.conv1.outChannels) }.joined(separator: ",")
        archive.metadata["image_size"] = String(imageSize)
        archive.metadata["embedding_dim"] = String(net.fc.weight.shape[0])
        archive.metadata["class_names"] = String(decoding: try JSONSerialization.data(withJSONObject: classNames), as: UTF8.self)
        try archive.write(to: url)
    }

    /// Reads a file written by `write`. Throws `DatasetError.malformed` naming the file when it is
    /// not a ResNetSmall model or a tensor is missing or has the wrong shape, and
    /// `SafeTensorsError` when the file itself is unreadable.
    public static func read(from url: URL) throws
        -> (net: ResNetSmall, anchors: Tensor, imageSize: Int, classNames: [String], metadata: [String: String]) {
        let archive = try TensorArchive(contentsOf: url)
        func bad(_ reason: String) -> DatasetError {
            .malformed(path: url.path, reason: reason + " Re-create it with `radb-bench-train scratch … --save FILE`.")
        }
        let meta = archive.metadata
        guard meta["model"] == "resnet_small" else { throw bad("not a ResNetSmall model file (metadata model = \(meta["model"] ?? "none")).") }
        guard let inChannels = meta["in_channels"].flatMap(Int.init), inChannels > 0,
              let dim = meta["embedding_dim"].flatMap(Int.init), dim > 0,
              let imageSize = meta["image_size"].flatMap(Int.init), imageSize > 0 else {
            throw bad("metadata in_channels, embedding_dim or image_size missing or not a positive integer.")
        }
        let widths = (meta["widths"] ?? "").split(separator: ",").compactMap { Int($0) }
        guard !widths.isEmpty, widths.allSatisfy({ $0 > 0 }) else { throw bad("metadata widths missing or malformed.") }
        // Build the architecture (random weights), then overwrite every tensor, checking shapes.
        var rng = SeededGenerator(seed: 0)
        var net = ResNetSmall(inChannels: inChannels, widths: widths, embeddingDimension: dim, using: &rng)
        var tensors = [String: Tensor]()
        for (name, expected) in namedTensors(net) {
            guard let t = archive.tensor(name) else { throw bad("tensor \(name) is missing.") }
            guard t.shape == expected.shape else { throw bad("tensor \(name) has shape \(t.shape), expected \(expected.shape).") }
            guard t.storage.allSatisfy(\.isFinite) else { throw bad("tensor \(name) contains NaN or infinity.") }
            tensors[name] = t
        }
        assign(tensors, to: &net)
        guard let anchors = archive.tensor("anchors"), anchors.rank == 2, anchors.shape[1] == dim else {
            throw bad("tensor anchors is missing or not [t, \(dim)].")
        }
        let names = (try? JSONSerialization.jsonObject(with: Data((meta["class_names"] ?? "[]").utf8))) as? [String] ?? []
        return (net, anchors, imageSize, names, meta)
    }

    // MARK: - Naming

    /// Every tensor of the network under its file name, in a fixed order.
    static func namedTensors(_ net: ResNetSmall) -> [(String, Tensor)] {
        func bn(_ prefix: String, _ b: BatchNorm2D) -> [(String, Tensor)] {
            [(prefix + ".gamma", b.gamma), (prefix + ".beta", b.beta),
             (prefix + ".running_mean", b.runningMean), (prefix + ".running_var", b.runningVar)]
        }
        var out = [("stem.weight", net.stem.weight)] + bn("stem_bn", net.stemBN)
        for (i, b) in net.blocks.enumerated() {
            let p = "blocks.\(i)."
            out += [(p + "conv1.weight", b.conv1.weight)] + bn(p + "bn1", b.bn1)
            out += [(p + "conv2.weight", b.conv2.weight)] + bn(p + "bn2", b.bn2)
            if let s = b.shortcut { out += [(p + "shortcut.weight", s.conv.weight)] + bn(p + "shortcut_bn", s.bn) }
        }
        return out + [("fc.weight", net.fc.weight), ("fc.bias", net.fc.bias)]
    }

    /// Inverse of `namedTensors`: every name must be present (checked by the caller).
    static func assign(_ t: [String: Tensor], to net: inout ResNetSmall) {
        func bn(_ prefix: String, _ b: inout BatchNorm2D) {
            b.gamma = t[prefix + ".gamma"]!; b.beta = t[prefix + ".beta"]!
            b.runningMean = t[prefix + ".running_mean"]!; b.runningVar = t[prefix + ".running_var"]!
        }
        net.stem.weight = t["stem.weight"]!
        bn("stem_bn", &net.stemBN)
        for i in net.blocks.indices {
            let p = "blocks.\(i)."
            net.blocks[i].conv1.weight = t[p + "conv1.weight"]!
            bn(p + "bn1", &net.blocks[i].bn1)
            net.blocks[i].conv2.weight = t[p + "conv2.weight"]!
            bn(p + "bn2", &net.blocks[i].bn2)
            if var s = net.blocks[i].shortcut {
                s.conv.weight = t[p + "shortcut.weight"]!
                bn(p + "shortcut_bn", &s.bn)
                net.blocks[i].shortcut = s
            }
        }
        net.fc.weight = t["fc.weight"]!
        net.fc.bias = t["fc.bias"]!
    }
}
