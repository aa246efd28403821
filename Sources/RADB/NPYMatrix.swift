import Foundation

/// A row-major float32 matrix read from or written to a NumPy `.npy` file.
///
/// `.npy` is how scripts hand vectors to radb (`radb search --vectors Q.npy`, `radb import`)
/// and take them back (`radb embed --out`, `radb export`). Reading accepts version 1–3
/// headers, little-endian `<f4` or `<f8` (converted to float32), C order, 1-D (one row) or
/// 2-D shapes; anything else is an `NPYMatrix.Error` naming the file.
public struct NPYMatrix: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    /// `rows × columns` values, row-major.
    public var values: [Float]

    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(rows * columns == values.count, "NPYMatrix: \(rows)×\(columns) needs \(rows * columns) values")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    /// One row as an array.
    public func row(_ i: Int) -> [Float] { Array(values[(i * columns)..<((i + 1) * columns)]) }

    /// A `.npy` file that radb cannot read.
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    // MARK: - Reading

    /// Reads a float32/float64 `.npy` file.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw Error(path: url.path, reason: "cannot read the file (\(error.localizedDescription)); check the path and permissions")
        }
        try self.init(npyBytes: [UInt8](data), path: url.path)
    }

    /// Parses the bytes of a `.npy` file; `path` names it in errors. Throws `NPYMatrix.Error`.
    package init(npyBytes bytes: [UInt8], path: String) throws {
        func fail(_ r: String) -> Error { Error(path: path, reason: r + "; expected a NumPy .npy file of float32 vectors, e.g. np.save(path, x.astype('float32'))") }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else { throw fail("not a .npy file (bad magic)") }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        } else if major == 2 || major == 3 {
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        } else { throw fail("unsupported .npy version \(major)") }
        guard headerStart + headerLength <= bytes.count,
              let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8)
        else { throw fail("truncated header") }
        let descr = Self.field("descr", in: header)
        let elementSize: Int
        switch descr {
        case "<f4", "=f4", "f4": elementSize = 4
        case "<f8", "=f8", "f8": elementSize = 8
        default: throw fail("dtype \(descr ?? "?") is not supported (use float32)")
        }
        if let fortran = Self.field("fortran_order", in: header), fortran.hasPrefix("True") { throw fail("Fortran order is not supported (save with np.ascontiguousarray)") }
        guard let shapeText = Self.field("shape", in: header) else { throw fail("header has no shape") }
        let dimTexts = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let dims = dimTexts.compactMap { Int($0) }
        // A dimension too large for Int is dropped by compactMap: that must not turn (huge, 4) into (4,).
        guard dims.count == dimTexts.count else { throw fail("shape \(shapeText) has a dimension that is not a non-negative integer below 2^63") }
        let (r, c): (Int, Int)
        switch dims.count {
        case 1: (r, c) = (1, dims[0])
        case 2: (r, c) = (dims[0], dims[1])
        default: throw fail("shape \(shapeText) is not 1-D or 2-D")
        }
        let payload = headerStart + headerLength
        // The shape is untrusted: bound it by the bytes actually present before multiplying or
        // allocating (a shape of (2^62, 4) must be an error, not an overflow trap).
        guard r >= 0, c >= 0 else { throw fail("shape \(shapeText) has a negative dimension") }
        let available = bytes.count - payload
        let (count, countOverflow) = r.multipliedReportingOverflow(by: c)
        let (needed, neededOverflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !countOverflow, !neededOverflow, available >= needed else {
            let need = countOverflow || neededOverflow ? "more than \(Int.max) bytes" : "\(needed) data bytes"
            throw fail("file is truncated or its header is wrong: shape \(shapeText) needs \(need) but the file holds \(available)")
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            if elementSize == 4 {
                for i in 0..<count { values[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: payload + 4 * i, as: UInt32.self))) }
            } else {
                for i in 0..<count { values[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: payload + 8 * i, as: UInt64.self)))) }
            }
        }
        self.init(rows: r, columns: c, values: values)
    }

    /// The value text of `'key': value` in a .npy header dictionary.
    private static func field(_ key: String, in header: String) -> String? {
        guard let range = header.range(of: "'\(key)':") else { return nil }
        var rest = header[range.upperBound...].drop { $0 == " " }
        if rest.first == "'" {
            rest = rest.dropFirst()
            return String(rest.prefix { $0 != "'" })
        }
        if rest.first == "(" { return String(rest.prefix { $0 != ")" }) + ")" }
        return String(rest.prefix { $0 != "," && $0 != "}" })
    }

    // MARK: - Writing

    /// The `.npy` (version 1.0, `<f4`, C order) encoding of this matrix.
    public func npyData() -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let n = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(n & 0xff), UInt8(n >> 8)])
        out.append(contentsOf: Array(header.utf8))
        values.withUnsafeBufferPointer { buf in
            for v in buf { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        }
        return out
    }

    /// Writes the matrix atomically to `url`.
    public func write(to url: URL) throws {
        do { try npyData().write(to: url, options: .atomic) } catch {
            throw Error(path: url.path, reason: "cannot write (\(error.localizedDescription)); check the folder exists and has free space")
        }
    }
}
