import Foundation
import RADBIndex
import RADBVision
import RADBStore

/// An image database: a directory holding the vectors (LMDB), the catalog (SQLite) and the
/// model that embeds every image, opened as one object.
///
/// It exists so an app needs one type to add images and find similar ones: the database
/// embeds with its own model (refusing vectors from another), routes each vector to its
/// nearest anchor, and searches through the anchors with an exact rerank.
///
/// ```swift
/// let db = try Database.openOrCreate(at: URL(fileURLWithPath: "photos.radb"))
/// let report = try db.ingest([URL(fileURLWithPath: "Pictures")])
/// let matches = try db.search(image: URL(fileURLWithPath: "query.jpg"), options: SearchOptions(k: 10))
/// ```
///
/// Any number of processes may read a database while one writes; a second writer waits for
/// `writeLockTimeout` and then fails with `DatabaseError.writeLockBusy` naming the holder.
/// `@unchecked Sendable`: its stored properties are `let`s set when it opens; what changes
/// later lives in types that lock for themselves (`VectorStore`, `GenerationModels`,
/// `GenerationRouters`, `ProbeCalibrations`, `FeatureStore`).
public final class Database: @unchecked Sendable {
    /// How the database is opened.
    public enum Mode: Sendable {
        /// Search and inspect only.
        case readOnly
        /// Also ingest, delete and reindex (each write takes the cross-process write lock).
        case readWrite
    }

    /// The database directory.
    public let url: URL
    /// How it was opened; writes on a `.readOnly` database throw.
    public let mode: Mode
    /// The model every vector of this database comes from; nil for a database of vectors
    /// imported from elsewhere (`radb import`), which is searched by vector or by stored id.
    public var embedder: Embedder? {
        guard let models else { return nil }
        return (try? currentEmbedder()) ?? models.base
    }
    /// The model of each generation (nil for imported vectors).
    let models: GenerationModels?
    let store: VectorStore
    /// The backbone features of the stored images (`features.sqlite`), kept so that learning in
    /// place can re-embed the collection without its files; nil when the database keeps none.
    let features: FeatureStore?
    /// The router of each snapshot's generation (never anchors cached at open: another
    /// process may re-anchor the database at any time).
    let routers: GenerationRouters
    /// Scratch space of single-query searches, kept across calls so a long-lived `Database`
    /// searches without allocating (one context per concurrent search, created on demand).
    let searchContexts = SearchContextPool()
    /// How many partitions reach a recall target, per generation (see `ProbeCalibration`).
    let probeCalibrations: ProbeCalibrations

    /// File name of the model copy inside the database directory.
    static let modelFileName = "model.safetensors"

    /// Model identity of databases whose vectors were imported rather than embedded here.
    static let externalModelPrefix = "external:"

    private init(url: URL, mode: Mode, embedder: Embedder?, store: VectorStore) throws {
        self.url = url
        self.mode = mode
        self.models = embedder.map { GenerationModels(base: $0, directory: url) }
        self.probeCalibrations = ProbeCalibrations(directory: url)
        self.store = store
        let featureFile = url.appendingPathComponent(FeatureStore.fileName)
        if embedder != nil, FileManager.default.fileExists(atPath: featureFile.path) {
            // On a read-only medium the features are still readable (a search never needs them);
            // an unreadable file must not stop the database from opening: learning reports it.
            features = (try? FeatureStore(directory: url, create: mode == .readWrite)) ?? (try? FeatureStore(directory: url, create: false))
        } else {
            features = nil
        }
        // Damaged anchors are not refused here: every search and write routes with them and
        // throws (naming the file, saying to reindex or restore), `check` reports them, and
        // `reindex` — which must be able to open the database — replaces them.
        self.routers = GenerationRouters(dimension: store.dimension)
    }

    // MARK: - Creating and opening

    /// Creates a new database at `url` that embeds with `model` (default: the built-in model).
    ///
    /// The model file is copied into the directory so the database describes itself. Creation
    /// is atomic: it happens in a temporary sibling directory renamed into place at the end.
    /// With `keepFeatures` (the default) every ingested image's backbone features are kept as
    /// well (half precision, about 2.6 KB per image with the built-in backbone), so that a head
    /// can later be learned in place from the stored items alone.
    /// - Throws: `DatabaseError` when `url` exists, the model cannot be loaded, or the disk fails.
    public static func create(at url: URL, model: URL? = nil, options: StoreOptions = StoreOptions(),
                              keepFeatures: Bool = true) throws -> Database {
        let embedder = try model.map { try Embedder(modelURL: $0) } ?? Embedder()
        if model != nil { try trialEmbed(embedder) }
        return try create(at: url, embedder: embedder, anchors: embedder.anchors, options: options, keepFeatures: keepFeatures)
    }

