import Foundation
import RADBCore
import RADBEmbedding
import RADBNeural
import RADBVision
import Synchronization

/// Turns images into embedding vectors with one model file: decode → resize the shorter side →
/// centre crop → normalise (all from the model record) → MobileNet backbone and its global pooling
/// → the file's L2 / whitening stage (`EmbeddingPostprocess`) or a trained head. Every vector of a
/// database comes from one `Embedder`, identified by `modelIdentity`.
///
///     let embedder = try Embedder()                          // packaged MobileNetV2
///     let results = try embedder.embed(files: urls)          // [Result<[Float], EmbedderError>]
///     let v = try embedder.embed(image: image)               // in-memory RADBVision.Image
///
/// File batches overlap decoding of batch k+1 with inference of batch k; a file that cannot be
/// decoded yields `.failure` for that file only. Safe to use from several threads.
/// `@unchecked Sendable`: every stored property is a `let` set in `init`; the only reference type
/// among them, `MobileNet`, is immutable after loading and gives each forward pass its own
/// scratch memory (`ArenaPool`).
public final class Embedder: @unchecked Sendable {
    // MARK: - Identity

    /// The network (backbone + classifier if any); its `record` holds the preprocessing.
    public let model: MobileNet
    /// Where the model came from.
    public let modelURL: URL
    /// SHA-256 (hex) of the model file's bytes: the identity a database records.
    public let modelIdentity: String
    /// Length of every returned vector (the head's output width, or the backbone's).
    public let dimension: Int
    /// SHA-256 (hex) of what determines the backbone features — architecture, preprocessing and
    /// the backbone's tensors, not the head or anchors. Two models with the same backbone (the
    /// built-in one and a head learned on a database) share it, so stored features stay valid.
    public let featureIdentity: String
    /// Side of the square network input.
    public var inputSize: Int { model.record.inputSize }
    /// The shorter side is resized to this before the centre crop (`resize_shorter_side`, default `inputSize`).
    public let resizeShorterSide: Int

    /// The model's learned class anchors, row-major `[count, dimension]`, or nil when the file
    /// has none (a backbone-only model). A new database partitions its vectors by these.
    public let anchors: [Float]?
    /// Names of the anchors' classes (metadata `class_names`), when recorded.
    public let anchorNames: [String]
    /// True when this model's anchors are classes learned in place and learning measured the
    /// paper's two-stage search (nearest anchor's items first) better than exact ranking on
    /// held-out items (metadata `search = two-stage`).
    public let prefersTwoStageSearch: Bool

    /// `head.0`, `head.2`, … of a trained head ([out, in] weights), ReLU between them.
    private let head: [(weight: Tensor, bias: Tensor)]
    /// Zeros appended to the head's output (metadata `pad_to`): a head learned in place at a
    /// small width fills a database of a wider vector. Zeros change no distance.
    private let padding: Int
    /// L2 / whitening of the pooled features (`EmbeddingPostprocess`); identity for a head model.
    private let postprocess: EmbeddingPostprocess

    // MARK: - Loading

    /// File name of the packaged default model: the MobileNetV2 backbone (average pooling) with an
    /// L2 → PCA-whitening → L2 stage fitted on Tiny ImageNet classes 0–99, 1280-d, no class anchors
    /// (chosen by the held-out-class protocol of RESULTS.md, "Default model").
    public static let defaultModelFileName = "radb_default.safetensors"
    /// File name of the packaged backbone alone (1280-d pooled features), the input of `radb train`.
    public static let backboneModelFileName = "mobilenet_v2_1.0_224.safetensors"

    /// The packaged default model, or the bare backbone when the build lacks it.
    public static var defaultModelURL: URL? {
        packagedModelURL(defaultModelFileName) ?? packagedModelURL(backboneModelFileName)
    }

    /// The packaged MobileNetV2 backbone (Apache-2.0), without a head.
    public static var backboneModelURL: URL? { packagedModelURL(backboneModelFileName) }

    /// A file of radb's resource bundle (`radb_RADB.resources`, installed beside the executable),
    /// or nil if it is missing.
    ///
    /// Looked up by hand rather than through `Bundle.module`, whose generated accessor calls
    /// `fatalError` when the bundle is absent (e.g. a binary copied without its resources).
    public static func packagedModelURL(_ fileName: String) -> URL? {
        let bundleName = "radb_RADB.resources"
        var directories = [Bundle.main.bundleURL]
        if let executable = Bundle.main.executableURL {
            directories.append(executable.deletingLastPathComponent())
            directories.append(executable.resolvingSymlinksInPath().deletingLastPathComponent())
        }
        for directory in directories {
            let model = directory.appendingPathComponent(bundleName).appendingPathComponent("Models").appendingPathComponent(fileName)
            if FileManager.default.fileExists(atPath: model.path) { return model }
        }
        return nil
    }

