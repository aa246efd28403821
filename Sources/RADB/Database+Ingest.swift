import Foundation
import RADBStore
import RADBVision

// MARK: - Ingesting

extension Database {
    /// Embeds and stores every image under `paths` (files or folders, recursively).
    ///
    /// Files are processed in batches of `options.batchSize`: read and hashed, skipped when
    /// their content (SHA-256) is already stored, decoded and embedded on both cores, routed
    /// to their nearest anchor, and committed in one durable write. So an ingest is idempotent
    /// and can be interrupted at any moment — a later run picks up where it stopped — and a
    /// bad file is reported in `IngestReport.failed` without stopping the run.
    ///
    /// - Parameters:
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
        try requireUndamagedPages("ingest")
        let listing: ImageFileWalker.Listing
        do { listing = try ImageFileWalker().listing(under: paths) } catch { throw Self.wrap(error) }
        let files = listing.files
        // Entries the walk could not list (a name that is not UTF-8) are failures, not silence.
        let unlisted = listing.problems.map { IngestReport.Failure(path: $0.path, reason: $0.reason) }
        guard !files.isEmpty || !unlisted.isEmpty else {
            throw DatabaseError.invalidArgument("no images found under \(paths.map(\.path).joined(separator: ", ")): radb reads JPEG, PNG and WebP files")
        }
        var report = IngestReport(added: 0, unchanged: 0, failed: unlisted, cancelled: false, addedIDs: [])
        var seenHashes = Set<String>()
        var start = 0
        // One writer for the whole run: a second ingest waits (then fails, naming this process)
        // instead of interleaving batches and racing on the duplicate check. Readers go on.
        do {
            try store.withExclusiveWriteAccess {
                while start < files.count {
                    if isCancelled?() == true { report.cancelled = true; break }
                    let batch = Array(files[start..<min(start + options.batchSize, files.count)])
                    start += batch.count
                    try ingestBatch(batch, models: models, options: options, seenHashes: &seenHashes, report: &report)
                    progress?(IngestProgress(processed: start, total: files.count, added: report.added,
                                             unchanged: report.unchanged, failed: report.failed.count))
                }
                if options.relearnAnchors && report.added > 0 && !report.cancelled {
                    report.relearnedAnchors = try relearnAnchorsIfDue()
                }
            }
        } catch { throw Self.wrap(error) }
        return report
    }

    /// One file on its way into the store.
    private struct Candidate {
        let url: URL
        var hash = ""
        var data = Data()
        var features: [Float] = []
        var width = 0
        var height = 0
        var failure: String?
    }

    private func ingestBatch(_ batch: [URL], models: GenerationModels, options: IngestOptions, seenHashes: inout Set<String>,
                             report: inout IngestReport) throws {
        let embedder = models.base
        // 1. Read and hash, both cores.
        var candidates = batch.map { Candidate(url: $0) }
        candidates.withUnsafeMutableBufferPointer { buf in
            DispatchQueue.concurrentPerform(iterations: buf.count) { i in
                // A FIFO or device would block the read or be misreported as a permission problem.
                var info = stat()
                if stat(buf[i].url.path, &info) != 0 {
                    buf[i].failure = "cannot read the file (\(String(cString: strerror(errno)))); check that it exists and is readable"
                    return
                }
                if (info.st_mode & S_IFMT) != S_IFREG {
                    buf[i].failure = "cannot read the file: \(ImageDecoder.notRegularFileReason(info.st_mode))"
                    return
                }
                do {
                    buf[i].data = try Data(contentsOf: buf[i].url, options: .mappedIfSafe)
                    buf[i].hash = SHA256.hex(buf[i].data)
                } catch {
                    buf[i].failure = "cannot read the file (\((error as NSError).localizedDescription)); check permissions"
                }
            }
        }
        // 2. Skip contents already stored or seen earlier in this run.
        var fresh: [Int] = []
        do {
            try store.read { snapshot in
                for (i, c) in candidates.enumerated() where c.failure == nil {
                    let stored = seenHashes.contains(c.hash) ? true : !(try snapshot.items(contentHash: c.hash)).isEmpty
                    if stored {
                        report.unchanged += 1
                    } else {
                        seenHashes.insert(c.hash)
                        fresh.append(i)
                    }
                }
            }
        } catch { throw Self.wrap(error) }
        // 3. Decode the new ones on both cores (large JPEGs at a reduced DCT scale), then embed
        //    them in batched forward passes. Each header says what decoding will cost before any
        //    pixel memory is allocated: a file over the budget alone is refused, and the rest are
        //    decoded and embedded in groups whose costs add up to at most the budget (a batch of
        //    64 small PNGs declaring 14000² pixels each must not need 64 × 1.4 GB).
        let hint = ImageSize(width: embedder.resizeShorterSide, height: embedder.resizeShorterSide)
        let budget = options.decodeMemoryBudget
        var costs = [Int](repeating: 0, count: fresh.count)
        for (j, i) in fresh.enumerated() {
            do {
                let cost = try ImageDecoder.decodingCost(of: candidates[i].data, name: candidates[i].url.path, targetSizeHint: hint)
                if cost.peakBytes > budget {
                    throw ImageError.overMemoryBudget(source: candidates[i].url.path, width: cost.declaredSize.width,
                                                      height: cost.declaredSize.height, peakBytes: cost.peakBytes,
                                                      budgetBytes: budget)
                }
                costs[j] = cost.peakBytes
            } catch {
                candidates[i].failure = describeFailure(error)
                candidates[i].data = Data()
            }
        }
        var group: [Int] = [], groupCost = 0
        for j in fresh.indices where candidates[fresh[j]].failure == nil {
            if !group.isEmpty && groupCost + costs[j] > budget {
                decodeAndEmbed(group.map { fresh[$0] }, candidates: &candidates, embedder: embedder, hint: hint)
                group = []
                groupCost = 0
            }
            group.append(j)
            groupCost += costs[j]
        }
        if !group.isEmpty { decodeAndEmbed(group.map { fresh[$0] }, candidates: &candidates, embedder: embedder, hint: hint) }
        for c in candidates {
            if let f = c.failure { report.failed.append(.init(path: c.url.path, reason: f)) }
        }
        let ready = fresh.filter { candidates[$0].failure == nil }
        guard !ready.isEmpty else { return }
        // 4. Keep the backbone features (keyed by content, so an entry written just before a
        //    crash is simply reused), then route and commit the items in one write.
        do {
            if let features {
                try features.put(ready.map { (candidates[$0].hash, candidates[$0].features) }, identity: embedder.featureIdentity)
            }
            // Routed with the anchors current under the writer lock this run holds (see `insertRouted`).
            let d = store.dimension
            let ids = try insertRouted({ routing in
                let model = try models.embedder(head: routing.head)
                var values = [Float]()
                values.reserveCapacity(ready.count * d)
                for (i, v) in zip(ready, model.vectors(fromFeatures: ready.map { candidates[$0].features })) {
                    guard let v else { throw EmbedderError.nonFiniteEmbedding(path: candidates[i].url.path) }
                    values += v
                }
                return values
            }, lockHeld: true) { values, anchors in
                zip(ready.indices, anchors).map { row, anchor in
                    let c = candidates[ready[row]]
                    return NewItem(vector: Array(values[row * d..<(row + 1) * d]), anchor: anchor, metadata: ItemMetadata(
                        path: c.url.standardizedFileURL.path, contentHash: c.hash,
                        label: options.labelFromFolder ? c.url.deletingLastPathComponent().lastPathComponent : nil,
                        width: c.width, height: c.height))
                }
            }
            report.added += ids.count
            report.addedIDs += ids
        } catch {
            for i in ready { seenHashes.remove(candidates[i].hash) }
            throw Self.wrap(error)
        }
    }

    /// Decodes `indices` of `candidates` on both cores and embeds them in one batched pass,
    /// setting each one's vector and size, or its failure. The pictures are freed on return.
    private func decodeAndEmbed(_ indices: [Int], candidates: inout [Candidate], embedder: Embedder, hint: ImageSize) {
        var images = [Image?](repeating: nil, count: indices.count)
        candidates.withUnsafeMutableBufferPointer { buf in
            images.withUnsafeMutableBufferPointer { imgs in
                DispatchQueue.concurrentPerform(iterations: indices.count) { j in
                    let i = indices[j]
                    do {
                        let size = try ImageDecoder.size(of: buf[i].data, name: buf[i].url.path)
                        buf[i].width = size.width
                        buf[i].height = size.height
                        imgs[j] = try ImageDecoder.decode(buf[i].data, name: buf[i].url.path, targetSizeHint: hint)
                    } catch {
                        buf[i].failure = describeFailure(error)
                    }
                    buf[i].data = Data()
                }
            }
        }
        let decoded = indices.indices.filter { images[$0] != nil }
        guard !decoded.isEmpty else { return }
        do {
            let rows = try embedder.embedWithFeatures(images: decoded.map { images[$0]! })
            for (j, row) in zip(decoded, rows) {
                let i = indices[j]
                if let row {
                    candidates[i].features = row.features
                } else {
                    candidates[i].failure = EmbedderError.nonFiniteEmbedding(path: candidates[i].url.path).description
                }
            }
        } catch {
            for j in decoded { candidates[indices[j]].failure = describeFailure(error) }
        }
    }

    private func describeFailure(_ error: Error) -> String {
        if let e = error as? LocalizedError, let d = e.errorDescription { return d }
        return String(describing: error)
    }
}