    /// The last check of a model file before a database is built on it: loading bounded every
    /// field and shape; one embed of a small synthetic picture proves that the network runs and
    /// produces finite vectors of the recorded dimension, so a model that passes can embed.
    static func trialEmbed(_ embedder: Embedder) throws {
        let side = 16
        let pixels = (0..<(side * side * 3)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        guard let image = Image(width: side, height: side, pixels: pixels) else { return }
        let vector: [Float]
        do { vector = try embedder.embed(image: image) } catch {
            throw EmbedderError.badModel(path: embedder.modelURL.path, reason: "a trial embed of a 16×16 picture failed (\(error))")
        }
        guard vector.count == embedder.dimension, vector.allSatisfy(\.isFinite) else {
            throw EmbedderError.badModel(path: embedder.modelURL.path,
                reason: "a trial embed of a 16×16 picture gave \(vector.count) values, not \(embedder.dimension) finite ones")
        }
    }

    /// Creates a database for `embedder` partitioned by `anchors` (row-major, `count × dimension`;
    /// nil = one anchor at the origin until `reindex` learns better ones).
    static func create(at url: URL, embedder: Embedder, anchors: [Float]?, options: StoreOptions,
                       keepFeatures: Bool = true) throws -> Database {
        let fm = FileManager.default
        if fm.fileExists(atPath: url.path) {
            throw DatabaseError.invalidArgument("\(url.path) already exists: open it, or choose a new path for the new database")
        }
        let staging = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).creating-\(getpid())")
        try? fm.removeItem(at: staging)
        do {
            let store = try VectorStore.create(at: staging, dimension: embedder.dimension,
                                               modelIdentity: embedder.modelIdentity, options: options)
            let anchorValues = anchors ?? [Float](repeating: 0, count: embedder.dimension)
            try store.setAnchors(anchorValues, count: anchorValues.count / embedder.dimension)
            try fm.copyItem(at: embedder.modelURL, to: staging.appendingPathComponent(modelFileName))
            if keepFeatures { _ = try FeatureStore(directory: staging, create: true, durable: options.durable) }
            try fm.moveItem(at: staging, to: url)
        } catch {
            try? fm.removeItem(at: staging)
            throw wrap(error)
        }
        return try open(at: url, mode: .readWrite, options: options)
    }

    /// Opens an existing database.
    /// - Throws: `DatabaseError.noDatabase` when nothing is at `url`; the store's typed errors
    ///   (wrapped) when the directory is not a radb database, is damaged, or is from a newer radb.
    public static func open(at url: URL, mode: Mode = .readWrite, options: StoreOptions = StoreOptions()) throws -> Database {
        guard FileManager.default.fileExists(atPath: url.path) else { throw DatabaseError.noDatabase(path: url.path) }
        removeStaleBackups(of: url)
        do {
            var storeOptions = options
            if mode == .readOnly { storeOptions.readOnly = true }  // never upgrades or recovers in place
            let store = try VectorStore.open(at: url, options: storeOptions)
            if store.modelIdentity.hasPrefix(externalModelPrefix) {
                return try Database(url: url, mode: mode, embedder: nil, store: store)
            }
            let modelURL = url.appendingPathComponent(modelFileName)
            guard FileManager.default.fileExists(atPath: modelURL.path) else {
                throw DatabaseError.underlying("\(url.path): the model file \(modelFileName) is missing from the database; restore it from a backup")
            }
            let embedder = try Embedder(modelURL: modelURL)
            guard embedder.modelIdentity == store.modelIdentity else {
                throw DatabaseError.modelMismatch("\(modelURL.path) is not the model this database was built with (hash \(embedder.modelIdentity.prefix(12)) vs \(store.modelIdentity.prefix(12))); restore it from a backup")
            }
            return try Database(url: url, mode: mode, embedder: embedder, store: store)
        } catch {
            throw wrap(error)
        }
    }

    /// Opens the database at `url`, creating it with the built-in model when nothing is there.
    public static func openOrCreate(at url: URL, options: StoreOptions = StoreOptions()) throws -> Database {
        FileManager.default.fileExists(atPath: url.path) ? try open(at: url, options: options) : try create(at: url, options: options)
    }

    // MARK: - Inspecting

