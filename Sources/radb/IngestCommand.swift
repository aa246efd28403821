import ArgumentParser
import Foundation
import RADB
#if canImport(Glibc)
import Glibc
#endif

/// `radb ingest`: embed and store every image under the given paths.
struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Add images (files or folders, recursively) to the database.",
        discussion: """
        Files are recognised by their content, not their names. Ingest is idempotent: an image \
        whose content is already stored is counted as unchanged. It is safe to interrupt at any \
        moment (Ctrl-C, kill): run the same command again to finish. Files that cannot be read \
        are listed with the reason and never stop the run. Creates the database if it does not exist.
        """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Image files or folders to add.", valueName: "path"))
    var paths: [String]

    @Flag(help: "Use each image's parent folder name as its label.")
    var labelFromFolder = false

    func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one file or folder to ingest") }
    }

    func run() throws {
        try reportingErrors {
            let db = try Database.openOrCreate(at: global.databaseURL)
            let urls = paths.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath) }
            let bar = ProgressBar(label: "ingest")
            let interrupted = InterruptFlag.install()
            let report = try db.ingest(urls, options: IngestOptions(labelFromFolder: labelFromFolder),
                                       progress: { p in bar.update(done: p.processed, total: p.total) },
                                       isCancelled: { interrupted.isSet })
            bar.finish()
            if global.json {
                Output.json(["added": report.added, "unchanged": report.unchanged,
                             "failed": report.failed.map { ["path": $0.path, "error": $0.reason] },
                             "cancelled": report.cancelled])
            } else {
                for f in report.failed { Output.note("failed: \(f.path): \(f.reason)") }
                print("added \(report.added), unchanged \(report.unchanged), failed \(report.failed.count)"
                      + (report.cancelled ? " (interrupted: run the same command again to finish)" : ""))
            }
            if report.cancelled { throw ExitCode(130) }
            if !report.failed.isEmpty { throw ExitStatus.partial }
        }
    }
}

/// Turns the first SIGINT/SIGTERM into a cancellation request (the ingest stops after the
/// batch in flight is committed); a second one kills the process as usual.
final class InterruptFlag: @unchecked Sendable {
    private static let shared = InterruptFlag()
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var flag = false

    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return flag }

    static func install() -> InterruptFlag {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                shared.lock.lock()
                let second = shared.flag
                shared.flag = true
                shared.lock.unlock()
                if second { signal(sig, SIG_DFL); raise(sig) }
                Output.note("\nradb: stopping after the current batch (press Ctrl-C again to abort now)")
            }
            source.resume()
            shared.sources.append(source)
        }
        return shared
    }
}

/// For commands that cannot stop half-way but can be abandoned (backup): the first
/// SIGINT/SIGTERM removes the registered partial output and exits with 130 at once.
final class AbortCleanup: @unchecked Sendable {
    private static let shared = AbortCleanup()
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var paths: [URL] = []

    /// Registers `url` to be deleted if the process is interrupted.
    func removeOnAbort(_ url: URL) { lock.lock(); paths.append(url); lock.unlock() }

    static func install() -> AbortCleanup {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                shared.lock.lock()
                let doomed = shared.paths
                shared.lock.unlock()
                for url in doomed { try? FileManager.default.removeItem(at: url) }
                Output.note("\nradb: interrupted; the partial output was removed")
                exit(130)
            }
            source.resume()
            shared.sources.append(source)
        }
        return shared
    }
}
