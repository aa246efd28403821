import FuzzSupport
import Foundation
import RADB

// MARK: - fuzz-filter

/// Parses untrusted text as a `radb search --where` expression (`FilterExpression.parse`) and,
/// when it parses, runs the filtered search against a small database built at start-up, so the
/// filter's translation to SQL (GLOB patterns, IN lists, dates) is exercised as well. Results
/// must satisfy the filter's label and id conditions.
enum FilterFuzz {
    static let labels = ["cat", "dog", "O'Brien", "100%_done", "*[?]", "ünï"]
    static let paths = ["/photos/a.jpg", "/photos/2024/b.png", "/x/[1]*.webp", "/y/it's.jpg", "/z/%_.jpg", "/ünï/ç.jpg"]

    /// A 12-item, 4-dimensional database in a temporary directory (removed at exit).
    static let database: Database = {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("radb-fuzz-filter-\(getpid())")
        temporaryFolder = strdup(folder.path)
        atexit { if let p = FilterFuzz.temporaryFolder { _ = try? FileManager.default.removeItem(atPath: String(cString: p)) } }
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            var lines = ""
            var values: [Float] = []
            for i in 0..<12 {
                let object: [String: Any] = ["path": paths[i % paths.count] + "\(i)", "label": labels[i % labels.count]]
                lines += String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self) + "\n"
                values += [Float(i), Float(i % 3), Float(i % 5), 1]
            }
            let metadata = folder.appendingPathComponent("meta.jsonl")
            try lines.write(to: metadata, atomically: true, encoding: .utf8)
            let url = folder.appendingPathComponent("db")
            _ = try Database.importVectors(NPYMatrix(rows: 12, columns: 4, values: values), metadata: metadata,
                                           into: url, anchorCount: 3)
            return try Database.open(at: url, mode: .readOnly)
        } catch { fatalError("fuzz-filter: cannot build the sample database: \(error)") }
    }()
    nonisolated(unsafe) static var temporaryFolder: UnsafeMutablePointer<CChar>?

    static func run(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let filter = try? FilterExpression.parse(text) else { return }
        for probe in [SearchOptions.Probe.exact, .nearest(1)] {
            let options = SearchOptions(k: 5, probe: probe, filter: filter)
            guard let matches = try? database.search(vector: [1, 1, 1, 1], options: options) else { continue }
            for m in matches {
                if let ids = filter.ids { precondition(ids.contains(m.id), "id \(m.id) is outside \(ids)") }
                if let labels = filter.labels {
                    precondition(m.label.map(labels.contains) == true, "label \(m.label ?? "nil") is outside \(labels)")
                }
            }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFilterTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FilterFuzz.run(FuzzDriver.bytes(data, size))
    return 0
}

@main
enum FuzzFilterMain {
    static func main() {
        _ = FilterFuzz.database
        FuzzDriver.run(fuzzFilterTestOneInput)
    }
}
