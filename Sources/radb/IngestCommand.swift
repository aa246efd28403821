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
        Files are recognised by their content, not their names: JPEG, PNG, WebP, HEIC/HEIF, AVIF, \
        TIFF, GIF, BMP and camera RAW. Files in the folders that are not images are listed as \
        skipped, with the reason. Ingest is idempotent: an image \
        whose content is already stored is counted as unchanged. It is safe to interrupt at any \
        moment (Ctrl-C, kill): run the same command again to finish. Files that cannot be read \
        are listed with the reason and never stop the run. Creates the database if it does not exist.
        """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Image files or folders to add.", valueName: "path"))
    var paths: [String]

    @Flag(help: "Use each image's parent folder name as its label.")
    var labelFromFolder = false

    @Option(help: ArgumentHelp("Memory the decoded pictures of one batch may take, in MB (default \(IngestOptions.defaultDecodeMemoryBudget >> 20)); "
                                + "a file that alone needs more is refused, naming the file.", valueName: "MB"))
    var decodeMemory: Int?

    func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one file or folder to ingest") }
        if let mb = decodeMemory, !(1...(1 << 30)).contains(mb) {
            throw ValidationError("--decode-memory must be between 1 and \(1 << 30) MB (got \(mb))")
        }
    }

    func run() throws {
        try reportingErrors {
            let db = try Database.openOrCreate(at: global.databaseURL)
            let urls = paths.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath) }
            let bar = ProgressBar(label: "ingest")
            let interrupted = InterruptFlag.install()
            let report = try db.ingest(urls, options: IngestOptions(labelFromFolder: labelFromFolder,
                                                                     decodeMemoryBudget: decodeMemory.map { $0 << 20 } ?? IngestOptions.defaultDecodeMemoryBudget),
                                       progress: { p in bar.update(done: p.processed, total: p.total) },
                                       isCancelled: { interrupted.isSet })
            bar.finish()
            if global.json {
                Output.json(["added": report.added, "unchanged": report.unchanged,
                             "failed": report.failed.map { ["path": $0.path, "error": $0.reason] },
                             "skipped": report.skipped.map { ["path": $0.path, "reason": $0.reason] },
                             "cancelled": report.cancelled,
                             "relearned_anchors": report.relearnedAnchors.map { $0 as Any } ?? NSNull()])
            } else {
                for s in report.skipped { Output.note("skipped: \(s.path): \(s.reason)") }
                for f in report.failed { Output.note("failed: \(f.path): \(f.reason)") }
                print("added \(report.added), unchanged \(report.unchanged), failed \(report.failed.count)"
                      + (report.skipped.isEmpty ? "" : ", skipped \(report.skipped.count) (not images)")
                      + (report.cancelled ? " (interrupted: run the same command again to finish)" : ""))
                if let t = report.relearnedAnchors { print("the collection has outgrown its partitions: re-partitioned under \(t) k-means anchors") }
            }
            if report.cancelled { throw ExitCode(130) }
            if !report.failed.isEmpty { throw ExitStatus.partial }
        }
    }
}
