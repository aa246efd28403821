/// Why the embedder could not produce a vector. Per-file cases name the file and are returned
/// per item (one bad photo never stops a batch); model cases are thrown when loading.
public enum EmbedderError: Error, CustomStringConvertible, Equatable {
    /// The image could not be read or decoded (RADBVision's message is kept verbatim).
    case unreadableImage(path: String, reason: String)
    /// The model file is missing, malformed or of an unsupported kind.
    case badModel(path: String, reason: String)
    /// The packaged default model is missing from the bundle (a broken installation).
    case defaultModelMissing
    /// The network produced NaN or infinity for this input (never expected; reported, not stored).
    case nonFiniteEmbedding(path: String)
    /// The caller cancelled the operation.
    case cancelled

    public var description: String {
        switch self {
        case let .unreadableImage(path, reason): return "\(path): cannot embed this image: \(reason)"
        case let .badModel(path, reason): return "\(path): cannot use this model file: \(reason)"
        case .defaultModelMissing:
            return "the default model (radb_RADB.resources/Models/mobilenet_v2_1.0_224.safetensors) was not found beside the executable; install radb with its resource bundle or pass a model file path"
        case let .nonFiniteEmbedding(path): return "\(path): the model produced NaN/infinite values for this image; it was skipped"
        case .cancelled: return "embedding was cancelled"
        }
    }
}
