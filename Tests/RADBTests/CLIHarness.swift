import Foundation
import XCTest

/// Runs the built `radb` binary the way a user would, in a temporary working directory.
///
/// The binary is found beside the test bundle (SwiftPM builds every executable before the
/// tests), so the end-to-end tests exercise exactly what `swift build` produced.
struct CLIHarness {
    /// Output of one finished `radb` run.
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// stdout parsed as a JSON object (fails the test when it is not one).
        func json(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
            let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
            return try XCTUnwrap(object as? [String: Any], "stdout is not a JSON object: \(stdout)", file: file, line: line)
        }
    }

    let workdir: URL

    /// The repository root (for Fixtures/ and .data/).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `radb` executable built with the tests.
    static let binary: URL = {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("radb"),
            Bundle.main.bundleURL.appendingPathComponent("radb"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("radb"),
            repositoryRoot.appendingPathComponent(".build/release/radb"),
            repositoryRoot.appendingPathComponent(".build/debug/radb"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }()

    init() throws {
        workdir = FileManager.default.temporaryDirectory.appendingPathComponent("radb-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workdir, withIntermediateDirectories: true)
    }

    func cleanUp() { try? FileManager.default.removeItem(at: workdir) }

    /// Starts `radb args…` without waiting; stdout/stderr go to files in the work directory.
    func start(_ args: [String], environment: [String: String] = [:], tag: String = UUID().uuidString) throws -> (Process, URL, URL) {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = args
        p.currentDirectoryURL = workdir
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "RADB_DB")
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = workdir.appendingPathComponent(".out-\(tag)")
        let err = workdir.appendingPathComponent(".err-\(tag)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return (p, out, err)
    }

    /// Runs `radb args…` to completion.
    @discardableResult
    func run(_ args: [String], environment: [String: String] = [:]) throws -> Result {
        let (p, out, err) = try start(args, environment: environment)
        p.waitUntilExit()
        return Result(status: p.terminationStatus,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }

    /// Runs `radb args…` under `ulimit -f` (file-size limit, as if the disk were full).
    func runLimitingFileSize(kilobytes: Int, _ args: [String]) throws -> Result {
        try runLimited("trap '' XFSZ; ulimit -f \(kilobytes)", args)
    }

    /// Runs `radb args…` under `ulimit -v` (address-space limit: an allocation beyond it fails).
    func runLimitingMemory(megabytes: Int, _ args: [String]) throws -> Result {
        try runLimited("ulimit -v \(megabytes * 1024)", args)
    }

    /// Runs `radb args…` after the bash commands `limits`.
    private func runLimited(_ limits: String, _ args: [String]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "\(limits); exec \"$0\" \"$@\"", Self.binary.path] + args
        p.currentDirectoryURL = workdir
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Copies `count` CIFAR-10 test images (spread over the classes) into `folder/<class>/`.
    /// Returns nil when the shared dataset is not unpacked (`bash Tools/unpack-datasets.sh`).
    static func copyCIFARSubset(count: Int, to folder: URL) throws -> Int? {
        let test = repositoryRoot.appendingPathComponent(".data/cifar10/test")
        guard let classes = try? FileManager.default.contentsOfDirectory(atPath: test.path).sorted(), !classes.isEmpty else { return nil }
        var copied = 0
        let perClass = (count + classes.count - 1) / classes.count
        for c in classes {
            let files = try FileManager.default.contentsOfDirectory(atPath: test.appendingPathComponent(c).path).sorted().prefix(perClass)
            let dest = folder.appendingPathComponent(c)
            try FileManager.default.createDirectory(at: dest, withIntermediateDirectories: true)
            for f in files where copied < count {
                try FileManager.default.copyItem(at: test.appendingPathComponent(c).appendingPathComponent(f), to: dest.appendingPathComponent(f))
                copied += 1
            }
        }
        return copied
    }
}
