import Foundation
import RADBNeural

/// A safetensors file held in memory: named tensors (any dtype, kept as raw bytes so a
/// backbone's tensors are copied through untouched) plus string metadata.
///
/// Layout (DESIGN §4): 8-byte little-endian header length, JSON header
/// `{name: {dtype, shape, data_offsets}, "__metadata__": {…}}`, then the raw data. Used for
/// trained models (backbone + head + anchors) and for training checkpoints.
public struct TensorArchive: Sendable {
    public struct Entry: Sendable, Equatable {
        public var dtype: String
        public var shape: [Int]
        public var bytes: Data
    }

    public var entries: [String: Entry] = [:]
    public var metadata: [String: String] = [:]

    public init() {}

    // MARK: - Float tensors

    public mutating func set(_ name: String, _ tensor: Tensor) {
        entries[name] = Entry(dtype: "F32", shape: tensor.shape, bytes: tensor.storage.withUnsafeBytes { Data($0) })
    }

    /// The F32 tensor `name`, or nil when absent or of another dtype.
    public func tensor(_ name: String) -> Tensor? {
        guard let e = entries[name], e.dtype == "F32", e.bytes.count == e.shape.reduce(1, *) * 4 else { return nil }
        var storage = [Float](repeating: 0, count: e.shape.reduce(1, *))
        storage.withUnsafeMutableBytes { _ = e.bytes.copyBytes(to: $0) }
        return Tensor(shape: e.shape, storage: storage)
    }

    // MARK: - Reading and writing

    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw DatasetError.notFound(path: url.path)
        }
        func bad(_ why: String) -> DatasetError {
            .malformed(path: url.path, reason: "not a valid safetensors file: \(why).")
        }
        guard data.count >= 8 else { throw bad("shorter than its 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8) else { throw bad("header length \(headerLength) exceeds the file") }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw bad("header is not a JSON object")
        }
        let base = 8 + Int(headerLength)
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2,
                  offsets[0] >= 0, offsets[0] <= offsets[1], base + offsets[1] <= data.count else {
                throw bad("entry \(name) is malformed")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, bytes: data.subdata(in: (base + offsets[0])..<(base + offsets[1])))
        }
    }

    /// Writes atomically (temporary file + rename), so an interrupted run never leaves half a file.
    public func write(to url: URL) throws {
        var header: [String: Any] = [:]
        var offset = 0
        let names = entries.keys.sorted()
        for name in names {
            let e = entries[name]!
            header[name] = ["dtype": e.dtype, "shape": e.shape, "data_offsets": [offset, offset + e.bytes.count]]
            offset += e.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces so the data starts 8-byte aligned (allowed by the format).
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names { out.append(entries[name]!.bytes) }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let tmp = url.appendingPathExtension("tmp")
        try out.write(to: tmp)
        _ = try? FileManager.default.removeItem(at: url)
        try FileManager.default.moveItem(at: tmp, to: url)
    }
}
