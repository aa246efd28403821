import Foundation

// MARK: - Switching model generations

/// What one generation switch did.
public struct GenerationSwitchReport: Sendable, Equatable {
    /// The generation now current.
    public let generation: UInt64
    /// Items stored (all of them are in a partition of the new generation).
    public let items: Int
    /// Items whose partition changed.
    public let moved: Int
}

extension VectorStore {
    /// Places stored items under new anchors: given `count` stored vectors back to back, returns
    /// for each its partition in the new generation (an index into the new anchors). Called
    /// once, under the writer lock, with every vector the store holds at that moment.
    public typealias GenerationAssignment = (_ vectors: UnsafeBufferPointer<Float>, _ count: Int) throws -> [Int32]

    /// Switches the store to a new model generation with `anchors` (`count × dimension`
    /// floats, row-major), placing every stored item in the partition `assign` gives it — in one
    /// write of the commit protocol.
    ///
    /// ```swift
    /// let router = try AnchorRouter.train(vectors: sample, dimension: d, configuration: config)
    /// try store.switchGeneration(anchors: router.anchors, count: router.anchorCount) { vectors, _ in
    ///     try router.nearestAnchors(of: vectors)
    /// }
    /// ```
    ///
    /// The new partitions are written in one LMDB transaction beside the old ones (copy on
    /// write): readers keep searching the old generation with the old anchors until the commit,
    /// and then see the new generation whole. Items inserted by other processes up to the
    /// moment this write takes the lock are included (`assign` sees them). Kill -9 at any point
    /// leaves either the whole old or the whole new generation. With `assign` nil items keep
    /// their partitions (every partition must then have an anchor among the new ones).
    ///
    /// - Parameters:
    ///   - head: identity of the embedding head of the new generation ("" = the store's
    ///     model; nil = the current generation's, as when only the anchors change).
    ///   - reembed: given every stored id and its vector (back to back), the item's vector in
    ///     the new generation — learning in place replaces every vector and the anchors in the
    ///     same commit. Runs before `assign`, which then sees the new vectors.
    /// - Throws: `.invalidAnchors` (wrong size, NaN/Inf, an item placed outside `0..<count`),
    ///   `.writerBusy`, `.readOnly`, `.io`, and what `assign` throws. Nothing changes then.
    @discardableResult
    public func switchGeneration(anchors: [Float], count: Int, head: String? = nil,
                                 reembed: ((_ ids: [UInt64], _ vectors: UnsafeBufferPointer<Float>) throws -> [Float])? = nil,
                                 assign: GenerationAssignment?) throws -> GenerationSwitchReport {
        if let reason = ModelGeneration.problem(anchors: anchors, count: count, dimension: dimension) {
            throw StoreError.invalidAnchors(path: path, reason: reason)
        }
        let d = dimension
        var contents = StoreContents()
        var targets: [Int32] = []
        var movedCount = 0
        var rewritesVectors = false
        var generation: ModelGeneration?
        var previous: UInt64?
        try performWrite("switchGeneration", prepare: { _ in
            // Under the writer lock: the committed state cannot move until this write commits.
            (contents, previous) = try lmdbCall {
                try lmdb.read { txn in (try StoreContents(txn: txn, layout: layout, path: path), try txn.generationNumber()) }
            }
            if let reembed {
                let fresh = try contents.vectors.withUnsafeBufferPointer { try reembed(contents.ids, $0) }
                guard fresh.count == contents.vectors.count else {
                    throw StoreError.invalidArgument(path: path,
                        reason: "re-embedding gave \(fresh.count) floats for \(contents.count) stored \(d)-dimensional vectors")
                }
                if let i = fresh.firstIndex(where: { !$0.isFinite }) {
                    throw StoreError.nonFiniteVector(path: path, index: i / d, component: i % d)
                }
                let count = contents.count
                var norms = [Float](repeating: 0, count: count)
                fresh.withUnsafeBufferPointer { v in
                    norms.withUnsafeMutableBufferPointer { n in
                        if count > 0 { squaredNorms(rows: v.baseAddress!, count: count, dimension: d, into: n.baseAddress!) }
                    }
                }
                contents.vectors = fresh
                contents.norms = norms
                rewritesVectors = true
            }
            if let assign {
                targets = try contents.vectors.withUnsafeBufferPointer { try assign($0, contents.count) }
                guard targets.count == contents.count else {
                    throw StoreError.invalidAnchors(path: path,
                        reason: "the assignment gave \(targets.count) partitions for \(contents.count) stored items")
                }
            } else {
                targets = contents.anchors
            }
            if let i = targets.firstIndex(where: { $0 < 0 || Int($0) >= count }) {
                throw StoreError.invalidAnchors(path: path,
                    reason: "item \(contents.ids[i]) would be in partition \(targets[i]), which has no anchor among the \(count) new ones; move it (pass an assignment)")
            }
            var moves: [PendingOperation.AnchorMove] = []
            for i in 0..<contents.count where targets[i] != contents.anchors[i] {
                moves.append(.init(id: contents.ids[i], anchor: targets[i]))
            }
            movedCount = moves.count
            // The record alone (not its anchors, which may be the damage this switch repairs).
            let currentHead = try lmdbCall {
                try lmdb.read { txn -> String in
                    guard let record = try txn.metaBytes(ModelGeneration.recordKey) else { return "" }
                    return try ModelGeneration.decodeRecord(record, path: path).4
                }
            }
            let g = ModelGeneration(number: (previous.map { $0 == .max ? 0 : $0 } ?? 0) + 1, anchorCount: count,
                                    dimension: d, head: head ?? currentHead, createdAt: Date().timeIntervalSince1970, anchors: anchors)
            generation = g
            let op = PendingOperation.switchGeneration(.init(number: g.number, anchorCount: count, anchors: anchors, moves: moves))
            return { op }
        }, vectorHalf: { writer, _, _ in
            guard let g = generation else { return }
            if movedCount > 0 || rewritesVectors {
                // Rebuild every partition from the copy: the old generation's pages stay as they
                // are for readers until this transaction commits.
                let env = writer.txn.environment
                try writer.txn.empty(env.blocksDB)
                try writer.txn.empty(env.partitionsDB)
                try writer.txn.empty(env.idsDB)
                let order = (0..<contents.count).sorted { (targets[$0], contents.ids[$0]) < (targets[$1], contents.ids[$1]) }
                var sorted = [Float](repeating: 0, count: order.count * d)
                contents.vectors.withUnsafeBufferPointer { all in
                    sorted.withUnsafeMutableBufferPointer { out in
                        for (row, i) in order.enumerated() {
                            (out.baseAddress! + row * d).update(from: all.baseAddress! + i * d, count: d)
                        }
                    }
                }
                var start = 0
                while start < order.count {
                    let anchor = targets[order[start]]
                    var end = start
                    while end < order.count, targets[order[end]] == anchor { end += 1 }
                    let run = order[start..<end]
                    try sorted.withUnsafeBufferPointer { all in
                        try writer.appendRun(anchor: anchor, ids: run.map { contents.ids[$0] }, norms: run.map { contents.norms[$0] },
                                             vectors: UnsafeBufferPointer(rebasing: all[start * d ..< end * d]))
                    }
                    start = end
                }
            }
            try writer.txn.putGeneration(g, replacing: previous)
        })
        return GenerationSwitchReport(generation: generation?.number ?? 0, items: contents.count, moved: movedCount)
    }

