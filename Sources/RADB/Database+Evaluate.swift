import Foundation
import RADBNeural
import RADBStore
import RADBTraining

// MARK: - Measuring retrieval quality

extension Database {
    /// Measures this database against a labelled query folder (one folder per class): every
    /// query image is embedded with the database's model and ranked against every stored item;
    /// relevant = a stored item whose label is the query's folder name (DESIGN §5). Also
    /// reports the two-stage search through the database's current anchors (`nprobe` probed).
    ///
    ///     let report = try db.evaluate(queries: URL(fileURLWithPath: "test"))
    ///     print(report.meanAveragePrecision)
    ///
    /// Unlabelled items stay in every ranking (as non-relevant items); queries of a class that
    /// no stored item has are skipped (`skipped` counts them).
    /// - Throws: `DatabaseError.invalidArgument` when the folder has no readable image of a
    ///   stored label, or the database is empty.
    public func evaluate(queries folder: URL, nprobe: Int = 1,
                         progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> (report: EvaluationReport, skipped: Int) {
        let embedder = try requireEmbedder()
        guard nprobe >= 1 else { throw DatabaseError.invalidArgument("nprobe must be at least 1 (got \(nprobe))") }
        // The stored side: vectors (id order) and labels.
        let (ids, vectors, labels, anchors): ([UInt64], [Float], [String?], [Float]) = try {
            do {
                return try store.read { snapshot in
                    var rows: [(UInt64, Int)] = []
                    var all: [Float] = []
                    try snapshot.forEachBlock { block in
                        for i in 0..<block.count { rows.append((block.ids[i], rows.count)); all += block.vector(at: i) }
                    }
                    rows.sort { $0.0 < $1.0 }
                    let d = snapshot.dimension
                    var ordered = [Float](repeating: 0, count: all.count)
                    for (row, (_, source)) in rows.enumerated() {
                        for j in 0..<d { ordered[row * d + j] = all[source * d + j] }
                    }
                    let items = try snapshot.items(ids: rows.map(\.0))
                    let byID = Dictionary(items.map { ($0.id, $0.metadata.label) }, uniquingKeysWith: { a, _ in a })
                    return (rows.map(\.0), ordered, rows.map { byID[$0.0] ?? nil }, try snapshot.anchors())
                }
            } catch { throw Self.wrap(error) }
        }()
        guard !ids.isEmpty else { throw DatabaseError.invalidArgument("\(url.path) is empty: ingest images before evaluating it") }
        let classNames = Set(labels.compactMap { $0 }).sorted()
        guard !classNames.isEmpty else {
            throw DatabaseError.invalidArgument("\(url.path) has no labelled items, so no result can be called relevant: ingest with labels (label-from-folder) first")
        }
        let classIndex = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
        let unlabelled = classNames.count   // a class no query has
        let d = store.dimension
        let database = try LabeledFeatures(features: Tensor(shape: [ids.count, d], storage: vectors),
                                           labels: labels.map { $0.flatMap { classIndex[$0] } ?? unlabelled },
                                           classNames: classNames + ["(unlabelled)"], origin: url.path)
        // The query side.
        let dataset: ImageFolderDataset
        do { dataset = try ImageFolderDataset(root: folder) } catch { throw Self.wrap(error) }
        let files = dataset.files.filter { classIndex[dataset.classNames[$0.label]] != nil }
        let skipped = dataset.files.count - files.count
        let results = try embedder.embed(files: files.map { dataset.root.appendingPathComponent($0.path) }, progress: progress)
        var queryVectors: [Float] = [], queryLabels: [Int] = []
        for (file, result) in zip(files, results) {
            guard case .success(let v) = result else { continue }
            queryVectors += v
            queryLabels.append(classIndex[dataset.classNames[file.label]]!)
        }
        guard !queryLabels.isEmpty else {
            throw DatabaseError.invalidArgument("\(folder.path): no readable query image in a folder named like a stored label (\(classNames.prefix(5).joined(separator: ", ")) …)")
        }
        let queries = try LabeledFeatures(features: Tensor(shape: [queryLabels.count, d], storage: queryVectors),
                                          labels: queryLabels, classNames: database.classNames, origin: folder.path)
        // Anchors stand for classes when they were learned on exactly these labels.
        let t = anchors.count / d
        let anchorsAreClasses = embedder.anchorNames == classNames && t == classNames.count
        let report = RetrievalEvaluator.evaluate(database: database, queries: queries,
                                                 anchors: t > 0 ? Tensor(shape: [t, d], storage: anchors) : nil,
                                                 nprobe: min(nprobe, max(1, t)), anchorsAreClasses: anchorsAreClasses)
        return (report, skipped + (files.count - queryLabels.count))
    }
}
