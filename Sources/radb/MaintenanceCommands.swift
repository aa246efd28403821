import ArgumentParser
import Foundation
import RADB

/// `radb stats`: how much is stored and with which model.
struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Show what the database holds.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try reportingErrors {
            let s = try Database.open(at: global.databaseURL, mode: .readOnly).stats()
            if global.json {
                Output.json(["items": s.items, "anchors": s.anchors, "dimension": s.dimension, "model": s.model,
                             "bytes_on_disk": s.bytesOnDisk, "nonempty_partitions": s.nonEmptyPartitions,
                             "stored_features": s.storedFeatures.map { $0 as Any } ?? NSNull(), "feature_bytes": s.featureBytes,
                             "partition_sizes": s.partitionSizes.map { ["smallest": $0.smallest, "median": $0.median, "largest": $0.largest] as Any } ?? NSNull()])
            } else {
                Output.table(header: ["property", "value"], rows: [
                    ["items", String(s.items)], ["anchors", String(s.anchors)],
                    ["non-empty partitions", String(s.nonEmptyPartitions)],
                    ["partition sizes", s.partitionSizes.map { "smallest \($0.smallest), median \($0.median), largest \($0.largest)" } ?? "-"],
                    ["dimension", String(s.dimension)],
                    ["model", s.model], ["bytes on disk", String(s.bytesOnDisk)],
                    ["kept backbone features", s.storedFeatures.map { "\($0) (\(s.featureBytes) bytes)" } ?? "off"],
                ])
            }
        }
    }
}

/// `radb check`: verify every invariant of the database.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Verify the database; exit code 3 when problems are found.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        var problems: [String] = []
        try reportingErrors {
            var bar: ProgressBar?
            var phase = ""
            problems = try Database.open(at: global.databaseURL, mode: .readOnly).check { name, done, total in
                if name != phase { bar?.finish(); bar = ProgressBar(label: "check \(name)"); phase = name }
                bar?.update(done: done, total: total)
            }
            bar?.finish()
            if global.json { Output.json(["ok": problems.isEmpty, "problems": problems]) }
            else if problems.isEmpty { print("ok") }
            else { for p in problems { print("problem: \(p)") } }
        }
        if !problems.isEmpty { throw ExitStatus.problemsFound }
    }
}

/// `radb delete`: remove stored items by id.
struct DeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete stored items by id.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Ids of the items to delete (as printed by search).", valueName: "id"))
    var ids: [UInt64] = []

    /// Ids taken out of the command line before ArgumentParser sees it (`takeIDs`).
    nonisolated(unsafe) static var prefetchedIDs: [UInt64] = []

    /// Removes the plain id arguments of a `radb delete` command line into `prefetchedIDs`.
    /// ArgumentParser removes parsed arguments from an array one at a time, which made 16,000
    /// ids take 10 s and 30,000 take 25 s (quadratic); this pass is linear. Option values
    /// (`--db 123`) stay where they are, and short lists are left to ArgumentParser.
    static func takeIDs(from arguments: inout [String]) {
        guard arguments.first == "delete", arguments.count > 64 else { return }
        var kept: [String] = ["delete"], taken: [UInt64] = []
        var i = 1, positionalOnly = false
        while i < arguments.count {
            let a = arguments[i]
            if !positionalOnly, a == "--db" {
                kept.append(a)
                if i + 1 < arguments.count { kept.append(arguments[i + 1]) }
                i += 2
                continue
            }
            if !positionalOnly, a == "--" { positionalOnly = true; i += 1; continue }
            if let id = UInt64(a), a.first != "+" { taken.append(id) } else { kept.append(a) }
            i += 1
        }
        arguments = kept
        prefetchedIDs = taken
    }

    private var allIDs: [UInt64] { Self.prefetchedIDs + ids }

    func validate() throws { if allIDs.isEmpty { throw ValidationError("give at least one id") } }

    func run() throws {
        try reportingErrors {
            // An id given twice is deleted once: report what was deleted.
            let unique = Set(allIDs).count
            try Database.open(at: global.databaseURL).delete(ids: allIDs)
            if global.json { Output.json(["deleted": unique]) } else { print("deleted \(unique) item(s)") }
        }
    }
}