    /// Refuses a write routed with another generation's anchors (`generation` given and not
    /// current) or naming a partition outside the current generation's anchors. Runs inside
    /// the write's LMDB transaction, so it sees the generation the write commits into. A store
    /// without anchors accepts any partition.
    func checkRouting(_ txn: LMDBTransaction, generation expected: UInt64?, anchors: ClosedRange<Int32>) throws {
        let current = try txn.generationNumber()
        if let expected, expected != (current ?? 0) {
            throw StoreError.generationChanged(path: path, expected: expected, current: current)
        }
        guard current != nil, let g = try txn.generationShape(path: lmdb.directory) else { return }
        if anchors.lowerBound < 0 || Int(anchors.upperBound) >= g.anchorCount {
            let bad = anchors.lowerBound < 0 ? anchors.lowerBound : anchors.upperBound
            throw StoreError.noSuchAnchor(path: path, anchor: bad, generation: g.number, anchorCount: g.anchorCount)
        }
    }
}

/// Every stored vector with its id, squared norm and partition, copied out of one LMDB
/// transaction (the input of a generation switch, which rewrites the partitions in place).
struct StoreContents {
    var ids: [UInt64] = []
    var anchors: [Int32] = []
    var norms: [Float] = []
    var vectors: [Float] = []
    var count: Int { ids.count }

    init() {}

    init(txn: LMDBTransaction, layout: VectorBlockLayout, path: String) throws {
        let d = layout.dimension
        let n = try txn.entryCount(txn.environment.idsDB)
        ids.reserveCapacity(n); anchors.reserveCapacity(n); norms.reserveCapacity(n); vectors.reserveCapacity(n * d)
        try txn.forEachBlockView(layout: layout, path: path) { anchor, view in
            ids.append(contentsOf: view.ids[0..<view.count])
            norms.append(contentsOf: view.squaredNorms[0..<view.count])
            vectors.append(contentsOf: view.vectors[0..<(view.count * d)])
            anchors.append(contentsOf: repeatElement(anchor, count: view.count))
        }
    }
}
