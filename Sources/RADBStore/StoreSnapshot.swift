import CLMDB
import Foundation
import GRDB

/// A consistent, read-only view of both halves of the store at one commit.
///
/// Exists so that search sees vectors and catalog rows of the same moment while a writer
/// keeps committing. Obtained only inside `VectorStore.read { }`; it and every pointer it
/// hands out are invalid after the closure returns.
public struct StoreSnapshot {
    let txn: LMDBTransaction
    let db: Database
    let layout: VectorBlockLayout
    let path: String
    /// The content-hash index, or nil in a format-1 database (then the catalog's index serves).
    let contents: ContentIndex.Handles?

    /// Components per vector.
    public var dimension: Int { layout.dimension }
    /// Commit sequence number this snapshot shows.
    public let sequence: UInt64
    /// LMDB meta `format` of this snapshot (generations live in LMDB from format 4 on).
    let vectorFormat: UInt64
    /// The catalog file (named by errors about the anchors it holds).
    let catalogPath: String

    // MARK: - Model generation

    /// The model generation this snapshot's partitions belong to — the anchors to route with
    /// when searching this snapshot — or nil if the store has no anchors. Validated: damaged
    /// anchors (wrong length, NaN/Inf) throw instead of being used.
    ///
    /// A database of vector format < 4 opened read-only has no generation record yet; its
    /// anchors come from the catalog of the same snapshot, as generation 0.
    /// - Throws: `StoreError.invalidAnchors` naming the damaged file.
    public var generation: ModelGeneration? {
        get throws {
            if vectorFormat >= 4 {
                return try lmdbCall { try txn.generation(dimension: layout.dimension, path: txn.environment.directory) }
            }
            let anchors = try wrap { try Catalog.anchors(db, dimension: layout.dimension, path: catalogPath) }
            if anchors.isEmpty { return nil }
            return ModelGeneration(number: 0, anchorCount: anchors.count / layout.dimension, dimension: layout.dimension,
                                   createdAt: 0, anchors: anchors)
        }
    }

    /// The number of `generation` without decoding its anchors (nil: no anchors), so a reader
    /// can reuse a router it built for the same generation.
    public var generationNumber: UInt64? {
        get throws {
            if vectorFormat >= 4 { return try lmdbCall { try txn.generationNumber() } }
            return try generation?.number
        }
    }

    // MARK: - Partitions

    /// Every non-empty partition with its vector count, by anchor.
    public var partitions: [PartitionInfo] {
        get throws {
            var out: [PartitionInfo] = []
            try txn.scan(txn.environment.partitionsDB) { key, value in
                guard key.count == 4, value.count == MemoryLayout<PartitionRecord>.size else { return true }
                let record = value.loadUnaligned(as: PartitionRecord.self)
                out.append(PartitionInfo(anchor: RADBStore.anchor(fromPartitionKey: key.loadUnaligned(as: UInt32.self)),
                                         count: Int(record.count)))
                return true
            }
            return out
        }
    }

    /// Number of vectors stored under `partition` (0 if none).
    public func count(partition: Int32) throws -> Int {
        Int(try txn.value(txn.environment.partitionsDB, partitionKey(partition), as: PartitionRecord.self)?.count ?? 0)
    }

    /// Number of vectors in the store.
    public var itemCount: Int {
        get throws { try txn.entryCount(txn.environment.idsDB) }
    }