    /// What the database holds: `radb stats`.
    public struct Stats: Sendable {
        public var items: Int
        public var anchors: Int
        public var nonEmptyPartitions: Int
        public var dimension: Int
        /// Content hash of the current generation's model file (the learned one after `learn`).
        public var model: String
        public var bytesOnDisk: Int
        /// Images whose backbone features are kept for learning in place (nil: none are kept).
        public var storedFeatures: Int?
        /// Bytes of the kept features (`features.sqlite`), included in `bytesOnDisk`.
        public var featureBytes: Int
        /// Items in the smallest, the median and the largest non-empty partition (the balance a
        /// routed search depends on; nil when the database is empty).
        public var partitionSizes: (smallest: Int, median: Int, largest: Int)?
    }

    public func stats() throws -> Stats {
        do {
            let s = try store.stats()
            let (anchors, head, sizes) = try store.read {
                (try $0.generation?.anchorCount ?? 1, try $0.generation?.head ?? "", try $0.partitions.map(\.count).sorted())
            }
            let kept = try features?.stats()
            return Stats(items: s.items, anchors: anchors, nonEmptyPartitions: s.partitions,
                         dimension: s.dimension, model: head.isEmpty ? s.modelIdentity : head,
                         bytesOnDisk: s.bytesOnDisk + (kept?.bytes ?? 0),
                         storedFeatures: kept?.entries, featureBytes: kept?.bytes ?? 0,
                         partitionSizes: sizes.isEmpty ? nil : (sizes[0], sizes[sizes.count / 2], sizes[sizes.count - 1]))
        } catch { throw Self.wrap(error) }
    }

    /// Every broken invariant, as one line each; empty when the database is sound.
    /// `progress` receives the phase ("vectors", "catalog", "catalog integrity") and its steps.
    public func check(progress: ((_ phase: String, _ done: Int, _ total: Int) -> Void)? = nil) throws -> [String] {
        do {
            let report = progress.map { report in { (p: VectorStore.CheckProgress) in report(p.phase.rawValue, p.done, p.total) } }
            return try store.check(progress: report).map(\.description)
        } catch { throw Self.wrap(error) }
    }

    /// The catalog row of a stored item.
    public func item(id: UInt64) throws -> StoredItem? {
        do { return try store.item(id: id) } catch { throw Self.wrap(error) }
    }


    // MARK: - Changing

    /// Deletes stored items; unknown ids are an error and nothing is deleted.
    public func delete(ids: [UInt64]) throws {
        try requireWritable("delete items")
        do { try store.delete(ids: ids) } catch { throw Self.wrap(error) }
    }

    /// Replaces an item's metadata (path, label, …); its vector is unchanged.
    public func updateMetadata(id: UInt64, _ metadata: ItemMetadata) throws {
        try requireWritable("update metadata")
        do { try store.updateMetadata(id: id, metadata) } catch { throw Self.wrap(error) }
    }

    /// Adds vectors made by this database's model (e.g. from `radb embed`), each routed to its
    /// nearest anchor. Wrong lengths and NaN/Inf components are rejected before anything is written.
    @discardableResult
    public func insert(vectors: [[Float]], metadata: [ItemMetadata]) throws -> [UInt64] {
        try requireWritable("insert vectors")
        guard vectors.count == metadata.count else {
            throw DatabaseError.invalidArgument("\(vectors.count) vectors but \(metadata.count) metadata records: give one per vector")
        }
        do {
            for (i, v) in vectors.enumerated() {
                guard v.count == store.dimension else {
                    throw DatabaseError.invalidArgument("vector \(i) has \(v.count) components; this database stores \(store.dimension)")
                }
                guard v.allSatisfy(\.isFinite) else { throw DatabaseError.invalidArgument("vector \(i) contains NaN or infinity") }
            }
            let values = vectors.flatMap { $0 }
            return try insertRouted({ _ in values }) { _, anchors in
                zip(zip(vectors, anchors), metadata).map { NewItem(vector: $0.0, anchor: $0.1, metadata: $1) }
            }
        } catch { throw Self.wrap(error) }
    }

    /// Routes the vectors `vectors` gives for the generation current once the writer lock is
    /// held, and inserts the items `makeItems` builds from them and their anchors. Under the lock
    /// no other process can switch generations; the store also checks, inside the write's
    /// transaction, that the generation is the one routed with.
    ///
    /// `vectors` gives the vectors for a generation's routing: fixed ones, or — for images —
    /// the generation's model applied to their backbone features, so that items ingested while
    /// another process learns in place get the embedding of the generation they land in.
    /// `lockHeld`: the caller already holds it (`withExclusiveWriteAccess`, as ingest does for
    /// its whole run; taking it again would wait for each catalog commit).
    func insertRouted(_ vectors: (GenerationRouters.Routing) throws -> [Float], lockHeld: Bool = false,
                      _ makeItems: ([Float], [Int32]) -> [NewItem]) throws -> [UInt64] {
        func routeAndInsert() throws -> [UInt64] {
            let routing = try store.read { try routers.routing(for: $0) }
            let values = try vectors(routing)
            let anchors = try routing.router.nearestAnchors(of: values)
            return try store.insert(makeItems(values, anchors), generation: routing.generation)
        }
        return lockHeld ? try routeAndInsert() : try store.withExclusiveWriteAccess(routeAndInsert)
    }

