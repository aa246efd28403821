import FuzzSupport
import Foundation
import RADB

// MARK: - fuzz-npy

/// Parses untrusted bytes as a `.npy` file, as `radb import` and `radb search --vectors` do
/// (`NPYMatrix(contentsOf:)` reads the file and calls the same parser), and reads every row.
enum NPYFuzz {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let m = try? NPYMatrix(npyBytes: Array(bytes), path: "fuzz-input.npy") else { return }
        precondition(m.rows >= 0 && m.columns >= 0 && m.values.count == m.rows * m.columns,
                     "\(m.rows)x\(m.columns) matrix holds \(m.values.count) values")
        precondition(m.values.count * 4 <= bytes.count, "\(m.values.count) values from \(bytes.count) bytes")
        if m.rows > 0 { _ = m.row(m.rows - 1) }
        // What the commands do next: reject non-finite rows and re-encode.
        _ = m.values.firstIndex { !$0.isFinite }
        _ = m.npyData()
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPYTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    NPYFuzz.run(FuzzDriver.bytes(data, size))
    return 0
}

@main
enum FuzzNPYMain {
    static func main() { FuzzDriver.run(fuzzNPYTestOneInput) }
}
