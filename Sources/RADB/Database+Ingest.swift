import Foundation
import RADBCore
import RADBEmbedding
import RADBStore
import RADBVision
import Synchronization

// MARK: - Ingesting

extension Database {
    /// Embeds and stores every image under `paths` (files or folders, recursively).
    ///
    /// Files are processed in batches of `options.batchSize`: read and hashed, skipped when
    /// their content (SHA-256) is already stored, decoded on every core (within
    /// `options.decodeMemoryBudget`) while the previous batch runs through the network, routed
    /// to their nearest anchor, and committed in one durable write. So an ingest is idempotent
    /// and can be interrupted at any moment — a later run picks up where it stopped — and a
    /// bad file is reported in `IngestReport.failed` without stopping the run.
    ///
    /// - Parameters:
    ///   - paths: image files and folders (searched recursively).
    ///   - options: labels from folder names, batch size, decoding memory budget, re-anchoring.
    ///   - progress: called after every committed batch.
    ///   - isCancelled: polled between batches; when it returns true the ingest stops after the
    ///     batch in flight and reports `cancelled`.
    /// - Throws: `DatabaseError` when a path does not exist, no image is found, or the database
    ///   cannot be written (full disk, another writer past the timeout). Batches committed
    ///   before the error stay stored.
    public func ingest(_ paths: [URL], options: IngestOptions = IngestOptions(),
                       progress: ((IngestProgress) -> Void)? = nil,
                       isCancelled: (() -> Bool)? = nil) throws -> IngestReport {
        try requireWritable("ingest images")
        // The backbone is every generation's: features are computed with the database's own
        // model, and the current generation's head is applied when the items are inserted.
        let models = try requireModels()
        try requireUsableAnchors()
        let listing: ImageFileWalker.Listing
        do { listing = try ImageFileWalker().listing(under: paths) } catch { throw Self.wrap(error) }
        let files = listing.files
        // Entries the walk could not list (a name that is not UTF-8) are failures, not silence.
        let unlisted = listing.problems.map { IngestReport.Failure(path: $0.path, reason: $0.reason) }
        let skipped = listing.skipped.map { IngestReport.Failure(path: $0.path, reason: $0.reason) }
        guard !files.isEmpty || !unlisted.isEmpty else {
            var message = "no images found under \(paths.map(\.path).joined(separator: ", ")): radb reads \(Self.readableFormats)"
            if !skipped.isEmpty {
                message += "; skipped \(skipped.count) file\(skipped.count == 1 ? "" : "s"): "
                    + skipped.prefix(5).map { "\($0.path): \($0.reason)" }.joined(separator: "; ")
                    + (skipped.count > 5 ? "; …" : "")
            }
            throw DatabaseError.invalidArgument(message)
        }
        var report = IngestReport(added: 0, unchanged: 0, failed: unlisted, cancelled: false, addedIDs: [])
        report.skipped = skipped
        let pipeline = FeaturePipeline(model: models.base.model, memoryBudget: options.decodeMemoryBudget)
        let batches = stride(from: 0, to: files.count, by: options.batchSize).map { $0..<min(files.count, $0 + options.batchSize) }
        let seen = SeenContents()
        // One writer for the whole run: a second ingest waits (then fails, naming this process)
        // instead of interleaving batches and racing on the duplicate check. Readers go on.
        do {
            try store.withExclusiveWriteAccess {
                try Pipelined.run(batches.count, prepare: { k in
                    Result { try self.prepareIngest(Array(files[batches[k]]), pipeline: pipeline, seen: seen) }
                }) { k, prepared in
                    if isCancelled?() == true { report.cancelled = true; return false }
                    try commitIngest(try prepared.get(), pipeline: pipeline, models: models, options: options, report: &report)
                    progress?(IngestProgress(processed: batches[k].upperBound, total: files.count, added: report.added,
                                             unchanged: report.unchanged, failed: report.failed.count))
                    return true
                }
                if options.relearnAnchors && report.added > 0 && !report.cancelled {
                    report.relearnedAnchors = try relearnAnchorsIfDue()
                }
            }
        } catch { throw Self.wrap(error) }
        return report
    }

    /// A batch of files read, hashed, sorted into stored and new, and the new ones decoded.
    private struct IngestBatch: Sendable {
        var urls: [URL]
        var hashes: [String]
        var unchanged = 0
        /// Files that could not be read, hashed or decoded, in file order.
        var failures: [IngestReport.Failure] = []
        /// Indices into `urls` of the new contents, in order: the sources of `decoded`.
        var fresh: [Int] = []
        var decoded: PreparedBatch
    }

