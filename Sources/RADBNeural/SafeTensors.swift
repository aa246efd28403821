import Foundation

// MARK: - Errors

/// Why a safetensors file could not be read or written; every case names the file.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case truncated(path: String, needed: Int, available: Int)
    case badHeader(path: String, reason: String)
    case unsupportedDType(path: String, tensor: String, dtype: String)
    case badTensor(path: String, tensor: String, reason: String)
    case missingTensor(path: String, tensor: String)
    case shapeMismatch(path: String, tensor: String, expected: [Int], actual: [Int])
    case nonFinite(path: String, tensor: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): cannot read the weight file (\(reason)); check the path and permissions."
        case let .truncated(path, needed, available):
            return "\(path): truncated safetensors file (needs \(needed) bytes, has \(available)); re-copy or re-export it."
        case let .badHeader(path, reason):
            return "\(path): not a valid safetensors file (\(reason)); expected an 8-byte length and a JSON header."
        case let .unsupportedDType(path, tensor, dtype):
            return "\(path): tensor '\(tensor)' has dtype \(dtype); radb reads F32, F16, BF16, F64, I64, I32, U8, I8."
        case let .badTensor(path, tensor, reason):
            return "\(path): tensor '\(tensor)' is malformed (\(reason)); re-export the file."
        case let .missingTensor(path, tensor):
            return "\(path): tensor '\(tensor)' is missing; the file does not match the declared architecture."
        case let .shapeMismatch(path, tensor, expected, actual):
            return "\(path): tensor '\(tensor)' has shape \(actual), expected \(expected); the file does not match the architecture."
        case let .nonFinite(path, tensor):
            return "\(path): tensor '\(tensor)' contains NaN or infinity; the weights are corrupt."
        case let .unwritable(path, reason):
            return "\(path): cannot write the weight file (\(reason))."
        }
    }
}

// MARK: - Data types

/// Element types of the safetensors format that radb can read (all are converted to `Float`)
/// and, for F32 and F16, write.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64", i64 = "I64", i32 = "I32", u8 = "U8", i8 = "I8"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .u8, .i8: return 1
        }
    }
}

// MARK: - Reader

