import Foundation
import RADBCore
#if canImport(Glibc)
import Glibc
#endif
import RADBIndex
import RADBNeural
import RADBStore
import RADBTraining

/// What `Database.learn` trains: the loss and its few settings. The rest is
/// `TrainerConfiguration.headTraining`, the configuration radb's head training is measured with.
public struct LearnOptions: Sendable {
    /// The training objective (CAM's class anchors by default; the paper's baselines for comparison).
    public var loss: LossKind = .cam
    /// Passes over the labelled items.
    public var epochs = 30
    /// Seed of the run: two runs with equal options and items learn bit-identical heads.
    public var seed: UInt64 = 0
    /// Width of the learned embedding (at most the database's dimension; the vectors are
    /// padded with zeros to it, which changes no distance).
    public var dimension = 128

    public init(loss: LossKind = .cam, epochs: Int = 30, seed: UInt64 = 0, dimension: Int = 128) {
        self.loss = loss
        self.epochs = epochs
        self.seed = seed
        self.dimension = dimension
    }
}

/// What `Database.learn` did.
public struct LearnReport: Sendable {
    /// Labelled items the head was trained on, and their classes (one learned anchor each).
    public var trainedOn: Int
    public var classes: [String]
    /// Items re-embedded with the new head (labelled or not).
    public var reembedded: Int
    /// Identity (SHA-256) of the new model, the database's model from now on.
    public var modelIdentity: String
    /// Retrieval on held-out labelled items (15 % of each label with at least five items),
    /// searched among the others: mAP with exact ranking and with the paper's two-stage ranking
    /// (the nearest learned anchor's items first). Nil when too few items could be held out.
    public var validationMAP: Double?
    public var validationTwoStageMAP: Double?
    /// True when searches now default to two-stage ranking (it measured better above).
    public var prefersTwoStageSearch: Bool
    /// Seconds spent training and re-embedding + committing.
    public var trainingSeconds: Double
    public var rewriteSeconds: Double
}

// MARK: - Learning in place

