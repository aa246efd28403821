import Foundation
import RADBIndex
import RADBStore

// MARK: - Export, import, reindex

extension Database {
    /// Writes every stored vector (rows ordered by id) to a `.npy` file and one JSON line of
    /// metadata per row (`id`, `path`, `label`, `content_hash`, `width`, `height`, `anchor`,
    /// `added`) to `metadataTo`. Returns the number of items.
    @discardableResult
    public func export(vectorsTo vectorsURL: URL, metadataTo metadataURL: URL) throws -> Int {
        do {
            return try store.read { snapshot in
                var rows: [(id: UInt64, anchor: Int32, vector: [Float])] = []
                try snapshot.forEachBlock { block in
                    for i in 0..<block.count { rows.append((block.ids[i], block.anchor, Array(block.vector(at: i)))) }
                }
                rows.sort { $0.id < $1.id }
                let items = try snapshot.items(ids: rows.map(\.id))
                let byID = Dictionary(items.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                try NPYMatrix(rows: rows.count, columns: snapshot.dimension, values: rows.flatMap(\.vector)).write(to: vectorsURL)
                var lines = Data()
                let iso = ISO8601DateFormatter()
                for row in rows {
                    guard let item = byID[row.id] else {
                        throw DatabaseError.underlying("item \(row.id) has a vector but no catalog row; check the database (Database.check, `radb check`)")
                    }
                    let m = item.metadata
                    let object: [String: Any] = ["id": row.id, "path": m.path, "label": m.label ?? NSNull(),
                                                 "content_hash": m.contentHash, "width": m.width, "height": m.height,
                                                 "anchor": Int(row.anchor), "added": iso.string(from: item.addedAt)]
                    lines.append(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
                    lines.append(0x0A)
                }
                do { try lines.write(to: metadataURL, options: .atomic) } catch {
                    throw DatabaseError.underlying("\(metadataURL.path): cannot write (\(error.localizedDescription))")
                }
                return rows.count
            }
        } catch { throw Self.wrap(error) }
    }

    /// Adds vectors made elsewhere. When no database exists at `url`, one is created for them
    /// with `anchorCount` k-means anchors (default ≈ √n) learned from these vectors; an existing
    /// database must itself hold imported vectors of the same dimension.
    ///
    /// `metadata` is JSON lines (LF or CRLF), line i describing row i: optional "path", "label",
    /// "content_hash", "width", "height" (missing paths become `import:<row>`, missing content
    /// hashes the SHA-256 of the row's float32 bytes).
    ///
    /// All or nothing where it can be, resumable where it cannot:
    /// - every row and metadata line is validated before anything is written, so bad input
    ///   writes nothing, and the error names its row (and line) in the whole file;
    /// - a new database is built in a hidden staging directory beside `url` and renamed into
    ///   place only when every row is stored, so a failed or killed import leaves no database
    ///   behind (a staging directory left by a killed import is removed by the next one);
    /// - into an existing database, rows are written in batches (one LMDB transaction cannot
    ///   hold millions of vectors); a row whose content hash is already stored, or appears
    ///   earlier in the file, is skipped. Re-running an import that failed half-way (a full
    ///   disk) therefore adds exactly the missing rows, never duplicates.
    ///
    /// Returns the ids of the rows added, in row order (skipped rows have none).
    public static func importVectors(_ matrix: NPYMatrix, metadata: URL?, into url: URL, anchorCount: Int? = nil,
                                     options: StoreOptions = StoreOptions()) throws -> [UInt64] {
        guard matrix.rows > 0, matrix.columns > 0 else {
            throw DatabaseError.invalidArgument("the vector file is empty: nothing to import")
        }
        if let bad = matrix.values.firstIndex(where: { !$0.isFinite }) {
            throw DatabaseError.invalidArgument("row \(bad / matrix.columns) contains NaN or infinity (column \(bad % matrix.columns)); clean the vectors before importing. Nothing was written")
        }
        let metas: [ItemMetadata]
        if let metadata {
            let data: Data
            do { data = try Data(contentsOf: metadata) } catch {
                throw DatabaseError.invalidArgument("\(metadata.path): cannot read the metadata file (\(error.localizedDescription))")
            }
            metas = try importMetadata(jsonLines: data, source: metadata.path, matrix: matrix)
        } else {
            metas = try importMetadata(jsonLines: nil, source: "", matrix: matrix)
        }
        let fm = FileManager.default
        if fm.fileExists(atPath: url.path) {
            let db = try open(at: url, options: options)
            guard db.embedder == nil else {
                throw DatabaseError.modelMismatch("\(url.path) embeds images with its own model; vectors from elsewhere cannot be mixed in. Import into a new database (--db NEW)")
            }
            guard db.store.dimension == matrix.columns else {
                throw DatabaseError.invalidArgument("\(url.path) stores \(db.store.dimension)-dimensional vectors but the file's rows have \(matrix.columns) components. Nothing was written")
            }
            return try db.insertImported(matrix, metas)
        }
        let count = anchorCount ?? max(1, min(4096, Int(Double(matrix.rows).squareRoot().rounded())))
        guard count >= 1, count <= matrix.rows else {
            throw DatabaseError.invalidArgument("cannot learn \(count) anchors from \(matrix.rows) vectors: use at most one anchor per vector")
        }
        let router: AnchorRouter
        do {
            router = try AnchorRouter.train(vectors: matrix.values, dimension: matrix.columns,
                                            configuration: KMeansConfiguration(anchorCount: count))
        } catch { throw wrap(error) }
        // Built aside and renamed into place when complete: a failure leaves nothing at `url`.
        removeStaleStaging(for: url)
        let staging = creationStaging(for: url)
        try? fm.removeItem(at: staging)
        let ids: [UInt64]
        do {
            let db = try createExternal(at: staging, dimension: matrix.columns, anchors: router.anchors, options: options)
            ids = try db.insertImported(matrix, metas)
            try db.store.sync()
        } catch {
            try? fm.removeItem(at: staging)
            throw wrap(error)
        }
        // rename(2) refuses to replace a non-empty directory: a database another process
        // created at `url` meanwhile is never overwritten.
        guard rename(staging.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? fm.removeItem(at: staging)
            if fm.fileExists(atPath: url.path) {
                throw DatabaseError.invalidArgument("\(url.path) was created by another process while this import ran; nothing was imported. Run the import again to add the vectors to it")
            }
            throw DatabaseError.underlying("\(url.path): cannot move the new database into place (\(reason)); nothing was imported")
        }
        return ids
    }

    /// Inserts validated rows under one write lock, skipping rows whose content hash is stored
    /// or seen earlier in the file; on a failure, says how far it got and how to finish.
    private func insertImported(_ matrix: NPYMatrix, _ metas: [ItemMetadata]) throws -> [UInt64] {
        try requireWritable("import vectors")
        try requireUsableAnchors()
        var ids: [UInt64] = []
        var written = 0
        do {
            try store.withExclusiveWriteAccess {
                var seen = Set<String>()
                let fresh: [Int] = try store.read { snapshot in
                    try (0..<matrix.rows).filter { i in
                        guard seen.insert(metas[i].contentHash).inserted else { return false }
                        return try snapshot.items(contentHash: metas[i].contentHash).isEmpty
                    }
                }
                let batch = 10_000
                for start in stride(from: 0, to: fresh.count, by: batch) {
                    let rows = fresh[start..<min(start + batch, fresh.count)]
                    ids += try insert(vectors: rows.map { matrix.row($0) }, metadata: rows.map { metas[$0] })
                    written = start + rows.count
                }
            }
        } catch {
            let detail = Self.wrap(error)
            guard written > 0 else { throw detail }
            throw DatabaseError.underlying("\(describeError(detail)) — \(written) rows were stored before the failure; "
                + "run the same import again to add the rest (rows already stored are recognised by content hash and skipped)")
        }
        return ids
    }

    private func describeError(_ error: Error) -> String {
        if let e = error as? LocalizedError, let d = e.errorDescription { return d }
        return String(describing: error)
    }

    /// The hidden directory a new database at `url` is assembled in by this process.
    static func creationStaging(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).creating-\(getpid())")
    }

    /// Removes staging directories for `url` left by killed processes (their PID is gone).
    static func removeStaleStaging(for url: URL) {
        let parent = url.deletingLastPathComponent()
        let prefix = ".\(url.lastPathComponent).creating-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(at: parent.appendingPathComponent(name))
            }
        }
    }

    /// Creates an empty database for imported vectors directly at `url` (a staging directory).
    private static func createExternal(at url: URL, dimension: Int, anchors: [Float], options: StoreOptions) throws -> Database {
        do {
            let store = try VectorStore.create(at: url, dimension: dimension,
                                               modelIdentity: "\(externalModelPrefix)\(dimension)", options: options)
            try store.setAnchors(anchors, count: anchors.count / dimension)
        } catch { throw wrap(error) }
        return try open(at: url, options: options)
    }

    /// The catalog metadata of every row of `matrix`, from JSON lines (`jsonLines`, read from
    /// `source`) or, without them, the defaults `importVectors` documents. Throws
    /// `DatabaseError.invalidArgument` naming the line and row of the first bad record.
    package static func importMetadata(jsonLines: Data?, source: String, matrix: NPYMatrix) throws -> [ItemMetadata] {
        let records = try jsonLines.map { try metadataLines($0, source: source, expected: matrix.rows) }
        var metas: [ItemMetadata] = []
        metas.reserveCapacity(matrix.rows)
        for i in 0..<matrix.rows {
            let r = records?[i]
            let where_ = r.map { "\(source):\($0.line) (row \(i))" } ?? "row \(i)"
            let fields = r?.object ?? [:]
            let m = ItemMetadata(path: fields["path"] as? String ?? "import:\(i)",
                                 contentHash: fields["content_hash"] as? String ?? SHA256.hex(matrix.values[(i * matrix.columns)..<((i + 1) * matrix.columns)].withUnsafeBytes { Data($0) }),
                                 label: fields["label"] as? String, width: fields["width"] as? Int ?? 0, height: fields["height"] as? Int ?? 0)
            if let problem = m.problem {
                throw DatabaseError.invalidArgument("\(where_): \(problem); fix the metadata and import again. Nothing was written")
            }
            metas.append(m)
        }
        return metas
    }

    /// The metadata lines, one per row: blank lines are skipped, LF and CRLF both end a line,
    /// and each record keeps its 1-based line number for error messages.
    private static func metadataLines(_ data: Data, source: String, expected: Int) throws -> [(line: Int, object: [String: Any])] {
        // Split on bytes: in a Swift String "\r\n" is one Character, so splitting on "\n" would
        // see a CRLF file as one line.
        var lines: [(line: Int, bytes: Data)] = []
        var lineNumber = 0
        for raw in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            let text = raw.last == 0x0D ? raw.dropLast() : raw
            if text.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            lines.append((lineNumber, Data(text)))
        }
        guard lines.count == expected else {
            throw DatabaseError.invalidArgument("\(source) has \(lines.count) non-blank lines but the vector file has \(expected) rows: give one JSON line per row")
        }
        return try lines.map { line, bytes in
            guard String(data: bytes, encoding: .utf8) != nil else {
                throw DatabaseError.invalidArgument("\(source):\(line): not valid UTF-8")
            }
            guard let obj = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any] else {
                throw DatabaseError.invalidArgument("\(source):\(line): not a JSON object")
            }
            return (line, obj)
        }
    }

    /// Learns `anchorCount` anchors (default ≈ √n) by k-means over the stored vectors and moves
    /// every item under its nearest new anchor. Returns how many items moved.
    ///
    /// k-means runs on a snapshot without the write lock (ingests and searches go on); then the
    /// new anchors and every item's new partition are switched in as one new model generation,
    /// in one commit (`VectorStore.switchGeneration`) that also places items other processes
    /// added meanwhile. Searches use the old generation until that commit and the new one after;
    /// an interrupted reindex leaves the old generation whole.
    @discardableResult
    public func reindex(anchorCount: Int? = nil, progress: ((Int, Int) -> Void)? = nil) throws -> Int {
        try requireWritable("reindex")
        do {
            let vectors: [Float] = try store.read { snapshot in
                var all: [Float] = []
                try snapshot.forEachBlock { all.append(contentsOf: $0.vectors) }
                return all
            }
            let n = vectors.count / store.dimension
            guard n > 0 else { throw DatabaseError.invalidArgument("the database is empty: ingest images before reindexing") }
            let count = anchorCount ?? max(1, min(4096, Int(Double(n).squareRoot().rounded())))
            guard count >= 1, count <= n else {
                throw DatabaseError.invalidArgument("cannot learn \(count) anchors from \(n) stored vectors: use between 1 and \(n)")
            }
            let router = try AnchorRouter.train(vectors: vectors, dimension: store.dimension,
                                                configuration: KMeansConfiguration(anchorCount: count))
            return try switchGeneration(to: router, progress: progress)
        } catch { throw Self.wrap(error) }
    }

    /// Re-partitions the collection under ≈ √n k-means anchors when it has outgrown its
    /// partitions: at least `relearnMinimumItems` items and anchor count below half or above
    /// twice √n, or one partition holding more than eight times the mean. Anchors that are the
    /// model's classes (learned in place, or shipped with the model) are kept. Crash-safe and
    /// beside readers like `reindex` (one generation switch). Returns the new anchor count, or
    /// nil when nothing was due.
    @discardableResult
    public func relearnAnchorsIfDue() throws -> Int? {
        guard let models else { return nil }
        // (A learn may retire the generation read here and delete its model meanwhile: then
        // the question is asked again of the current one.)
        let (generation, partitions, modelAnchors) = try retryingRetiredModels { () -> (ModelGeneration?, [PartitionInfo], Bool) in
            let (g, p) = try store.read { (try $0.generation, try $0.partitions) }
            return (g, p, try g.map { try models.embedder(head: $0.head).anchors == $0.anchors } ?? false)
        }
        let n = partitions.reduce(0) { $0 + $1.count }
        guard n >= Self.relearnMinimumItems else { return nil }
        if modelAnchors { return nil }
        let t = generation?.anchorCount ?? 1
        let target = max(1, min(4096, Int(Double(n).squareRoot().rounded())))
        let largest = partitions.map(\.count).max() ?? 0
        guard 2 * t < target || t > 2 * target || largest > 8 * n / max(1, t) else { return nil }
        try reindex(anchorCount: target)
        return target
    }

    /// Below this many items a collection stays as it is: scanning it whole costs little.
    public static let relearnMinimumItems = 1_000

    /// Puts every item in the partition of its nearest current anchor, as a new generation with
    /// the same anchors (one commit); repairs partitions left without an anchor by an older
    /// radb's interrupted reindex. Returns how many items moved.
    @discardableResult
    public func reroute(progress: ((Int, Int) -> Void)? = nil) throws -> Int {
        try requireWritable("re-route items")
        do {
            let router = try store.read { try routers.routing(for: $0).router }
            return try switchGeneration(to: router, progress: progress)
        } catch { throw Self.wrap(error) }
    }

    /// Switches to a generation with `router`'s anchors, each item under its nearest anchor.
    private func switchGeneration(to router: AnchorRouter, progress: ((Int, Int) -> Void)?) throws -> Int {
        let report = try store.switchGeneration(anchors: router.anchors, count: router.anchorCount) { vectors, _ in
            try router.nearestAnchors(of: vectors, parallelism: .automatic)
        }
        progress?(report.moved, report.moved)
        return report.moved
    }
}
