import Foundation
import RADBNeural

/// Backbone features stored on disk so head training never recomputes them: a raw
/// little-endian float32 matrix `<base>.f32` [count, dim] beside `<base>.json` with labels,
/// class names and paths. `Tools/train_features_tflite.py` writes the same layout.
public enum FeatureCache {
    struct Header: Codable {
        var dim: Int
        var count: Int
        var labels: [Int]
        var class_names: [String]
        var paths: [String]?
        var source: String?
    }

    /// Loads `<base>.f32` + `<base>.json`.
    public static func load(base: String) throws -> LabeledFeatures {
        let jsonPath = base + ".json", dataPath = base + ".f32"
        guard let json = FileManager.default.contents(atPath: jsonPath) else { throw DatasetError.notFound(path: jsonPath) }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: json) } catch {
            throw DatasetError.malformed(path: jsonPath, reason: "not a feature-cache header (\(error)). Regenerate the cache.")
        }
        guard let data = FileManager.default.contents(atPath: dataPath) else { throw DatasetError.notFound(path: dataPath) }
        guard data.count == header.count * header.dim * 4, header.labels.count == header.count else {
            throw DatasetError.malformed(path: dataPath, reason: "\(data.count) bytes, header says \(header.count)×\(header.dim) floats. Regenerate the cache.")
        }
        var storage = [Float](repeating: 0, count: header.count * header.dim)
        storage.withUnsafeMutableBytes { dst in _ = data.copyBytes(to: dst) }
        return try LabeledFeatures(features: Tensor(shape: [header.count, header.dim], storage: storage),
                                   labels: header.labels, classNames: header.class_names, paths: header.paths,
                                   origin: dataPath)
    }

    /// Writes `<base>.f32` + `<base>.json` (creating the folder).
    public static func save(_ set: LabeledFeatures, base: String, source: String) throws {
        let dir = (base as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let data = set.features.storage.withUnsafeBytes { Data($0) }
        try data.write(to: URL(fileURLWithPath: base + ".f32"))
        let header = Header(dim: set.dimension, count: set.count, labels: set.labels, class_names: set.classNames,
                            paths: set.paths, source: source)
        try JSONEncoder().encode(header).write(to: URL(fileURLWithPath: base + ".json"))
    }
}