/// A parsed safetensors file (8-byte little-endian header length, JSON header
/// `{name: {dtype, shape, data_offsets}}` plus an optional `__metadata__` string map, then raw
/// little-endian data). It exists so that radb's model files are readable and writable by
/// PyTorch users (`safetensors.torch.load_file`) while radb needs no Python.
///
/// Every structural property is validated on open: a truncated, garbage or hostile file fails
/// with a `SafeTensorsError` instead of crashing or allocating unbounded memory.
///
///     let file = try SafeTensorsFile(contentsOf: url)
///     let w = try file.tensor("features.0.0.weight")     // converted to Float
///     print(file.metadata["architecture"] ?? "?")
public struct SafeTensorsFile: Sendable {
    /// One tensor's header entry.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var dtype: SafeTensorsDType
        public var shape: [Int]
        /// Byte range within the data section (after the header).
        public var byteRange: Range<Int>
    }

    /// Human-readable origin used in error messages (a path, or a caller-supplied label).
    public let source: String
    /// The `__metadata__` map (empty if the file has none).
    public let metadata: [String: String]
    /// Entries in data-offset order.
    public let entries: [Entry]
    private let byName: [String: Int]
    private let bytes: [UInt8]
    private let dataStart: Int

    /// Upper bound on the JSON header; real headers are a few KB per hundred tensors.
    static let maxHeaderBytes = 64 << 20

    /// Reads and validates the file at `url`. Throws `SafeTensorsError`.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SafeTensorsError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        try self.init(bytes: [UInt8](data), source: url.path)
    }

    /// Parses an in-memory file; `source` names it in error messages.
    public init(bytes: [UInt8], source: String) throws {
        self.source = source
        self.bytes = bytes
        guard bytes.count >= 8 else {
            throw SafeTensorsError.truncated(path: source, needed: 8, available: bytes.count)
        }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength >= 2, headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw SafeTensorsError.badHeader(path: source, reason: "header length \(headerLength) is implausible")
        }
        let headerEnd = 8 + Int(headerLength)
        guard bytes.count >= headerEnd else {
            throw SafeTensorsError.truncated(path: source, needed: headerEnd, available: bytes.count)
        }
        dataStart = headerEnd
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]), options: [])
        } catch {
            throw SafeTensorsError.badHeader(path: source, reason: "the header is not JSON")
        }
        guard let object = json as? [String: Any] else {
            throw SafeTensorsError.badHeader(path: source, reason: "the header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        let dataLength = bytes.count - headerEnd
        for (name, value) in object {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else {
                    throw SafeTensorsError.badHeader(path: source, reason: "__metadata__ is not an object")
                }
                for (k, v) in map {
                    guard let s = v as? String else {
                        throw SafeTensorsError.badHeader(path: source, reason: "__metadata__['\(k)'] is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any],
                  let dtypeName = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any],
                  let offsetsAny = info["data_offsets"] as? [Any], offsetsAny.count == 2 else {
                throw SafeTensorsError.badTensor(path: source, tensor: name, reason: "needs dtype, shape and data_offsets")
            }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw SafeTensorsError.unsupportedDType(path: source, tensor: name, dtype: dtypeName)
            }
            let shape = try shapeAny.map { any -> Int in
                guard let n = (any as? NSNumber)?.intValue, n >= 0, n <= Int(Int32.max) else {
                    throw SafeTensorsError.badTensor(path: source, tensor: name, reason: "bad shape \(shapeAny)")
                }
                return n
            }
            let offsets = try offsetsAny.map { any -> Int in
                guard let n = (any as? NSNumber)?.intValue, n >= 0 else {
                    throw SafeTensorsError.badTensor(path: source, tensor: name, reason: "bad data_offsets \(offsetsAny)")
                }
                return n
            }
            var count = 1
            for d in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, product <= dataLength else {
                    throw SafeTensorsError.badTensor(path: source, tensor: name, reason: "shape \(shape) larger than the file")
                }
                count = product
            }
            guard offsets[0] <= offsets[1], offsets[1] - offsets[0] == count * dtype.size else {
                throw SafeTensorsError.badTensor(path: source, tensor: name,
                    reason: "data_offsets \(offsets) do not hold \(count) × \(dtype.rawValue)")
            }
            guard offsets[1] <= dataLength else {
                throw SafeTensorsError.truncated(path: source, needed: headerEnd + offsets[1], available: bytes.count)
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, byteRange: offsets[0]..<offsets[1]))
        }
        entries.sort { ($0.byteRange.lowerBound, $0.name) < ($1.byteRange.lowerBound, $1.name) }
        for (a, b) in zip(entries, entries.dropFirst()) where a.byteRange.upperBound > b.byteRange.lowerBound {
            throw SafeTensorsError.badTensor(path: source, tensor: b.name, reason: "overlaps '\(a.name)'")
        }
        self.metadata = metadata
        self.entries = entries
        self.byName = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    /// Names of all tensors, in file order.
    public var tensorNames: [String] { entries.map(\.name) }

    /// The header entry of `name`, or nil.
    public func entry(_ name: String) -> Entry? { byName[name].map { entries[$0] } }

    /// The tensor `name` converted to `Float`. Throws `missingTensor`, `shapeMismatch` (when
    /// `expectedShape` is given and differs) or `nonFinite` (float data containing NaN/Inf).
    public func tensor(_ name: String, expectedShape: [Int]? = nil) throws -> Tensor {
        guard let e = entry(name) else { throw SafeTensorsError.missingTensor(path: source, tensor: name) }
        if let expectedShape, expectedShape != e.shape {
            throw SafeTensorsError.shapeMismatch(path: source, tensor: name, expected: expectedShape, actual: e.shape)
        }
        let count = e.shape.reduce(1, *)
        var finite = true
        let out = [Float](unsafeUninitializedCapacity: count) { o, initialized in
            bytes.withUnsafeBytes { raw in
                let base = raw.baseAddress! + dataStart + e.byteRange.lowerBound
                Self.convert(base, dtype: e.dtype, count: count, into: o)
            }
            initialized = count
            var bad: Float = 0
            for v in o { bad += v * 0 }  // NaN iff some value is NaN or infinite
            finite = !bad.isNaN
        }
        if !finite { throw SafeTensorsError.nonFinite(path: source, tensor: name) }
        return Tensor(shape: e.shape, storage: out)
    }

    static func convert(_ p: UnsafeRawPointer, dtype: SafeTensorsDType, count: Int, into out: inout [Float]) {
        out.withUnsafeMutableBufferPointer { o in convert(p, dtype: dtype, count: count, into: o) }
    }

    static func convert(_ p: UnsafeRawPointer, dtype: SafeTensorsDType, count: Int, into o: UnsafeMutableBufferPointer<Float>) {
        switch dtype {
        case .f32: for i in 0..<count { o[i] = Float(bitPattern: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
        case .f16: for i in 0..<count { o[i] = Float(halfBits: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
        case .bf16: for i in 0..<count { o[i] = Float(bitPattern: UInt32(p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) << 16) }
        case .f64: for i in 0..<count { o[i] = Float(Double(bitPattern: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self).littleEndian)) }
        case .i64: for i in 0..<count { o[i] = Float(Int64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
        case .i32: for i in 0..<count { o[i] = Float(Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        case .u8: for i in 0..<count { o[i] = Float(p.load(fromByteOffset: i, as: UInt8.self)) }
        case .i8: for i in 0..<count { o[i] = Float(p.load(fromByteOffset: i, as: Int8.self)) }
        }
    }
}

// MARK: - Raw tensors (pass-through)

/// One tensor exactly as a safetensors file stores it: dtype, shape and little-endian bytes.
///
/// It exists so a file can be rewritten without touching tensors it does not change — a
/// trained model copies the backbone's F16 weights byte for byte and adds F32 head tensors.
public struct SafeTensorsRawTensor: Sendable, Equatable {
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    public let bytes: [UInt8]

    /// Wraps encoded bytes; their count must be `shape.product × dtype.size`.
    public init(dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8], name: String = "(tensor)") throws {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) * dtype.size == bytes.count else {
            throw SafeTensorsError.badTensor(path: "(writing)", tensor: name,
                reason: "\(bytes.count) bytes do not hold shape \(shape) of \(dtype.rawValue)")
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// Encodes `tensor` as F32 or F16 (the dtypes radb writes).
    public init(_ tensor: Tensor, dtype: SafeTensorsDType = .f32, name: String = "(tensor)") throws {
        var out = [UInt8]()
        out.reserveCapacity(tensor.count * dtype.size)
        switch dtype {
        case .f32: for v in tensor.storage { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        case .f16: for v in tensor.storage { withUnsafeBytes(of: v.halfBits.littleEndian) { out += $0 } }
        default: throw SafeTensorsError.unsupportedDType(path: "(writing)", tensor: name, dtype: dtype.rawValue)
        }
        self.dtype = dtype
        self.shape = tensor.shape
        self.bytes = out
    }

    /// The values converted to Float (any readable dtype).
    public func tensor() -> Tensor {
        let count = shape.reduce(1, *)
        var out = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            if let base = raw.baseAddress { SafeTensorsFile.convert(base, dtype: dtype, count: count, into: &out) }
        }
        return Tensor(shape: shape, storage: out)
    }
}

extension SafeTensorsFile {
    /// The tensor `name` as stored (no conversion). Throws `missingTensor`.
    public func raw(_ name: String) throws -> SafeTensorsRawTensor {
        guard let e = entry(name) else { throw SafeTensorsError.missingTensor(path: source, tensor: name) }
        let start = dataStart + e.byteRange.lowerBound
        return try SafeTensorsRawTensor(dtype: e.dtype, shape: e.shape,
                                        bytes: Array(bytes[start..<(dataStart + e.byteRange.upperBound)]), name: name)
    }
}

// MARK: - Writer

extension SafeTensorsFile {
    /// Serialises `tensors` (written in the given order, each as F32 or F16) and `metadata` into
    /// safetensors bytes. The JSON header has sorted keys and is space-padded to a multiple of 8
    /// so the data section stays aligned.
    public static func serialize(_ tensors: [(name: String, tensor: Tensor, dtype: SafeTensorsDType)],
                                 metadata: [String: String] = [:]) throws -> [UInt8] {
        try serialize(raw: tensors.map { ($0.name, try SafeTensorsRawTensor($0.tensor, dtype: $0.dtype, name: $0.name)) },
                      metadata: metadata)
    }

    /// Serialises already-encoded tensors (any dtype, bytes copied unchanged) in the given order.
    public static func serialize(raw tensors: [(name: String, tensor: SafeTensorsRawTensor)],
                                 metadata: [String: String] = [:]) throws -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for (name, tensor) in tensors {
            guard header[name] == nil, name != "__metadata__" else {
                throw SafeTensorsError.badTensor(path: "(writing)", tensor: name, reason: "duplicate name")
            }
            let length = tensor.bytes.count
            header[name] = ["dtype": tensor.dtype.rawValue, "shape": tensor.shape,
                            "data_offsets": [offset, offset + length]] as [String: Any]
            offset += length
        }
        var json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]))
        while json.count % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        var length = UInt64(json.count)
        for _ in 0..<8 { out.append(UInt8(length & 0xff)); length >>= 8 }
        out += json
        for (_, tensor) in tensors { out += tensor.bytes }
        return out
    }

    /// Writes `tensors` and `metadata` to `url` atomically (temporary file + rename).
    public static func write(_ tensors: [(name: String, tensor: Tensor, dtype: SafeTensorsDType)],
                             metadata: [String: String] = [:], to url: URL) throws {
        try write(bytes: try serialize(tensors, metadata: metadata), to: url)
    }

    /// Writes already-encoded tensors and `metadata` to `url` atomically (temporary file + rename).
    public static func write(raw tensors: [(name: String, tensor: SafeTensorsRawTensor)],
                             metadata: [String: String] = [:], to url: URL) throws {
        try write(bytes: try serialize(raw: tensors, metadata: metadata), to: url)
    }

    private static func write(bytes: [UInt8], to url: URL) throws {
        do { try AtomicFile.write(bytes, to: url) } catch {
            throw SafeTensorsError.unwritable(path: url.path, reason: "\(error)")
        }
    }
}

// MARK: - IEEE half precision

extension Float {
    /// Converts IEEE 754 binary16 bits to Float (exact: every half is representable).
    @inlinable init(halfBits h: UInt16) {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1f)
        let mantissa = UInt32(h & 0x3ff)
        if exponent == 0 {
            // Zero or subnormal: mantissa × 2^-24.
            let magnitude = Float(mantissa) * 0x1p-24
            self = sign == 0 ? magnitude : -magnitude
        } else if exponent == 31 {
            self = Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
        } else {
            self = Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
        }
    }

    /// IEEE 754 binary16 bits of this value, rounded to nearest even (overflow → infinity).
    @inlinable var halfBits: UInt16 {
        let bits = bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xff)
        var mantissa = bits & 0x7f_ffff
        if exponent == 0xff { return sign | 0x7c00 | (mantissa != 0 ? 0x200 : 0) }
        let e = exponent - 127 + 15
        if e >= 31 { return sign | 0x7c00 }
        if e <= 0 {
            // Subnormal half (or zero): shift the implicit-1 mantissa right, rounding to nearest even.
            if e < -10 { return sign }
            mantissa |= 0x80_0000
            let shift = UInt32(14 - e)
            let half = mantissa >> shift
            let rest = mantissa & ((1 << shift) - 1)
            let halfway = UInt32(1) << (shift - 1)
            let rounded = half + ((rest > halfway || (rest == halfway && half & 1 == 1)) ? 1 : 0)
            return sign | UInt16(rounded)
        }
        var half = UInt32(e) << 10 | (mantissa >> 13)
        let rest = mantissa & 0x1fff
        if rest > 0x1000 || (rest == 0x1000 && half & 1 == 1) { half += 1 }  // may carry into the exponent: correct
        return sign | UInt16(half)
    }
}
