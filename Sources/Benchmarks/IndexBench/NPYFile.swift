import Foundation

/// Minimal reader/writer of NumPy `.npy` files (version 1/2, little-endian, C order) for the
/// benchmark's float32 matrices and int64 id tables, so Python and Swift share data without copies
/// through text.
enum NPYFile {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads a 2-D `<f4` array; returns (rows, columns, values).
    static func readFloat32Matrix(_ path: String) throws -> (rows: Int, columns: Int, values: [Float]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "\(path): cannot read; run Tools/bench_search.py to generate the data")
        }
        let (descr, shape, offset) = try header(data, path: path)
        guard descr == "<f4", shape.count == 2 else {
            throw Failure(description: "\(path): expected a 2-D float32 (<f4) array, found \(descr) \(shape)")
        }
        let count = shape[0] * shape[1]
        guard data.count - offset >= count * 4 else { throw Failure(description: "\(path): file is truncated") }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { out in
            data.withUnsafeBytes { raw in
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset ..< offset + count * 4]))
            }
        }
        return (shape[0], shape[1], values)
    }

    /// Writes a 2-D array of `<f4` or `<i8` values.
    static func write(_ path: String, rows: Int, columns: Int, descr: String, bytes: UnsafeRawBufferPointer) throws {
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
        // Pad so that magic (6) + version (2) + length (2) + header + "\n" is a multiple of 64.
        while (10 + dict.utf8.count + 1) % 64 != 0 { dict += " " }
        dict += "\n"
        var file = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(dict.utf8.count)
        file.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        file.append(contentsOf: Array(dict.utf8))
        file.append(contentsOf: bytes)
        try file.write(to: URL(fileURLWithPath: path))
    }

    private static func header(_ data: Data, path: String) throws -> (String, [Int], Int) {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw Failure(description: "\(path): not a .npy file")
        }
        let major = bytes[6]
        let (length, start): (Int, Int) = major == 1
            ? (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
            : (Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24, 12)
        guard let text = String(data: data[start ..< start + length], encoding: .ascii) else {
            throw Failure(description: "\(path): unreadable header")
        }
        guard !text.contains("'fortran_order': True") else {
            throw Failure(description: "\(path): Fortran-ordered arrays are not supported")
        }
        func field(_ name: String) -> String? {
            guard let r = text.range(of: "'\(name)':") else { return nil }
            return String(text[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let d = field("descr"), let s = field("shape") else {
            throw Failure(description: "\(path): header lacks descr or shape")
        }
        let descr = String(d.dropFirst().prefix { $0 != "'" })
        let inside = s.dropFirst().prefix { $0 != ")" }
        let shape = inside.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return (descr, shape, start + length)
    }
}
