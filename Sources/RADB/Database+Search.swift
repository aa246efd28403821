import Foundation
import RADBIndex
import RADBStore

// MARK: - Searching

extension Database {
    /// The stored images most similar to the image file at `url`.
    /// - Throws: `DatabaseError` naming the file when it cannot be read or is not an image,
    ///   or when `options` are out of range (k ≤ 0, nprobe ≤ 0).
    public func search(image url: URL, options: SearchOptions = SearchOptions()) throws -> [SearchMatch] {
        let models = try requireModels()
        let features: [Float]
        do { features = try models.base.backboneFeatures(file: url) } catch { throw Self.wrap(error) }
        // The query gets the head of the generation it is searched in (see GenerationModels).
        return try search(rows: 1, options: options) { snapshot in
            guard let v = try self.embedder(for: snapshot).vector(fromFeatures: features) else {
                throw DatabaseError.underlying("\(url.path): the model gives non-finite values for this image")
            }
            return v
        }[0]
    }

    /// The stored images nearest to the stored item `id` (the item itself comes first, at distance 0).
    public func search(id: UInt64, options: SearchOptions = SearchOptions()) throws -> [SearchMatch] {
        try search(rows: 1, options: options) { snapshot in
            guard let v = try snapshot.vector(id: id) else { throw DatabaseError.unknownID(id) }
            return v
        }[0]
    }

    /// The stored images nearest to `vector`, which must come from this database's model.
    public func search(vector: [Float], options: SearchOptions = SearchOptions()) throws -> [SearchMatch] {
        try search(vectors: NPYMatrix(rows: 1, columns: vector.count, values: vector), options: options)[0]
    }

    /// One ranked list per row of `vectors`, in order. Partitions are read once per batch.
    public func search(vectors: NPYMatrix, options: SearchOptions = SearchOptions()) throws -> [[SearchMatch]] {
        guard vectors.columns == store.dimension else {
            throw DatabaseError.invalidArgument("query vectors have \(vectors.columns) components but this database stores \(store.dimension)-dimensional vectors from model \(store.modelIdentity.prefix(12)): embed queries with `radb embed --db` on this database")
        }
        return try search(rows: vectors.rows, options: options) { _ in vectors.values }
    }

    /// Searches `rows` queries whose vectors `queries` gives inside the snapshot searched (so a
    /// stored item's vector, or an image's embedding under the snapshot's model, always belongs
    /// to the generation whose partitions are scanned).
    func search(rows: Int, options: SearchOptions, queries: (StoreSnapshot) throws -> [Float]) throws -> [[SearchMatch]] {
        guard options.k >= 1 else { throw DatabaseError.invalidArgument("k must be at least 1 (got \(options.k))") }
        if rows == 0 { return [] }
        switch options.probe {
        case .nearest(let n) where n < 1:
            throw DatabaseError.invalidArgument("nprobe must be at least 1 (got \(n)); use exact search to scan everything")
        case .recall(let r) where !(r > 0 && r <= 1):
            throw DatabaseError.invalidArgument("the recall target must be in (0, 1] (got \(r)); use exact search for all of it")
        default: break
        }
        do {
            return try retryingRetiredModels { try store.read { snapshot in
                // Route with the anchors of this snapshot's generation; an exact search scans
                // every partition the snapshot holds (its router is never consulted).
                let index: AnchorIndex<SnapshotLists>
                let nprobe: NProbe
                if case .exact = options.probe {
                    let lists = try SnapshotLists(everyPartitionOf: snapshot)
                    guard lists.listCount > 0 else { return Array(repeating: [], count: rows) }
                    let unused = try AnchorRouter(anchors: [Float](repeating: 0, count: lists.listCount * store.dimension),
                                                  dimension: store.dimension)
                    index = try AnchorIndex(router: unused, lists: lists, contexts: searchContexts)
                    nprobe = .all
                } else {
                    let routing = try routers.routing(for: snapshot)
                    let lists = try SnapshotLists(snapshot: snapshot, anchorCount: routing.router.anchorCount)
                    index = try AnchorIndex(router: routing.router, lists: lists, contexts: searchContexts)
                    nprobe = try probes(options.probe, snapshot: snapshot, routing: routing, lists: lists)
                }
                var idFilter: IDFilter?
                if !options.filter.isEmpty {
                    idFilter = IDFilter(try snapshot.ids(matching: Self.catalogFilter(options.filter)))
                }
                let result = try index.search(batch: try queries(snapshot), k: options.k, nprobe: nprobe, filter: idFilter)
                var matches: [[SearchMatch]] = []
                matches.reserveCapacity(result.hits.count)
                for hits in result.hits {
                    let items = try snapshot.items(ids: hits.map(\.id))
                    let byID = Dictionary(items.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
                    matches.append(hits.enumerated().map { rank, hit in
                        let item = byID[hit.id]
                        return SearchMatch(rank: rank + 1, id: hit.id, distance: hit.distance,
                                           path: item?.metadata.path ?? "", label: item?.metadata.label)
                    })
                }
                return matches
            } }
        } catch { throw Self.wrap(error) }
    }

    /// The store's form of a `SearchFilter`.
    /// The partitions a routed search scans for `probe` in `snapshot`'s generation: a fixed
    /// count; the fewest that reach a recall target on this collection (`ProbeCalibration`);
    /// or, automatically, the paper's two-stage search (the nearest class anchor first) when
    /// learning measured it better than exact ranking, else recall 0.95.
    func probes(_ probe: SearchOptions.Probe, snapshot: StoreSnapshot, routing: GenerationRouters.Routing,
                lists: SnapshotLists) throws -> NProbe {
        let target: Double
        switch probe {
        case .exact: return .all
        case .nearest(let n): return .count(n)
        case .recall(let r): target = r
        case .automatic:
            if let models, try models.embedder(head: routing.head).prefersTwoStageSearch { return .count(1) }
            target = SearchOptions.defaultRecall
        }
        let anchors = routing.router.anchorCount
        let items = try snapshot.partitions.reduce(0) { $0 + $1.count }
        // Small collections, or one partition: scanning everything costs little and misses nothing.
        guard anchors > 1, items > ProbeCalibration.exactBelow else { return .all }
        let calibration = try probeCalibrations.calibration(generation: routing.generation ?? 0, items: items) {
            try ProbeCalibration.measure(snapshot: snapshot, generation: routing.generation ?? 0, router: routing.router,
                                         lists: lists, contexts: searchContexts)
        }
        return calibration.probes(forRecall: target, anchorCount: anchors)
    }

    static func catalogFilter(_ f: SearchFilter) -> CatalogFilter {
        var parts: [CatalogFilter] = []
        if let labels = f.labels { parts.append(.labelIn(labels)) }
        if let glob = f.pathGlob { parts.append(.pathGlob(glob)) }
        if let after = f.addedAfter { parts.append(.addedAfter(after)) }
        if let before = f.addedBefore { parts.append(.addedBefore(before)) }
        if let ids = f.ids { parts.append(.ids(ids)) }
        return .all(parts)
    }
}