    /// Loads the packaged default model.
    ///
    ///     let embedder = try Embedder()
    ///     print(embedder.dimension)   // the default model's width (RESULTS.md, "Default model")
    ///
    /// Throws `EmbedderError.defaultModelMissing` or `.badModel`.
    public convenience init() throws {
        guard let url = Self.defaultModelURL, FileManager.default.fileExists(atPath: url.path) else {
            throw EmbedderError.defaultModelMissing
        }
        try self.init(modelURL: url)
    }

    /// Loads the model file at `modelURL` (a radb safetensors file, with or without a head).
    ///
    ///     let embedder = try Embedder(modelURL: URL(fileURLWithPath: "cam.safetensors"))
    ///     let v = try embedder.embed(file: photo)
    ///
    /// Throws `EmbedderError.badModel` naming the file and the problem.
    public init(modelURL: URL) throws {
        let bytes: [UInt8]
        do { bytes = try Self.readBytes(of: modelURL) } catch {
            throw EmbedderError.badModel(path: modelURL.path, reason: "cannot read it (\(error.localizedDescription))")
        }
        // The identity hash (tens of milliseconds for a model file) runs on the other core
        // while the weights are parsed and converted: it is on every process's start-up path.
        let identity = IdentityHash()
        let hashing = DispatchGroup()
        DispatchQueue.global(qos: .userInitiated).async(group: hashing) { identity.value = SHA256.hex(bytes) }
        defer { hashing.wait() }
        do {
            let file = try SafeTensorsFile(bytes: bytes, source: modelURL.path)
            model = try MobileNet(file: file)
            head = try Self.loadHead(file, inputWidth: model.featureDim)
            postprocess = try EmbeddingPostprocess(file: file, featureDim: model.featureDim)
            if !head.isEmpty && !postprocess.isIdentity {
                throw EmbedderError.badModel(path: modelURL.path, reason: "a model has either a trained head or a whitening/L2 stage, this file has both")
            }
            let unpadded = head.last?.weight.shape[0] ?? postprocess.outputWidth(inputWidth: model.featureDim)
            var width = unpadded
            if let raw = file.metadata["pad_to"] {
                guard !head.isEmpty, let padTo = Int(raw), padTo >= unpadded, padTo <= 65_536 else {
                    throw EmbedderError.badModel(path: modelURL.path, reason: "metadata pad_to is '\(raw)', expected a width from the head's \(unpadded) to 65536 (and a head)")
                }
                width = padTo
            }
            padding = width - unpadded
            if file.entry("anchors") != nil {
                let a = try file.tensor("anchors")
                guard a.rank == 2, a.shape[0] >= 1, a.shape[1] == width, a.storage.allSatisfy(\.isFinite) else {
                    throw EmbedderError.badModel(path: modelURL.path, reason: "anchors are \(a.shape), expected [count, \(width)] finite values")
                }
                anchors = a.storage
            } else {
                anchors = nil
            }
            featureIdentity = Self.backboneIdentity(file)
            let names = file.metadata["class_names"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String] }
            anchorNames = names ?? []
            prefersTwoStageSearch = anchors != nil && file.metadata["search"] == "two-stage"
        } catch let error as EmbedderError {
            throw error
        } catch {
            throw EmbedderError.badModel(path: modelURL.path, reason: "\(error)")
        }
        self.modelURL = modelURL
        hashing.wait()
        modelIdentity = identity.value
        dimension = (head.last?.weight.shape[0] ?? postprocess.outputWidth(inputWidth: model.featureDim)) + padding
        resizeShorterSide = model.record.resizeShorterSide
        guard dimension == model.record.embeddingDim else {
            throw EmbedderError.badModel(path: modelURL.path,
                reason: "metadata embedding_dim is \(model.record.embeddingDim) but the network produces \(dimension)")
        }
        guard resizeShorterSide >= model.record.inputSize else {
            throw EmbedderError.badModel(path: modelURL.path, reason: "resize_shorter_side is smaller than input_size")
        }
    }

    /// Hash of the preprocessing metadata and every tensor that is not part of the head.
    private static func backboneIdentity(_ file: SafeTensorsFile) -> String {
        var bytes: [UInt8] = []
        for key in ["architecture", "input_size", "input_scale", "input_offset", "resize_shorter_side", "pooling", "gem_p"] {
            bytes += Array("\(key)=\(file.metadata[key] ?? "");".utf8)
        }
        for entry in file.entries.sorted(by: { $0.name < $1.name })
        where !(entry.name.hasPrefix("head.") || entry.name == "anchors" || entry.name.hasPrefix("whiten.")) {
            bytes += Array("\(entry.name):\(entry.dtype.rawValue):\(entry.shape);".utf8)
            if let raw = try? file.raw(entry.name) { bytes += raw.bytes }
        }
        return SHA256.hex(bytes)
    }

    private static func loadHead(_ file: SafeTensorsFile, inputWidth: Int) throws -> [(weight: Tensor, bias: Tensor)] {
        var layers: [(weight: Tensor, bias: Tensor)] = []
        var width = inputWidth
        var i = 0
        while file.entry("head.\(i).weight") != nil {
            let w = try file.tensor("head.\(i).weight")
            guard w.rank == 2, w.shape[1] == width else {
                throw EmbedderError.badModel(path: file.source, reason: "head.\(i).weight is \(w.shape), expected [out, \(width)]")
            }
            let b = try file.tensor("head.\(i).bias", expectedShape: [w.shape[0]])
            layers.append((w, b))
            width = w.shape[0]
            i += 2   // torch.nn.Sequential positions: Linear at even indices, ReLU between
        }
        let kind = file.metadata["head"] ?? "none"
        if layers.isEmpty != (kind == "none") {
            throw EmbedderError.badModel(path: file.source, reason: "metadata head is '\(kind)' but the file has \(layers.count) head layers")
        }
        return layers
    }

    // MARK: - Preprocessing

    /// How this model wants its pictures (from the model record).
    public var preprocessing: ImagePreprocessing { ImagePreprocessing(record: model.record) }

    /// The decode → preprocess → backbone pipeline of this model, with a decoding memory budget.
    public func pipeline(memoryBudget: Int = FeaturePipeline.defaultMemoryBudget) -> FeaturePipeline {
        FeaturePipeline(model: model, memoryBudget: memoryBudget)
    }

    /// Writes `image` as the network input (inputSize² × 3 floats, HWC) into `buffer`.
    public func preprocess(_ image: Image, into buffer: UnsafeMutableBufferPointer<Float>) throws {
        try preprocessing.write(image, into: buffer)
    }

    // MARK: - Embedding

    /// The vector of one decoded image.
    public func embed(image: Image) throws -> [Float] {
        guard let v = try embed(images: [image]).first else { throw EmbedderError.cancelled }
        return v
    }

    /// Vectors of decoded images, in order.
    public func embed(images: [Image]) throws -> [[Float]] {
        try embedWithFeatures(images: images).enumerated().map { j, row in
            guard let row else { throw EmbedderError.nonFiniteEmbedding(path: "<image \(j)>") }
            return row.vector
        }
    }

    /// The vector of one image file.
    public func embed(file: URL) throws -> [Float] {
        try embed(files: [file])[0].get()
    }

    /// Vectors of image files, in input order, one `Result` per file.
    ///
    /// Files go through `FeaturePipeline` in batches of `batchSize`: while batch k runs through
    /// the network, batch k+1 is decoded and preprocessed on other threads. `progress(done, total)`
    /// is called after each batch; when `isCancelled()` returns true the call throws
    /// `EmbedderError.cancelled`.
    public func embed(files: [URL], batchSize: Int = 32,
                      progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                      isCancelled: (() -> Bool)? = nil) throws -> [Result<[Float], EmbedderError>] {
        var results = [Result<[Float], EmbedderError>](repeating: .failure(.cancelled), count: files.count)
        var cancelled = false
        try pipeline().run(files.map { .file($0) }, batchSize: batchSize) { range, batch, features in
            if isCancelled?() == true { cancelled = true; return false }
            let vectors = self.vectors(fromFeatures: features.map { $0 ?? [] })
            for (j, i) in range.enumerated() {
                let path = files[i].path
                if let error = batch.failures[j] {
                    results[i] = .failure(.unreadableImage(path: path, reason: "\(error)"))
                } else if let v = vectors[j] {
                    results[i] = .success(v)
                } else {
                    results[i] = .failure(.nonFiniteEmbedding(path: path))
                }
            }
            progress?(range.upperBound, files.count)
            return true
        }
        if cancelled { throw EmbedderError.cancelled }
        return results
    }

    /// The vector of one image's backbone features (`featureDim` values): the features rounded
    /// to half precision, then the model's L2 / whitening stage or its head; nil if the result
    /// is not finite.
    ///
    /// Why the rounding: a database keeps every image's features in half precision so that
    /// learning in place can re-embed the collection without the image files. Rounding here
    /// too makes that re-embedding bit-identical to embedding the image again, so a stored
    /// image queried after learning is still found at distance 0.
    public func vector(fromFeatures features: [Float]) -> [Float]? {
        vectors(fromFeatures: [features])[0]
    }

    /// `vector(fromFeatures:)` of each row, bit-identical to it, in fewer BLAS calls (ingest
    /// embeds its batches this way).
    public func vectors(fromFeatures rows: [[Float]]) -> [[Float]?] {
        let d = model.featureDim
        let valid = rows.indices.filter { rows[$0].count == d }
        var out = [[Float]?](repeating: nil, count: rows.count)
        guard !valid.isEmpty else { return out }
        var x = [Float]()
        x.reserveCapacity(valid.count * d)
        for i in valid { x += rows[i].map { Float(Float16($0)) } }
        let whitened = postprocess.apply(Tensor(shape: [valid.count, d], storage: x))
        let w = whitened.shape[1]
        for (r, i) in valid.enumerated() {
            // The head row by row, as before (its products are small).
            var e = Tensor(shape: [1, w], storage: Array(whitened.storage[r * w..<(r + 1) * w]))
            for (k, layer) in head.enumerated() {
                e = Self.linear(e, layer.weight, layer.bias)
                if k < head.count - 1 { for j in e.storage.indices { e.storage[j] = max(e.storage[j], 0) } }
            }
            guard e.storage.allSatisfy(\.isFinite) else { continue }
            out[i] = padding == 0 ? e.storage : e.storage + repeatElement(0, count: padding)
        }
        return out
    }

    /// The backbone features of one image file (what `vector(fromFeatures:)` turns into its vector).
    /// Throws `EmbedderError` naming the file when it cannot be decoded.
    public func backboneFeatures(file url: URL) throws -> [Float] {
        let batch = pipeline().prepare([.file(url)])
        if let error = batch.failures[0] { throw EmbedderError.unreadableImage(path: url.path, reason: "\(error)") }
        guard let row = try pipeline().features(of: batch)[0] else { throw EmbedderError.nonFiniteEmbedding(path: url.path) }
        return row
    }

    /// Backbone features and vectors of decoded images, in order; a row is nil when the network
    /// produced non-finite values for that image.
    public func embedWithFeatures(images: [Image]) throws -> [(features: [Float], vector: [Float])?] {
        guard !images.isEmpty else { return [] }
        let features = try pipeline().features(of: images)
        return zip(features, vectors(fromFeatures: features.map { $0 ?? [] })).map { f, v in
            guard let f, let v else { return nil }
            return (f, v)
        }
    }

    /// y = x · Wᵀ + b for x [n, in], W [out, in] (a few hundred thousand multiply-adds; plain loops).
    private static func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor) -> Tensor {
        let (n, k, m) = (x.shape[0], x.shape[1], w.shape[0])
        var y = Tensor(shape: [n, m])
        for i in 0..<n { for o in 0..<m {
            var acc = b.storage[o]
            for j in 0..<k { acc += x.storage[i * k + j] * w.storage[o * k + j] }
            y.storage[i * m + o] = acc
        } }
        return y
    }
}

extension Embedder {
    /// The whole file in one array, read straight into it (a model is read on every start-up).
    static func readBytes(of url: URL) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        let size = Int(try handle.seekToEnd())
        try handle.seek(toOffset: 0)
        let fd = handle.fileDescriptor
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            while initialized < size {
                let n = read(fd, buffer.baseAddress! + initialized, size - initialized)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { failure = n < 0 ? errno : EIO; break }
                initialized += n
            }
        }
        if failure != 0 { throw POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO) }
        return bytes
    }
}

/// The model hash computed beside the weight conversion in `Embedder.init(modelURL:)`: written
/// once by the hashing task, read after `DispatchGroup.wait()`. Sendable by construction.
private final class IdentityHash: Sendable {
    private let hash = Mutex("")
    var value: String {
        get { hash.withLock { $0 } }
        set { hash.withLock { $0 = newValue } }
    }
}