extension Database {
    /// Trains an embedding head and class anchors on this database's own labelled items, then
    /// re-embeds every item (labelled or not) with it and partitions the collection under the
    /// learned anchors — one new model generation, committed at once.
    ///
    /// It needs no image file: it trains on the backbone features that ingest keeps
    /// (`features.sqlite`). Searches keep answering from the previous generation until the
    /// switch; an interrupted learn leaves the previous generation whole.
    ///
    ///     let db = try Database.open(at: URL(fileURLWithPath: "photos.radb"))
    ///     let report = try db.learn()
    ///     print(report.classes.count, "anchors learned from", report.trainedOn, "items")
    ///
    /// - Throws: `DatabaseError.invalidArgument` with fewer than two labels, a label with a
    ///   single item, or items without stored features; storage errors of the switch.
    @discardableResult
    public func learn(_ options: LearnOptions = LearnOptions(), isCancelled: (@Sendable () -> Bool)? = nil,
                      progress: (@Sendable (String) -> Void)? = nil) throws -> LearnReport {
        try requireWritable("learn a head in place")
        let embedder = try requireEmbedder()
        guard let features else {
            throw DatabaseError.invalidArgument(StoreError.missingFeatures(path: url.appendingPathComponent(FeatureStore.fileName).path).description)
        }
        let started = Date()
        // 1. The labelled items and their features, from one snapshot.
        let catalog = try storedItems()
        let labelled = catalog.filter { $0.label != nil }
        let training = try Self.trainingSet(labelled, features: features, identity: embedder.featureIdentity, dimension: embedder.model.featureDim)
        progress?("training a \(options.loss.rawValue) head on \(labelled.count) labelled items in \(training.classNames.count) classes")

        // 2. Train the head and its anchors; the output width stays the database's dimension.
        var config = TrainerConfiguration.headTraining
        config.loss = options.loss
        config.epochs = options.epochs
        config.seed = options.seed
        guard options.dimension >= 2, options.dimension <= store.dimension else {
            throw DatabaseError.invalidArgument("the learned embedding's width must be between 2 and the database's \(store.dimension) (got \(options.dimension))")
        }
        config.embeddingDimension = options.dimension
        config.batchSize = min(config.batchSize, max(2, training.count))
        config.curveQueries = 0
        if config.loss == .contrastive || config.loss == .triplet { config.classesPerBatch = min(16, training.classNames.count) }
        let (fit, heldOut) = Self.validationSplit(training, seed: options.seed)
        let head: TrainedHead
        do {
            head = try Trainer(configuration: config).train(train: fit, progress: nil, isCancelled: isCancelled)
        } catch TrainingError.cancelled {
            throw DatabaseError.cancelled(operation: "learning in place")
        }
        // Which ranking serves this collection better, measured on the held-out items.
        var validation: EvaluationReport?
        if let heldOut {
            validation = RetrievalEvaluator.evaluate(database: try fit.embedded(by: head.head), queries: try heldOut.embedded(by: head.head),
                                                     anchors: head.anchors, nprobe: 1, timedQueries: 0)
        }
        let twoStage = validation.map { ($0.twoStage?.meanAveragePrecision ?? 0) > $0.meanAveragePrecision } ?? false
        let trainingSeconds = Date().timeIntervalSince(started)

        // 3. The new model file: this database's backbone plus the learned head and anchors.
        let modelsDirectory = url.appendingPathComponent(Self.modelsDirectoryName)
        try FileManager.default.createDirectory(at: modelsDirectory, withIntermediateDirectories: true)
        let staged = modelsDirectory.appendingPathComponent(".learning-\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: staged) }
        // The database keeps its width: the head's output is padded with zeros to it (the
        // anchors too), which leaves every distance as the head made it.
        var padded = head
        let width = options.dimension, d = store.dimension
        let anchorCount = head.anchors.shape[0]
        var wide = [Float](repeating: 0, count: anchorCount * d)
        for a in 0..<anchorCount {
            for j in 0..<width { wide[a * d + j] = head.anchors.storage[a * width + j] }
        }
        padded.anchors = Tensor(shape: [anchorCount, d], storage: wide)
        let metadata = ["search": twoStage ? "two-stage" : "recall", "pad_to": String(d), "embedding_dim": String(d)]
        do { try padded.writeModel(to: staged, backbone: embedder.modelURL, metadata: metadata) } catch {
            throw DatabaseError.underlying("\(error) Nothing was changed; run learn again once that is fixed.")
        }
        let learned = try Embedder(modelURL: staged)
        guard learned.featureIdentity == embedder.featureIdentity, learned.dimension == store.dimension else {
            throw DatabaseError.underlying("the learned model does not share this database's backbone or dimension; nothing was changed")
        }
        let modelFile = modelsDirectory.appendingPathComponent("\(learned.modelIdentity).safetensors")

        // 4. Re-embed and switch, under the write lock (items ingested meanwhile included).
        let rewriteStarted = Date()
        progress?("re-embedding the collection")
        let reembedded: Int = try store.withExclusiveWriteAccess {
            // Published under the lock, so a file in models/ that the current generation does
            // not name is never one another learn is about to switch to (removeRetiredModels).
            try Self.durablyMove(staged, to: modelFile)
            let items = try storedItems()
            let stored = try features.features(contentHashes: items.map(\.contentHash), identity: embedder.featureIdentity)
            var byID: [UInt64: [Float]] = [:]
            byID.reserveCapacity(items.count)
            for item in items {
                guard let f = stored[item.contentHash] else { throw Self.missingFeatures(items.filter { stored[$0.contentHash] == nil }.count, of: items.count) }
                byID[item.id] = f
            }
            let router = try AnchorRouter(anchors: padded.anchors.storage, dimension: store.dimension)
            let d = store.dimension
            do {
                let report = try store.switchGeneration(anchors: router.anchors, count: router.anchorCount, head: learned.modelIdentity,
                    reembed: { ids, _ in
                        // Every item stored now (the write lock keeps others out); all have
                        // features. Each row on its own, on both cores (rows never interact).
                        let rows = try ids.map { id -> [Float] in
                            guard let f = byID[id] else { throw Self.missingFeatures(1, of: ids.count) }
                            return f
                        }
                        var vectors = [Float](repeating: 0, count: ids.count * d)
                        var finite = [Bool](repeating: false, count: ids.count)
                        vectors.withUnsafeMutableBufferPointer { out in
                            finite.withUnsafeMutableBufferPointer { ok in
                                // Iteration i writes row i of `vectors` and finite[i] only.
                                let (base, okRows) = (DisjointRows(out.baseAddress!), DisjointRows(ok.baseAddress!))
                                Parallel.forEach(ids.count) { i in
                                    guard let v = learned.vector(fromFeatures: rows[i]) else { return }
                                    v.withUnsafeBufferPointer { (base.base + i * d).update(from: $0.baseAddress!, count: d) }
                                    okRows[i] = true
                                }
                            }
                        }
                        if finite.contains(false) { throw DatabaseError.underlying("an item re-embeds to non-finite values; nothing was changed") }
                        return vectors
                    },
                    assign: { vectors, _ in try router.nearestAnchors(of: vectors, parallelism: .automatic) })
                // Committed: the previous generation's model (and any left by an interrupted
                // learn) is retired. A reader still on the old snapshot re-runs on this one.
                removeRetiredModels(current: learned.modelIdentity)
                return report.items
            } catch { throw Self.wrap(error) }
        }
        return LearnReport(trainedOn: fit.count, classes: training.classNames, reembedded: reembedded,
                           modelIdentity: learned.modelIdentity, validationMAP: validation?.meanAveragePrecision,
                           validationTwoStageMAP: validation?.twoStage?.meanAveragePrecision,
                           prefersTwoStageSearch: twoStage, trainingSeconds: trainingSeconds,
                           rewriteSeconds: Date().timeIntervalSince(rewriteStarted))
    }

    /// Folder of model files by identity inside the database directory (learned generations).
    static let modelsDirectoryName = "models"

    /// Deletes the learned model files no generation needs any more: every `models/<id>.safetensors`
    /// but the current generation's (`current`), and the staging files of learns whose process
    /// is gone. Call it only under the write lock, after the commit that made `current` current:
    /// learn publishes its file under that lock, so no other file can be about to become current.
    /// Readers on an older snapshot that meet a deleted file re-run on the current generation
    /// (`retryingRetiredModels`); a process that loaded the model earlier keeps it in memory.
    /// Crash-safe: the committed generation never names a deleted file, and a file left by a
    /// kill between commit and deletion is removed by the next learn. Best effort (a file that
    /// cannot be removed stays for the next time). Returns the names removed.
    @discardableResult
    func removeRetiredModels(current: String) -> [String] {
        let fm = FileManager.default
        let directory = url.appendingPathComponent(Self.modelsDirectoryName)
        var removed: [String] = []
        for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasSuffix(".safetensors") {
            if name.hasPrefix(".learning-") {
                // `.learning-<pid>.safetensors`: a learn's staging file; its owner may still be training.
                let pid = Int32(name.dropFirst(".learning-".count).dropLast(".safetensors".count)) ?? 0
                if pid == getpid() || pid <= 0 || kill(pid, 0) == 0 || errno == EPERM { continue }
            } else if name == "\(current).safetensors" || name.hasPrefix(".") {
                continue
            }
            if (try? fm.removeItem(at: directory.appendingPathComponent(name))) != nil { removed.append(name) }
        }
        if !removed.isEmpty {
            let dir = Glibc.open(directory.path, O_RDONLY)
            if dir >= 0 { fsync(dir); close(dir) }
        }
        return removed
    }

    /// One stored item as learning needs it.
    struct LearnItem {
        let id: UInt64
        let label: String?
        let contentHash: String
        let path: String
    }

    /// Every stored item (id order) with its label and content hash, from one snapshot.
    func storedItems() throws -> [LearnItem] {
        do {
            return try store.read { snapshot in
                var ids: [UInt64] = []
                try snapshot.forEachBlock { block in ids.append(contentsOf: block.ids[0..<block.count]) }
                ids.sort()
                return try snapshot.items(ids: ids).map {
                    LearnItem(id: $0.id, label: $0.metadata.label, contentHash: $0.metadata.contentHash, path: $0.metadata.path)
                }
            }
        } catch { throw Self.wrap(error) }
    }

    /// The labelled items' stored features as a training set, or an error that says what is missing.
    static func trainingSet(_ labelled: [LearnItem], features: FeatureStore, identity: String,
                            dimension: Int) throws -> LabeledFeatures {
        var counts: [String: Int] = [:]
        for item in labelled { counts[item.label!, default: 0] += 1 }
        let classNames = counts.keys.sorted()
        guard classNames.count >= 2 else {
            throw DatabaseError.invalidArgument("learning needs items of at least two labels; this database has \(classNames.count) (label images with ingest's label-from-folder option or with metadata)")
        }
        if let single = classNames.first(where: { counts[$0]! < 2 }) {
            throw DatabaseError.invalidArgument("label '\(single)' has a single item; learning needs at least two items per label (add images of it or remove the label)")
        }
        let stored = try features.features(contentHashes: labelled.map(\.contentHash), identity: identity)
        let missing = labelled.filter { stored[$0.contentHash] == nil }.count
        guard missing == 0 else { throw missingFeatures(missing, of: labelled.count) }
        let index = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, $0) })
        var storage = [Float]()
        storage.reserveCapacity(labelled.count * dimension)
        for item in labelled { storage += stored[item.contentHash]! }
        return try LabeledFeatures(features: Tensor(shape: [labelled.count, dimension], storage: storage),
                                   labels: labelled.map { index[$0.label!]! }, classNames: classNames,
                                   paths: labelled.map(\.path), origin: "stored items")
    }

    /// Holds out 15 % of each label that has at least five items (fixed by `seed`) to measure
    /// the learned head on; nil when fewer than 20 items could be held out.
    static func validationSplit(_ all: LabeledFeatures, seed: UInt64) -> (fit: LabeledFeatures, heldOut: LabeledFeatures?) {
        var byClass: [Int: [Int]] = [:]
        for (i, label) in all.labels.enumerated() { byClass[label, default: []].append(i) }
        var fit: [Int] = [], held: [Int] = []
        var rng = SeededGenerator(seed: seed ^ 0x5eed_1ea2)
        for label in byClass.keys.sorted() {
            var members = byClass[label]!
            members.shuffle(using: &rng)
            let hold = members.count >= 5 ? members.count * 15 / 100 : 0
            held += members.prefix(hold)
            fit += members.dropFirst(hold)
        }
        guard held.count >= 20 else { return (all, nil) }
        return (all.subset(fit.sorted()), all.subset(held.sorted()))
    }

    static func missingFeatures(_ missing: Int, of total: Int) -> DatabaseError {
        .invalidArgument("\(missing) of \(total) items have no stored backbone features (added before radb kept them, by vector import, or under another backbone); ingest their image files into a new database to learn in place")
    }

    /// Writes `source` to `destination` with its data on disk before the rename makes it visible.
    static func durablyMove(_ source: URL, to destination: URL) throws {
        let fd = Glibc.open(source.path, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        guard rename(source.path, destination.path) == 0 else {
            throw DatabaseError.underlying("\(destination.path): cannot write the model file (\(String(cString: strerror(errno))))")
        }
        let dir = Glibc.open(destination.deletingLastPathComponent().path, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
    }
}

extension LabeledFeatures {
    /// The same items with their features passed through `head` (for measuring it).
    func embedded(by head: EmbeddingHead) throws -> LabeledFeatures {
        try LabeledFeatures(features: head.embed(features), labels: labels, classNames: classNames, paths: paths,
                            origin: "learned embeddings")
    }
}