/// `radb backup`: a consistent copy of the database while it stays in use. Ctrl-C aborts at
/// once and removes the partial copy; the destination appears only when the copy is complete.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Copy the database to a new directory (readers continue; writers wait).",
        discussion: """
        The copy is compacted and consistent (both halves at the same commit). It is written to a \
        hidden staging directory beside DEST and renamed to DEST only when complete, so an \
        interrupted backup (Ctrl-C, kill) never leaves a half-written database under DEST.
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Destination directory (must not exist).", valueName: "dest"))
    var destination: String

    func run() throws {
        try reportingErrors {
            let abort = AbortCleanup.install()
            try Database.open(at: global.databaseURL, mode: .readOnly)
                .backup(to: URL(fileURLWithPath: destination), staged: { abort.removeOnAbort($0) })
            if global.json { Output.json(["path": destination]) } else { print("backed up to \(destination)") }
        }
    }
}

/// `radb export`: every vector as .npy, with metadata as JSON lines.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write all vectors to a .npy file and their metadata to FILE.jsonl.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Output .npy file; metadata goes beside it with the extension .jsonl.", valueName: "file.npy"))
    var file: String

    func run() throws {
        try reportingErrors {
            let url = URL(fileURLWithPath: file)
            let metadataURL = url.deletingPathExtension().appendingPathExtension("jsonl")
            let count = try Database.open(at: global.databaseURL, mode: .readOnly).export(vectorsTo: url, metadataTo: metadataURL)
            if global.json { Output.json(["vectors": url.path, "metadata": metadataURL.path, "items": count]) }
            else { print("exported \(count) items to \(url.path) and \(metadataURL.path)") }
        }
    }
}

/// `radb import`: vectors made elsewhere, indexed under k-means anchors.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Add vectors from a .npy file (with optional JSON-lines metadata).",
        discussion: """
        A database created by `radb import` holds vectors from elsewhere; its anchors are learned \
        with k-means over the imported vectors. Each metadata line is a JSON object with optional \
        "path", "label", "content_hash", "width", "height"; line i describes row i. All input is \
        checked before anything is written; a new database appears only when complete. Rows whose \
        content hash is already stored (by default the SHA-256 of the row) are skipped, so an \
        interrupted import is finished by running it again.
        """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("A float32 .npy file, one vector per row.", valueName: "file.npy"))
    var file: String
    @Option(help: ArgumentHelp("JSON-lines metadata, one line per row.", valueName: "file.jsonl"))
    var metadata: String?
    @Option(help: "Number of k-means anchors when the database is created by this import (default: about √n).")
    var anchors: Int?

    func run() throws {
        try reportingErrors {
            let matrix = try NPYMatrix(contentsOf: URL(fileURLWithPath: file))
            let ids = try Database.importVectors(matrix, metadata: metadata.map { URL(fileURLWithPath: $0) },
                                                 into: global.databaseURL, anchorCount: anchors)
            let unchanged = matrix.rows - ids.count
            if global.json { Output.json(["added": ids.count, "unchanged": unchanged, "first_id": ids.first as Any]) }
            else { print("imported \(ids.count) vectors" + (unchanged > 0 ? ", \(unchanged) already stored (skipped)" : "")) }
        }
    }
}

/// `radb reindex`: learn new anchors and move every item under its nearest one.
struct ReindexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex",
        abstract: "Recompute anchors with k-means over the stored vectors and re-partition (one atomic switch).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Number of anchors (default: about √n).")
    var anchors: Int?

    func run() throws {
        try reportingErrors {
            let db = try Database.open(at: global.databaseURL)
            let bar = ProgressBar(label: "reindex")
            let moved = try db.reindex(anchorCount: anchors, progress: { bar.update(done: $0, total: $1) })
            bar.finish()
            if global.json { Output.json(["moved": moved]) } else { print("re-anchored; \(moved) items moved") }
        }
    }
}