    /// Stage 1 of an ingest batch (runs in the background while the previous batch is embedded
    /// and committed): read and hash on every core, skip contents already stored or seen earlier
    /// in this run, decode the rest.
    private func prepareIngest(_ urls: [URL], pipeline: FeaturePipeline, seen: SeenContents) throws -> IngestBatch {
        var data = [Data?](repeating: nil, count: urls.count)
        var hashes = [String](repeating: "", count: urls.count)
        var readFailures = [String?](repeating: nil, count: urls.count)
        data.withUnsafeMutableBufferPointer { dataBuffer in
            hashes.withUnsafeMutableBufferPointer { hashesBuffer in
                readFailures.withUnsafeMutableBufferPointer { failuresBuffer in
                    let (data, hashes, failures) = (dataBuffer, hashesBuffer, failuresBuffer)
                    // Iteration i writes element i of each buffer only.
                    Parallel.forEachDisjoint(urls.count) { i in
                        do {
                            let bytes = try FeaturePipeline.readRegularFile(urls[i])
                            hashes[i] = SHA256.hex(bytes)
                            data[i] = bytes
                        } catch {
                            failures[i] = Self.describeFailure(error, path: urls[i].path)
                        }
                    }
                }
            }
        }
        var batch = IngestBatch(urls: urls, hashes: hashes, decoded: .empty)
        try store.read { snapshot in
            for i in urls.indices where readFailures[i] == nil {
                let stored = try seen.contains(hashes[i]) || !snapshot.items(contentHash: hashes[i]).isEmpty
                if stored {
                    batch.unchanged += 1
                } else {
                    seen.insert(hashes[i])
                    batch.fresh.append(i)
                }
            }
        }
        batch.decoded = pipeline.prepare(batch.fresh.map { ImageSource.bytes(data[$0]!, name: urls[$0].path) })
        var decodeFailures = [Int: String]()
        for (j, i) in batch.fresh.enumerated() {
            if let error = batch.decoded.failures[j] { decodeFailures[i] = Self.describeFailure(error, path: urls[i].path) }
        }
        for i in urls.indices {
            if let reason = readFailures[i] ?? decodeFailures[i] { batch.failures.append(IngestReport.Failure(path: urls[i].path, reason: reason)) }
        }
        return batch
    }

    /// Stage 2 of an ingest batch: backbone features of the decoded files, kept in the feature
    /// store (keyed by content, so an entry written just before a crash is simply reused), then
    /// the items routed and committed in one write.
    private func commitIngest(_ batch: IngestBatch, pipeline: FeaturePipeline, models: GenerationModels,
                              options: IngestOptions, report: inout IngestReport) throws {
        report.unchanged += batch.unchanged
        var failed = batch.failures
        var ready: [(index: Int, features: [Float], size: ImageSize)] = []
        if batch.decoded.decodedCount > 0 {
            let rows: [[Float]?]
            do { rows = try pipeline.features(of: batch.decoded) } catch {
                rows = batch.fresh.map { _ in nil }
                for (j, i) in batch.fresh.enumerated() where batch.decoded.rows[j] != nil {
                    failed.append(.init(path: batch.urls[i].path, reason: Self.describeFailure(error, path: batch.urls[i].path)))
                }
            }
            for (j, i) in batch.fresh.enumerated() where batch.decoded.rows[j] != nil {
                if let f = rows[j], let size = batch.decoded.sizes[j] {
                    ready.append((i, f, size))
                } else if failed.allSatisfy({ $0.path != batch.urls[i].path }) {
                    failed.append(.init(path: batch.urls[i].path,
                                        reason: Self.describeFailure(EmbedderError.nonFiniteEmbedding(path: batch.urls[i].path),
                                                                     path: batch.urls[i].path)))
                }
            }
        }
        report.failed += failed
        guard !ready.isEmpty else { return }
        let embedder = models.base
        if let featureStore = features {
            try featureStore.put(ready.map { (batch.hashes[$0.index], $0.features) }, identity: embedder.featureIdentity)
        }
        // Routed with the anchors current under the writer lock this run holds (see `insertRouted`).
        let d = store.dimension
        let ids = try insertRouted({ routing in
            let model = try models.embedder(head: routing.head)
            var values = [Float]()
            values.reserveCapacity(ready.count * d)
            for (item, v) in zip(ready, model.vectors(fromFeatures: ready.map(\.features))) {
                guard let v else { throw EmbedderError.nonFiniteEmbedding(path: batch.urls[item.index].path) }
                values += v
            }
            return values
        }, lockHeld: true) { values, anchors in
            zip(ready.indices, anchors).map { row, anchor in
                let item = ready[row]
                let url = batch.urls[item.index]
                return NewItem(vector: Array(values[row * d..<(row + 1) * d]), anchor: anchor, metadata: ItemMetadata(
                    path: url.standardizedFileURL.path, contentHash: batch.hashes[item.index],
                    label: options.labelFromFolder ? url.deletingLastPathComponent().lastPathComponent : nil,
                    width: item.size.width, height: item.size.height))
            }
        }
        report.added += ids.count
        report.addedIDs += ids
    }

    /// What went wrong with the file at `path`, without repeating the path (the report names it).
    static func describeFailure(_ error: Error, path: String) -> String {
        let text: String
        if let e = error as? LocalizedError, let d = e.errorDescription { text = d } else { text = String(describing: error) }
        return text.hasPrefix(path + ": ") ? String(text.dropFirst(path.count + 2)) : text
    }

    /// The formats ingest reads, for messages.
    static let readableFormats = "JPEG, PNG, WebP, HEIC/HEIF, AVIF, TIFF, GIF, BMP and camera RAW files"
}

/// Content hashes an ingest run has scheduled for storing, so a file repeated in the run is
/// stored once. Written by the background stage of one batch at a time.
private final class SeenContents: Sendable {
    private let hashes = Mutex(Set<String>())
    func contains(_ hash: String) -> Bool { hashes.withLock { $0.contains(hash) } }
    func insert(_ hash: String) { _ = hashes.withLock { $0.insert(hash) } }
}