    /// Calls `body` with each block of `partition` in block order, straight from the map.
    public func forEachBlock(partition: Int32, _ body: (PartitionBlock) throws -> Void) throws {
        let prefix = UInt64(partitionKey(partition))
        var failure: Error?
        try txn.scan(txn.environment.blocksDB, from: blockKey(partition, 0)) { key, value in
            guard key.count == 8, key.loadUnaligned(as: UInt64.self) >> 32 == prefix else { return false }
            do {
                try body(try block(anchor: partition, value: value))
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
    }

    /// Calls `body` with every block of every partition, partition by partition (ascending
    /// anchor), in one pass of one cursor.
    public func forEachBlock(_ body: (PartitionBlock) throws -> Void) throws {
        try txn.forEachBlockView(layout: layout, path: path) { anchor, view in try body(partitionBlock(anchor: anchor, view)) }
    }

    /// The block stored in `value` (validated against the layout), viewed in place.
    private func block(anchor: Int32, value: UnsafeRawBufferPointer) throws -> PartitionBlock {
        partitionBlock(anchor: anchor, try BlockView(raw: value, layout: layout, path: path))
    }

    private func partitionBlock(anchor: Int32, _ view: BlockView) -> PartitionBlock {
        PartitionBlock(anchor: anchor, count: view.count, capacity: view.capacity, dimension: layout.dimension,
                              ids: view.ids, squaredNorms: view.squaredNorms, vectors: view.vectors)
    }

    // MARK: - Vectors by id

    private func view(of id: UInt64) throws -> (BlockView, Int)? {
        guard let loc = try txn.location(of: id, layout: layout) else { return nil }
        guard let raw = try txn.get(txn.environment.blocksDB, blockKey(loc.anchor, loc.block)) else {
            throw StoreError.corruptVectorStore(path: path, reason: "id \(id) points at a missing block")
        }
        let view = try BlockView(raw: raw, layout: layout, path: path)
        guard Int(loc.slot) < view.count, view.ids[Int(loc.slot)] == id else {
            throw StoreError.corruptVectorStore(path: path, reason: "id map entry of \(id) does not match its block")
        }
        return (view, Int(loc.slot))
    }

    /// A copy of the vector of `id`, or nil if unknown.
    public func vector(id: UInt64) throws -> [Float]? {
        guard let (view, slot) = try view(of: id) else { return nil }
        let d = layout.dimension
        return Array(view.vectors[slot * d ..< (slot + 1) * d])
    }

    /// Anchor (partition) of `id`, or nil if unknown.
    public func anchor(of id: UInt64) throws -> Int32? {
        try txn.storedPosition(of: id)?.anchor
    }

    /// Copies the vectors of `ids` into `vectors` (row i = ids[i], `ids.count × dimension`) and,
    /// if given, their squared norms into `squaredNorms`. Used by filtered search to score a
    /// list of ids directly.
    /// - Throws: `.unknownIDs` if an id is not stored (nothing meaningful is written then),
    ///   `.invalidArgument` if a buffer is too small.
    public func gatherVectors(ids: [UInt64], into vectors: UnsafeMutableBufferPointer<Float>,
                              squaredNorms: UnsafeMutableBufferPointer<Float>? = nil) throws {
        let d = layout.dimension
        guard vectors.count >= ids.count * d, (squaredNorms?.count ?? Int.max) >= ids.count else {
            throw StoreError.invalidArgument(path: path, reason: "gatherVectors buffers are smaller than \(ids.count) rows")
        }
        var unknown: [UInt64] = []
        for (row, id) in ids.enumerated() {
            guard let (view, slot) = try view(of: id) else { unknown.append(id); continue }
            (vectors.baseAddress! + row * d).update(from: view.vectors.baseAddress! + slot * d, count: d)
            squaredNorms?[row] = view.squaredNorms[slot]
        }
        if !unknown.isEmpty { throw StoreError.unknownIDs(path: path, ids: unknown) }
    }

    // MARK: - Catalog

    /// The catalog record of `id`, or nil.
    public func item(id: UInt64) throws -> StoredItem? {
        try wrap { try Catalog.item(db, id: id) }
    }

    /// Records of `ids` in the given order; unknown ids are skipped.
    public func items(ids: [UInt64]) throws -> [StoredItem] {
        try wrap { try Catalog.items(db, ids: ids) }
    }

    /// Items with this content hash, by id.
    public func items(contentHash: String) throws -> [StoredItem] {
        if let contents {
            let candidates = try lmdbCall { try ContentIndex.candidates(contentHash, txn: txn, handles: contents) }
            if candidates.isEmpty { return [] }
            return try wrap { try Catalog.items(db, ids: candidates, contentHash: contentHash) }
        }
        return try wrap { try Catalog.items(db, contentHash: contentHash) }
    }

    /// Ids of rows matching `filter`, ascending.
    public func ids(matching filter: CatalogFilter) throws -> [UInt64] {
        try wrap { try Catalog.ids(db, matching: filter) }
    }

    /// The anchors of this snapshot's generation, `count × dimension` floats (empty if none).
    public func anchors() throws -> [Float] {
        try generation?.anchors ?? []
    }

    func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as StoreError { throw e } catch {
            throw StoreError.corruptCatalog(path: path, reason: "\(error)")
        }
    }

    func lmdbCall<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as StoreError { throw e } catch {
            throw StoreError.corruptVectorStore(path: txn.environment.directory, reason: "\(error)")
        }
    }
}

