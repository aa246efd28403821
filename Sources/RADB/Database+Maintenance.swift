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
                        throw DatabaseError.underlying("item \(row.id) has a vector but no catalog row; run `radb check`")
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
    /// `metadata` is JSON lines, line i describing row i: optional "path", "label",
    /// "content_hash", "width", "height" (missing paths become `import:<row>`).
    public static func importVectors(_ matrix: NPYMatrix, metadata: URL?, into url: URL, anchorCount: Int? = nil,
                                     options: StoreOptions = StoreOptions()) throws -> [UInt64] {
        guard matrix.rows > 0, matrix.columns > 0 else {
            throw DatabaseError.invalidArgument("the vector file is empty: nothing to import")
        }
        if let bad = matrix.values.firstIndex(where: { !$0.isFinite }) {
            throw DatabaseError.invalidArgument("row \(bad / matrix.columns) contains NaN or infinity (column \(bad % matrix.columns)); clean the vectors before importing")
        }
        let records = try metadata.map { try readMetadataLines($0, expected: matrix.rows) }
        let metas: [ItemMetadata] = (0..<matrix.rows).map { i in
            let r = records?[i] ?? [:]
            return ItemMetadata(path: r["path"] as? String ?? "import:\(i)",
                                contentHash: r["content_hash"] as? String ?? SHA256.hex(matrix.values[(i * matrix.columns)..<((i + 1) * matrix.columns)].withUnsafeBytes { Data($0) }),
                                label: r["label"] as? String, width: r["width"] as? Int ?? 0, height: r["height"] as? Int ?? 0)
        }
        let db: Database
        if FileManager.default.fileExists(atPath: url.path) {
            db = try open(at: url, options: options)
            guard db.embedder == nil else {
                throw DatabaseError.modelMismatch("\(url.path) embeds images with its own model; vectors from elsewhere cannot be mixed in. Import into a new database (--db NEW)")
            }
        } else {
            let count = anchorCount ?? max(1, min(4096, Int(Double(matrix.rows).squareRoot().rounded())))
            guard count >= 1, count <= matrix.rows else {
                throw DatabaseError.invalidArgument("cannot learn \(count) anchors from \(matrix.rows) vectors: use at most one anchor per vector")
            }
            let router: AnchorRouter
            do {
                router = try AnchorRouter.train(vectors: matrix.values, dimension: matrix.columns,
                                                configuration: KMeansConfiguration(anchorCount: count))
            } catch { throw wrap(error) }
            db = try createExternal(at: url, dimension: matrix.columns, anchors: router.anchors, options: options)
        }
        var ids: [UInt64] = []
        let batch = 10_000
        for start in stride(from: 0, to: matrix.rows, by: batch) {
            let end = min(start + batch, matrix.rows)
            ids += try db.insert(vectors: (start..<end).map { matrix.row($0) }, metadata: Array(metas[start..<end]))
        }
        return ids
    }

    private static func createExternal(at url: URL, dimension: Int, anchors: [Float], options: StoreOptions) throws -> Database {
        let fm = FileManager.default
        let staging = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).creating-\(getpid())")
        try? fm.removeItem(at: staging)
        do {
            let store = try VectorStore.create(at: staging, dimension: dimension,
                                               modelIdentity: "\(externalModelPrefix)\(dimension)", options: options)
            try store.setAnchors(anchors, count: anchors.count / dimension)
            try fm.moveItem(at: staging, to: url)
        } catch {
            try? fm.removeItem(at: staging)
            throw wrap(error)
        }
        return try open(at: url, options: options)
    }

    private static func readMetadataLines(_ url: URL, expected: Int) throws -> [[String: Any]] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw DatabaseError.invalidArgument("\(url.path): cannot read the metadata file (\(error.localizedDescription))")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.count == expected else {
            throw DatabaseError.invalidArgument("\(url.path) has \(lines.count) lines but the vector file has \(expected) rows: give one JSON line per row")
        }
        return try lines.enumerated().map { i, line in
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw DatabaseError.invalidArgument("\(url.path):\(i + 1): not a JSON object")
            }
            return obj
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
        let (generation, partitions) = try store.read { (try $0.generation, try $0.partitions) }
        let n = partitions.reduce(0) { $0 + $1.count }
        guard n >= Self.relearnMinimumItems else { return nil }
        if let g = generation, let anchors = try models.embedder(head: g.head).anchors, anchors == g.anchors { return nil }
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
