import Foundation
import RADBNeural

/// A safetensors file being edited in memory: named tensors plus string metadata, for trained
/// models (backbone + head + anchors) and training checkpoints.
///
/// Reading and writing go through RADBNeural's `SafeTensorsFile` (one validating parser for the
/// whole project); tensors are held as `SafeTensorsRawTensor`, so a backbone's F16 weights are
/// copied into a model file byte for byte while new tensors are added as F32.
///
///     var archive = try TensorArchive(contentsOf: backboneURL)   // keeps the F16 backbone as is
///     archive.set("anchors", anchors)                            // F32
///     try archive.write(to: modelURL)
public struct TensorArchive: Sendable {
    public var entries: [String: SafeTensorsRawTensor] = [:]
    public var metadata: [String: String] = [:]

    public init() {}

    /// Reads every tensor and the metadata. Throws `SafeTensorsError` (naming the file) for a
    /// missing, truncated or malformed file.
    public init(contentsOf url: URL) throws {
        let file = try SafeTensorsFile(contentsOf: url)
        for name in file.tensorNames { entries[name] = try file.raw(name) }
        metadata = file.metadata
    }

    // MARK: - Float tensors

    /// Stores `tensor` as F32 (replacing any tensor of that name).
    public mutating func set(_ name: String, _ tensor: Tensor) {
        // F32 encoding of a Tensor cannot fail: its storage always matches its shape.
        entries[name] = try! SafeTensorsRawTensor(tensor, dtype: .f32, name: name)
    }

    /// The tensor `name` converted to Float (whatever its stored dtype), or nil when absent.
    public func tensor(_ name: String) -> Tensor? { entries[name]?.tensor() }

    // MARK: - Writing

    /// Writes atomically (temporary file + rename), tensors in name order, so an interrupted run
    /// never leaves half a file and equal archives give identical bytes.
    public func write(to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try SafeTensorsFile.write(raw: entries.keys.sorted().map { ($0, entries[$0]!) }, metadata: metadata, to: url)
    }
}