    // MARK: - Helpers

    /// Throws when the vector file has damaged pages (`VectorStore.pageDamage`), so that no
    /// write goes on writing to a damaged file (LMDB trusts its page headers).
    func requireUndamagedPages(_ operation: String) throws {
        let damage: [String]
        do { damage = try store.pageDamage() } catch { throw Self.wrap(error) }
        guard damage.isEmpty else {
            throw DatabaseError.underlying("\(url.path)/vectors/data.mdb is damaged (\(damage.prefix(3).joined(separator: "; "))"
                + "\(damage.count > 3 ? "; …" : "")); \(operation) writes nothing to it. Check it (Database.check, `radb check`) and restore it from a backup")
        }
    }

    /// Throws unless the database was opened for writing and its vector file's pages are sound
    /// (`requireUndamagedPages`). Every write — ingest, import, insert, delete, metadata
    /// updates, reindex, re-routing, learning — starts here, so none writes into a damaged file.
    func requireWritable(_ operation: String) throws {
        guard mode == .readWrite else {
            throw DatabaseError.invalidArgument("\(url.path) was opened read-only; open it with mode .readWrite to \(operation)")
        }
        try requireUndamagedPages(operation)
    }

    /// Throws when the current generation's anchors are damaged (`StoreError.invalidAnchors`,
    /// whose message names the file and says to reindex or restore), before a long write
    /// computes anything it could not store.
    func requireUsableAnchors() throws {
        do { _ = try store.read { try routers.routing(for: $0) } } catch { throw Self.wrap(error) }
    }

    /// The model of the current generation, or an error explaining that this database holds
    /// imported vectors.
    func requireEmbedder() throws -> Embedder {
        guard models != nil else {
            throw DatabaseError.invalidArgument("\(url.path) holds vectors imported from elsewhere and has no image model: search it by vector or by stored id")
        }
        return try currentEmbedder()
    }

    /// The models of the generations, or an error explaining that this database holds imported vectors.
    func requireModels() throws -> GenerationModels {
        guard let models else {
            throw DatabaseError.invalidArgument("\(url.path) holds vectors imported from elsewhere and has no image model: search it by vector or by stored id")
        }
        return models
    }

    /// The model of the generation current now.
    func currentEmbedder() throws -> Embedder {
        do { return try retryingRetiredModels { try store.read { try embedder(for: $0) } } } catch { throw Self.wrap(error) }
    }

    /// Runs `body` (which takes its own snapshot) again when it failed because the learned
    /// model of its snapshot's generation was deleted meanwhile — learning in place removes the
    /// model file of the generation it retires — so the retry meets the current generation,
    /// whose file is never removed. When the missing file is the current generation's own,
    /// that is damage: the error is rethrown.
    func retryingRetiredModels<T>(_ body: () throws -> T) throws -> T {
        var attempt = 0
        while true {
            do { return try body() } catch let missing as GenerationModels.MissingModel {
                attempt += 1
                let current = try? store.read { try routers.routing(for: $0).head }
                guard attempt < 8, let current, current != missing.head else { throw missing }
            }
        }
    }

    /// The model of `snapshot`'s generation (throws for imported vectors).
    func embedder(for snapshot: StoreSnapshot) throws -> Embedder {
        guard let models else {
            throw DatabaseError.invalidArgument("\(url.path) holds vectors imported from elsewhere and has no image model")
        }
        return try models.embedder(head: try routers.routing(for: snapshot).head)
    }

    /// Maps lower-layer errors onto `DatabaseError`, keeping their messages.
    static func wrap(_ error: Error) -> Error {
        switch error {
        case is DatabaseError: return error
        case let e as StoreError:
            if case .writerBusy = e { return DatabaseError.writeLockBusy(e.description) }
            if case .modelMismatch = e { return DatabaseError.modelMismatch(e.description) }
            return DatabaseError.underlying(e.description, cause: e)
        case let e as IndexError: return DatabaseError.invalidArgument(e.description)
        case let e as EmbedderError: return DatabaseError.underlying(e.description, cause: e)
        case let e as CustomStringConvertible: return DatabaseError.underlying(e.description, cause: error)
        default: return DatabaseError.underlying(error.localizedDescription, cause: error)
        }
    }
}