// MARK: - Taking snapshots

extension VectorStore {
    private enum Attempt<T> {
        case done(T)
        case failed(Error)
        case outOfStep(vectors: UInt64, catalog: UInt64)
        /// The vector half was upgraded after this process looked for its content index.
        case contentsAppeared
    }

    /// Runs `body` on a consistent snapshot of both halves (see the protocol at the top of
    /// VectorStore.swift). Readers never block writers; if a writer is between its two commits
    /// the snapshot is retried, and if that writer died, the reader recovers first.
    ///
    /// ```swift
    /// try store.read { snap in
    ///     for p in try snap.partitions { try snap.forEachBlock(partition: p.anchor) { block in … } }
    /// }
    /// ```
    public func read<T>(_ body: (StoreSnapshot) throws -> T) throws -> T {
        guard !ReadScope.isActive else { throw StoreError.calledInsideReadSnapshot(path: path, operation: "read") }
        waitForCatalogCommit() // this store's own last insert is visible in full
        let deadline = Date().addingTimeInterval(options.snapshotTimeout)
        var pause: useconds_t = 200
        while true {
            let attempt: Attempt<T> = try catalog.wrap {
                try catalog.pool.read { db -> Attempt<T> in
                    let s = try Catalog.sequence(db) // starts the SQLite snapshot
                    // LMDB lets a transaction use only the named databases opened before it
                    // began, so look for `contents` first (it appears when another process
                    // upgrades a format-1 database).
                    let contentsHandle = try lmdbCall { try lmdb.contentsDB() }
                    return try lmdbCall {
                        try lmdb.read { txn -> Attempt<T> in
                            let l = try txn.metaUInt64("seq") ?? 0
                            guard l == s else { return .outOfStep(vectors: l, catalog: s) }
                            var contents: ContentIndex.Handles?
                            let format = try txn.metaUInt64("format") ?? 1
                            if format >= 2 {
                                guard let handle = contentsHandle, format < 3 || handle.runs != nil else { return .contentsAppeared }
                                contents = handle
                            }
                            ReadScope.enter()
                            defer { ReadScope.exit() }
                            let snapshot = StoreSnapshot(txn: txn, db: db, layout: layout, path: path, contents: contents,
                                                         sequence: l, vectorFormat: format, catalogPath: catalog.path)
                            do { return .done(try body(snapshot)) } catch { return .failed(error) }
                        }
                    }
                }
            }
            switch attempt {
            case let .done(value): return value
            case let .failed(error): throw error
            case .contentsAppeared:
                if Date() > deadline {
                    throw StoreError.corruptVectorStore(path: lmdb.directory,
                        reason: "vector format ≥ 2 without its content-hash index (LMDB databases `contents`, `contentRuns`)")
                }
                continue
            case let .outOfStep(l, s):
                // A writer between its commits (retry), or one that died there (recover). The
                // gap can exceed one while a writer commits on, since SQLite is read first.
                if writerLock.tryAcquire() {
                    defer { writerLock.release() }
                    try recoverLocked()
                    continue
                }
                if Date() > deadline {
                    throw StoreError.snapshotUnavailable(path: path,
                        reason: "vector store stayed at commit \(l) while the catalog is at \(s)")
                }
                usleep(pause)
                pause = min(pause * 2, 20_000)
            }
        }
    }
}
