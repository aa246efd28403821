import Foundation
import GRDB
import RADBStore
import XCTest

/// Shared helpers: temporary databases, deterministic vectors, the probe process.
class StoreTestCase: XCTestCase {
    var temporaryDirectory: URL!

    override func setUpWithError() throws {
        temporaryDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("radb-store-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: temporaryDirectory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: temporaryDirectory)
    }

    /// A fresh database path (not yet created) inside the test's directory.
    func databaseURL(_ name: String = "db") -> URL { temporaryDirectory.appendingPathComponent(name) }

    /// Fast options for tests: no fsync (the crash test opts back in).
    var fastOptions: StoreOptions { StoreOptions(durable: false, writeLockTimeout: 5) }

    func makeStore(dimension: Int = 8, name: String = "db", options: StoreOptions? = nil) throws -> VectorStore {
        try VectorStore.create(at: databaseURL(name), dimension: dimension, modelIdentity: "model-A", options: options ?? fastOptions)
    }

    /// Deterministic pseudo-random generator (SplitMix64) so failures reproduce.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    func randomVector(_ d: Int, _ rng: inout SplitMix) -> [Float] {
        (0..<d).map { _ in Float.random(in: -2...2, using: &rng) }
    }

    func newItems(_ n: Int, dimension: Int, anchors: Int32, seed: UInt64, prefix: String = "img") -> [NewItem] {
        var rng = SplitMix(state: seed)
        return (0..<n).map { i in
            NewItem(vector: randomVector(dimension, &rng), anchor: Int32.random(in: 0..<anchors, using: &rng),
                    metadata: ItemMetadata(path: "\(prefix)/\(seed)/\(i).jpg", contentHash: "hash-\(seed)-\(i)",
                                           label: i % 3 == 0 ? nil : "class\(i % 5)", width: 32 + i, height: 24 + i))
        }
    }

    func assertBitIdentical(_ a: [Float]?, _ b: [Float], file: StaticString = #filePath, line: UInt = #line) {
        guard let a else { return XCTFail("vector missing", file: file, line: line) }
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), file: file, line: line)
    }

    func assertClean(_ store: VectorStore, file: StaticString = #filePath, line: UInt = #line) throws {
        let problems = try store.check()
        XCTAssertEqual(problems, [], "check() found problems", file: file, line: line)
    }

    /// What the data files hold, to prove a failed call changed nothing: the LMDB file's bytes
    /// and the catalog's logical content (read from a copy, since any SQLite open may
    /// checkpoint the WAL into the main file without changing the content). A file that is
    /// not SQLite is compared byte for byte.
    func dataFingerprint(_ url: URL) -> [String: Data] {
        var out: [String: Data] = [:]
        out["vectors/data.mdb"] = try? Data(contentsOf: url.appendingPathComponent("vectors/data.mdb"))
        let catalog = url.appendingPathComponent("catalog.sqlite")
        guard let raw = try? Data(contentsOf: catalog) else { return out }
        guard raw.prefix(16) == Data("SQLite format 3\0".utf8) else { out["catalog.sqlite"] = raw; return out }
        let copyDir = temporaryDirectory.appendingPathComponent("fingerprint-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: copyDir) }
        do {
            try FileManager.default.createDirectory(at: copyDir, withIntermediateDirectories: true)
            for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: catalog.path + suffix) {
                try FileManager.default.copyItem(atPath: catalog.path + suffix, toPath: copyDir.path + "/c.sqlite" + suffix)
            }
            var config = Configuration()
            config.busyMode = .timeout(10)
            let q = try DatabaseQueue(path: copyDir.path + "/c.sqlite", configuration: config)
            var dump = ""
            try q.read { db in
                dump += "version \(try Int.fetchOne(db, sql: "PRAGMA user_version") ?? -1)\n"
                for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") {
                    // Every table has ≥ 2 columns; `label_runs` has no rowid.
                    for row in try Row.fetchAll(db, sql: "SELECT * FROM \"\(table)\" ORDER BY 1, 2") { dump += "\(table) \(row)\n" }
                }
            }
            try q.close()
            out["catalog.sqlite"] = Data(dump.utf8)
        } catch {
            out["catalog.sqlite"] = raw
        }
        return out
    }

    /// Asserts `body` throws a `StoreError` matching `matches`, and returns it.
    @discardableResult
    func assertStoreError<T>(_ body: @autoclosure () throws -> T, _ matches: (StoreError) -> Bool,
                             file: StaticString = #filePath, line: UInt = #line) -> StoreError? {
        do {
            _ = try body()
            XCTFail("expected a StoreError, got success", file: file, line: line)
        } catch let e as StoreError {
            XCTAssertTrue(matches(e), "unexpected error: \(e)", file: file, line: line)
            XCTAssertFalse(e.description.isEmpty, file: file, line: line)
            return e
        } catch {
            XCTFail("expected a StoreError, got \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: - Probe process

    /// The `radb-store-probe` executable built next to the test bundle.
    func probeExecutable() throws -> URL {
        var dirs = [Bundle(for: StoreTestCase.self).bundleURL.deletingLastPathComponent(),
                    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        dirs += ["release", "debug"].map { root.appendingPathComponent(".build/\($0)") }
        for d in dirs {
            let candidate = d.appendingPathComponent("radb-store-probe")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw StoreTestFailure("radb-store-probe not found next to the tests (looked in \(dirs.map(\.path))); build all products with `swift build -c release`")
    }

    func startProbe(_ arguments: [String], environment: [String: String] = [:]) throws -> ProbeProcess {
        try ProbeProcess(executable: probeExecutable(), arguments: arguments, environment: environment)
    }
}

struct StoreTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A running probe with line-by-line access to its standard output.
final class ProbeProcess {
    let process = Process()
    private let out = Pipe()
    private let err = Pipe()
    private var buffer = Data()

    init(executable: URL, arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = out
        process.standardError = err
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// The next line of output, or nil at end of output.
    func readLine() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                return line
            }
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            buffer.append(chunk)
        }
    }

    /// All remaining complete lines after the process ended.
    func remainingLines() -> [String] {
        var lines: [String] = []
        while let l = readLine() { lines.append(l) }
        return lines
    }

    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func wait() -> (status: Int32, stderr: String) {
        process.waitUntilExit()
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, e)
    }
}
