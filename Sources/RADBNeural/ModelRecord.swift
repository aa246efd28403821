/// The model record stored in a weight file's safetensors `__metadata__` (DESIGN §4).
///
/// It exists so that preprocessing travels with the weights: ingest and query read the same
/// record and can never disagree on input size or normalisation. Keys (all values are strings,
/// as safetensors requires): `radb.format` ("1"), `architecture` (`mobilenet_v2`,
/// `mobilenet_v1`, …), `input_size`, `input_scale` and `input_offset` (a pixel p in 0…255 becomes
/// `p * input_scale + input_offset`), `embedding_dim`, `head` ("none" for a backbone, otherwise
/// the head's kind), optional `class_names` (JSON array) and `padding` (`tf_same`). Unknown
/// keys are kept in `metadata` untouched.
public struct ModelRecord: Sendable, Equatable {
    public static let formatVersion = "1"

    public var architecture: String
    public var inputSize: Int
    public var inputScale: Float
    public var inputOffset: Float
    /// Dimension of the vectors the model (backbone + head) produces.
    public var embeddingDim: Int
    /// "none" for a backbone-only file.
    public var head: String
    /// Every metadata key, including the ones above and unknown ones.
    public var metadata: [String: String]

    /// Parses and validates the record; `source` names the file in errors.
    public init(metadata: [String: String], source: String) throws {
        func require(_ key: String) throws -> String {
            guard let v = metadata[key] else {
                throw ModelError.badRecord(path: source, reason: "metadata key '\(key)' is missing")
            }
            return v
        }
        let format = try require("radb.format")
        guard format == Self.formatVersion else {
            throw ModelError.badRecord(path: source,
                reason: "radb.format is '\(format)', this radb reads format \(Self.formatVersion); upgrade radb or re-export the model")
        }
        architecture = try require("architecture")
        guard let size = Int(try require("input_size")), (8...4096).contains(size) else {
            throw ModelError.badRecord(path: source, reason: "input_size must be an integer in 8...4096")
        }
        inputSize = size
        guard let scale = Float(try require("input_scale")), scale.isFinite, scale != 0,
              let offset = Float(try require("input_offset")), offset.isFinite else {
            throw ModelError.badRecord(path: source, reason: "input_scale / input_offset must be finite numbers")
        }
        inputScale = scale
        inputOffset = offset
        guard let dim = Int(try require("embedding_dim")), (1...Self.maximumEmbeddingDim).contains(dim) else {
            throw ModelError.badRecord(path: source, reason: "embedding_dim must be an integer in 1...\(Self.maximumEmbeddingDim)")
        }
        embeddingDim = dim
        head = metadata["head"] ?? "none"
        // Every optional field the network reads is bounded here, so that a record that loads
        // can embed: resize_shorter_side = 60000 would make every embed allocate gigabytes.
        if let raw = metadata["resize_shorter_side"] {
            guard let side = Int(raw), (size...Self.maximumResizeSide).contains(side) else {
                throw ModelError.badRecord(path: source,
                    reason: "resize_shorter_side '\(raw)' must be an integer from input_size (\(size)) to \(Self.maximumResizeSide)")
            }
        }
        if let raw = metadata["bn_epsilon"] {
            guard let eps = Float(raw), eps.isFinite, eps > 0, eps < 1 else {
                throw ModelError.badRecord(path: source, reason: "bn_epsilon '\(raw)' must be a number in (0, 1)")
            }
        }
        self.metadata = metadata
    }

    /// Largest `resize_shorter_side` a record may ask for (4 × the largest input size there is
    /// use for; a bigger one only costs memory).
    public static let maximumResizeSide = 4096
    /// Largest `embedding_dim` (the store's limit).
    public static let maximumEmbeddingDim = 65_536

    /// The shorter image side is resized to this before the centre crop to `inputSize`
    /// (`resize_shorter_side`, default `inputSize`; bounded when the record is parsed). Every
    /// path that feeds the network — ingest, queries, training features — uses it, so they
    /// preprocess identically.
    public var resizeShorterSide: Int {
        Int(metadata["resize_shorter_side"] ?? "") ?? inputSize
    }

    /// A record with the required keys; `extra` keys are added (and may override nothing required).
    public init(architecture: String, inputSize: Int, inputScale: Float, inputOffset: Float,
                embeddingDim: Int, head: String = "none", extra: [String: String] = [:]) {
        self.architecture = architecture
        self.inputSize = inputSize
        self.inputScale = inputScale
        self.inputOffset = inputOffset
        self.embeddingDim = embeddingDim
        self.head = head
        var m = extra
        m["radb.format"] = Self.formatVersion
        m["architecture"] = architecture
        m["input_size"] = String(inputSize)
        m["input_scale"] = "\(inputScale)"
        m["input_offset"] = "\(inputOffset)"
        m["embedding_dim"] = String(embeddingDim)
        m["head"] = head
        metadata = m
    }
}

/// Why a model file could not be used (beyond the safetensors container itself).
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case badRecord(path: String, reason: String)
    case unknownArchitecture(path: String, architecture: String)
    case badInput(reason: String)

    public var description: String {
        switch self {
        case let .badRecord(path, reason):
            return "\(path): invalid radb model record (\(reason)); convert the model with Tools/convert_tflite.py or re-export it."
        case let .unknownArchitecture(path, architecture):
            return "\(path): architecture '\(architecture)' is not supported; radb runs mobilenet_v2 and mobilenet_v1."
        case let .badInput(reason):
            return "invalid model input: \(reason)"
        }
    }
}
