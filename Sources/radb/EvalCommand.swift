import ArgumentParser
import Foundation
import RADB
import RADBNeural
import RADBTraining

/// `radb eval`: retrieval quality of a model on labelled folders, with the paper's protocol.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure retrieval quality (mAP, P@10, P@100, two-stage search) on labelled folders.",
        discussion: """
        --database and --queries each hold one folder per class. Every query is ranked against \
        the whole database; relevant = same class. With a model that has anchors, also reports \
        nearest-anchor accuracy and the two-stage search (route to --nprobe anchors, then exact). \
        With --db instead of --database, measures an existing radb database (its model, its \
        stored vectors and labels, its anchors) — e.g. before and after `radb learn`.
        """)

    @Option(help: ArgumentHelp("Model file (default: the built-in model).", valueName: "model"))
    var model: String?

    @Option(help: ArgumentHelp("Folder of class folders to search in.", valueName: "dir"))
    var database: String?

    @Option(help: ArgumentHelp("An existing radb database to measure instead of --database.", valueName: "path"))
    var db: String?

    @Option(help: ArgumentHelp("Folder of class folders to query with.", valueName: "dir"))
    var queries: String

    @Option(help: "Anchors probed by the two-stage search.")
    var nprobe: Int = 1

    @Flag(help: "Print machine-readable JSON.")
    var json = false

    func validate() throws {
        if nprobe < 1 { throw ValidationError("--nprobe must be at least 1") }
        if (database == nil) == (db == nil) { throw ValidationError("give either --database DIR (a folder to embed) or --db PATH (a radb database)") }
        if db != nil && model != nil { throw ValidationError("--model cannot be used with --db: a database embeds with its own model") }
    }

    func run() throws {
        if let db {
            try reportingErrors {
                let database = try Database.open(at: URL(fileURLWithPath: (db as NSString).expandingTildeInPath), mode: .readOnly)
                let bar = ProgressBar(label: "embed queries")
                let (report, skipped) = try database.evaluate(queries: URL(fileURLWithPath: queries), nprobe: nprobe,
                                                              progress: { bar.update(done: $0, total: $1) })
                bar.finish()
                if skipped > 0 { Output.note("skipped \(skipped) query images (unreadable, or of a label no stored item has)") }
                if json { Output.json(Self.json(report)) } else { print(report.description) }
            }
            return
        }
        guard let database else { return }
        try reportingErrors {
            let embedder = try model.map { try Embedder(modelURL: URL(fileURLWithPath: $0)) } ?? Embedder()
            let db = try Self.embed(ImageFolderDataset(root: URL(fileURLWithPath: database)), embedder: embedder, what: "database")
            var q = try Self.embed(ImageFolderDataset(root: URL(fileURLWithPath: queries)), embedder: embedder, what: "queries")
            // Queries are labelled by class name, which must exist in the database.
            let index = Dictionary(uniqueKeysWithValues: db.classNames.enumerated().map { ($1, $0) })
            let keep = q.labels.indices.filter { index[q.classNames[q.labels[$0]]] != nil }
            guard !keep.isEmpty else {
                throw DatabaseError.invalidArgument("no query class folder matches a database class folder: name them alike")
            }
            q = q.subset(keep)
            q = try LabeledFeatures(features: q.features, labels: q.labels.map { index[q.classNames[$0]]! },
                                    classNames: db.classNames, paths: q.paths, origin: queries)
            // Anchors stand for classes only when they are this dataset's classes.
            var anchors: Tensor?
            if let a = embedder.anchors, embedder.anchorNames == db.classNames {
                anchors = Tensor(shape: [a.count / embedder.dimension, embedder.dimension], storage: a)
            }
            let report = RetrievalEvaluator.evaluate(database: db, queries: q, anchors: anchors, nprobe: nprobe)
            if json { Output.json(Self.json(report)) } else { print(report.description) }
        }
    }

    static func json(_ r: EvaluationReport) -> [String: Any] {
        ["mAP": r.meanAveragePrecision, "P@10": r.precisionAt10, "P@100": r.precisionAt100,
         "anchor_accuracy": r.anchorAccuracy ?? NSNull(), "two_stage_mAP": r.twoStage?.meanAveragePrecision ?? NSNull(),
         "two_stage_recall": r.twoStage?.recallOfExactTopK ?? NSNull(), "queries": r.queryCount, "database": r.databaseCount]
    }

    /// Embeds every readable image of a class-folder dataset with `embedder`; unreadable images
    /// are skipped and listed on stderr.
    static func embed(_ data: ImageFolderDataset, embedder: Embedder, what: String) throws -> LabeledFeatures {
        let urls = data.files.map { data.root.appendingPathComponent($0.path) }
        let bar = ProgressBar(label: "embed \(what)")
        let results = try embedder.embed(files: urls, progress: { bar.update(done: $0, total: $1) })
        bar.finish()
        var storage: [Float] = [], labels: [Int] = [], paths: [String] = []
        for (file, result) in zip(data.files, results) {
            switch result {
            case .success(let v): storage += v; labels.append(file.label); paths.append(file.path)
            case .failure(let e): Output.note("skipped: \(e)")
            }
        }
        guard !labels.isEmpty else { throw DatabaseError.invalidArgument("\(data.root.path): no readable images") }
        return try LabeledFeatures(features: Tensor(shape: [labels.count, embedder.dimension], storage: storage),
                                   labels: labels, classNames: data.classNames, paths: paths, origin: data.root.path)
    }
}
