import FuzzSupport
import Foundation
import RADB

// MARK: - fuzz-jsonl

/// Parses untrusted bytes as the JSON-lines metadata of `radb import --metadata`
/// (`Database.importMetadata`, which `importVectors` calls after reading the file): line
/// splitting (LF, CRLF, blank lines), UTF-8 and JSON checks, field types, and the catalog's
/// `ItemMetadata.problem` validation. The matrix has one zero row per non-blank line, so the
/// per-line parsing is reached; the line count is taken from the first input byte for one
/// input in eight, so the mismatch path is exercised as well.
enum JSONLFuzz {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let data = Data(bytes)
        var rows = data.split(separator: 0x0A, omittingEmptySubsequences: false).filter { line in
            !line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
        }.count
        if let first = bytes.first, first & 7 == 7 { rows = Int(first >> 3) }
        guard rows > 0 else { return }
        let matrix = NPYMatrix(rows: rows, columns: 2, values: [Float](repeating: 0, count: rows * 2))
        guard let metas = try? Database.importMetadata(jsonLines: data, source: "fuzz-input.jsonl", matrix: matrix) else {
            return
        }
        precondition(metas.count == rows, "\(metas.count) records for \(rows) rows")
        for m in metas { precondition(m.problem == nil, "accepted metadata with a problem: \(m.problem!)") }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONLTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    JSONLFuzz.run(FuzzDriver.bytes(data, size))
    return 0
}

@main
enum FuzzJSONLMain {
    static func main() { FuzzDriver.run(fuzzJSONLTestOneInput) }
}
