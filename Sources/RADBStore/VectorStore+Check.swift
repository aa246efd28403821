import CLMDB
import Foundation
import GRDB

// MARK: - Consistency check and statistics

extension VectorStore {
    /// Verifies every invariant of both halves on one snapshot and lists each problem found
    /// (empty = healthy). Reads everything once: O(items).
    ///
    /// Checked: block headers and layout; partitions dense (blocks 0…n−1, all but the last
    /// full, large blocks before small ones) and their records (with the large-block count); squared norms match the vectors; vectors finite; ids unique,
    /// below the next id, and the id map pointing at each exactly; catalog rows ↔ vectors
    /// one to one with the same anchor; the content-hash index (`contents`) holds exactly one
    /// entry (key of the row's hash, id) per catalog row and nothing else; model records agree;
    /// the model generation: its record and anchors whole (right count and dimension, finite),
    /// the catalog's mirror equal to them, every partition an anchor of the generation (so
    /// routed searches can reach its items) and every item in a partition that searches scan;
    /// SQLite integrity.
    ///
    /// - Parameter progress: called now and then with the phase and how much of it is done
    ///   (vector blocks, then catalog rows; the SQLite integrity check reports no steps).
    public func check(progress: ((CheckProgress) -> Void)? = nil) throws -> [StoreProblem] {
        try read { snap in
            // Page structure first, read from the file (the snapshot pins its pages): LMDB
            // trusts page headers, and a traversal of a damaged one crashes instead of failing.
            let damage = LMDBPageAudit.problems(dataPath: lmdb.directory + "/data.mdb")
            guard damage.isEmpty else {
                return damage.map {
                    StoreProblem(kind: .vectorStore, message: "vectors/data.mdb is damaged: \($0). Restore the database from a backup")
                }
            }
            var problems: [StoreProblem] = []
            func report(_ kind: StoreProblem.Kind, _ message: String) {
                problems.append(StoreProblem(kind: kind, message: message))
            }
            let txn = snap.txn
            let env = txn.environment
            let d = layout.dimension

            // Meta.
            let nextId = try txn.metaUInt64("nextId") ?? 0
            let format = try txn.metaUInt64("format") ?? 1
            if try txn.metaUInt64("dimension") != UInt64(d) { report(.model, "vector store dimension record is missing or changed") }
            if let raw = try txn.metaBytes("pending"), (try? PendingOperation(decoding: raw)) == nil {
                report(.vectorStore, "the pending catalog record is malformed")
            }
            // The model generation: damaged anchors are reported, never used.
            var generation: ModelGeneration?
            do { generation = try snap.generation } catch { report(.anchors, "\(error)") }

            // Blocks, in key order = partition by partition, block by block.
            let totalBlocks = progress == nil ? 0 : try txn.entryCount(env.blocksDB)
            var blocksDone = 0
            /// Where each stored id was found: block and slot, and position in its partition.
            var seen: [UInt64: (location: ItemLocation, position: UInt32)] = [:]
            var blocksPerPartition: [Int32: (blocks: UInt32, count: UInt64, lastFull: Bool, large: UInt32, smallSeen: Bool)] = [:]
            try txn.scan(env.blocksDB) { key, value in
                if let progress, blocksDone % 64 == 0 { progress(CheckProgress(phase: .vectors, done: blocksDone, total: totalBlocks)) }
                blocksDone += 1
                guard key.count == 8 else { report(.blockLayout, "a block key has \(key.count) bytes"); return true }
                let k = key.loadUnaligned(as: UInt64.self)
                let a = anchor(fromPartitionKey: UInt32(truncatingIfNeeded: k >> 32))
                let number = UInt32(truncatingIfNeeded: k)
                var state = blocksPerPartition[a] ?? (0, 0, true, 0, false)
                if number != state.blocks {
                    report(.blockLayout, "partition \(a): block \(number) found where block \(state.blocks) was expected")
                }
                if !state.lastFull { report(.blockLayout, "partition \(a): block \(number) follows a block that is not full") }
                let view: BlockView
                do { view = try BlockView(raw: value, layout: layout, path: path) } catch {
                    report(.blockLayout, "partition \(a) block \(number): \(error)")
                    state.blocks = number + 1
                    blocksPerPartition[a] = state
                    return true
                }
                if view.capacity == layout.largeCapacity {
                    if state.smallSeen { report(.blockLayout, "partition \(a): large block \(number) follows a small block") }
                    state.large += 1
                } else {
                    state.smallSeen = true
                }
                let expectedLength = layout.valueLength(count: view.count, capacity: view.capacity)
                if value.count != expectedLength {
                    report(.blockLayout, "partition \(a) block \(number): value is \(value.count) bytes, expected \(expectedLength)")
                }
                for i in 0..<view.count {
                    let id = view.ids[i]
                    let row = UnsafeBufferPointer(rebasing: view.vectors[i * d ..< (i + 1) * d])
                    if row.contains(where: { !$0.isFinite }) { report(.vectorStore, "id \(id) has a non-finite component") }
                    let norm = squaredNorm(row)
                    if norm.bitPattern != view.squaredNorms[i].bitPattern {
                        report(.vectorStore, "id \(id): stored squared norm \(view.squaredNorms[i]) ≠ recomputed \(norm)")
                    }
                    if id == 0 || id >= nextId { report(.vectorStore, "id \(id) is outside 1..<\(nextId)") }
                    let here = ItemLocation(anchor: a, block: number, slot: UInt32(i))
                    if let other = seen.updateValue((here, UInt32(state.count) + UInt32(i)), forKey: id) {
                        report(.vectorStore, "id \(id) is stored twice (partition \(other.location.anchor) and \(a))")
                    }
                }
                state.blocks = number + 1
                state.count += UInt64(view.count)
                state.lastFull = view.isFull
                blocksPerPartition[a] = state
                return true
            }

            // Partition records.
            var recorded: Set<Int32> = []
            try txn.scan(env.partitionsDB) { key, value in
                guard key.count == 4, value.count == MemoryLayout<PartitionRecord>.size else {
                    report(.vectorStore, "a partition record has the wrong size"); return true
                }
                let a = anchor(fromPartitionKey: key.loadUnaligned(as: UInt32.self))
                let r = value.loadUnaligned(as: PartitionRecord.self)
                recorded.insert(a)
                let actual = blocksPerPartition[a] ?? (0, 0, true, 0, false)
                if r.count != actual.count || r.blockCount != actual.blocks {
                    report(.vectorStore, "partition \(a): record says \(r.count) vectors in \(r.blockCount) blocks, found \(actual.count) in \(actual.blocks)")
                }
                // Format ≤ 2 records do not count large blocks (the field was reserved, 0).
                let expectedLarge = format >= 3 ? actual.large : 0
                if r.largeBlocks != expectedLarge {
                    report(.vectorStore, "partition \(a): record says \(r.largeBlocks) large blocks, found \(expectedLarge)")
                }
                if r.count == 0 { report(.vectorStore, "partition \(a): empty partition record") }
                return true
            }
            for a in blocksPerPartition.keys.sorted() where !recorded.contains(a) {
                report(.vectorStore, "partition \(a) has blocks but no partition record: its \(blocksPerPartition[a]?.count ?? 0) items are unreachable by search")
            }
            if generation == nil, format >= 4, !blocksPerPartition.isEmpty || recorded.count > 0,
               (try? Catalog.anchors(snap.db, dimension: d, path: catalog.path).isEmpty) == false {
                report(.anchors, "the catalog has anchors but the vector store records no model generation; restore the database from a backup")
            }
            if let g = generation {
                for a in Set(blocksPerPartition.keys).union(recorded).sorted() where a < 0 || Int(a) >= g.anchorCount {
                    report(.anchors, "partition \(a) holds \(blocksPerPartition[a]?.count ?? 0) items but generation \(g.number) has anchors 0…\(g.anchorCount - 1) only: routed searches never reach them; run `radb reindex`")
                }
                if format >= 4 {
                    do {
                        let mirror = try Catalog.anchors(snap.db, dimension: d, path: catalog.path)
                        if !mirror.elementsEqual(g.anchors, by: { $0.bitPattern == $1.bitPattern }) {
                            report(.anchors, "the catalog's anchors table (\(mirror.count / d) anchors) differs from generation \(g.number)'s \(g.anchorCount) anchors in the vector store")
                        }
                    } catch { report(.anchors, "\(error)") }
                }
            }

            // Id map.
            var mapped = 0
            try txn.scan(env.idsDB) { key, value in
                mapped += 1
                // Format 3 stores positions (8 bytes), formats 1–2 block and slot (12 bytes).
                let entrySize = format >= 3 ? MemoryLayout<ItemPosition>.size : MemoryLayout<ItemLocation>.size
                guard key.count == 8, value.count == entrySize else {
                    report(.vectorStore, "an id map entry has \(value.count) bytes, expected \(entrySize) in vector format \(format)"); return true
                }
                let id = key.loadUnaligned(as: UInt64.self)
                if let actual = seen[id] {
                    if format >= 3 {
                        let p = value.loadUnaligned(as: ItemPosition.self)
                        if p.anchor != actual.location.anchor || p.position != actual.position {
                            report(.vectorStore, "id map sends \(id) to partition \(p.anchor) position \(p.position), but it is at partition \(actual.location.anchor) position \(actual.position)")
                        }
                    } else {
                        let loc = value.loadUnaligned(as: ItemLocation.self), at = actual.location
                        if at != loc {
                            report(.vectorStore, "id map sends \(id) to partition \(loc.anchor) block \(loc.block) slot \(loc.slot), but it is at partition \(at.anchor) block \(at.block) slot \(at.slot)")
                        }
                    }
                } else {
                    report(.vectorStore, "id map has \(id) but no block holds it")
                }
                return true
            }
            if mapped < seen.count { report(.vectorStore, "\(seen.count - mapped) stored vectors have no id map entry") }

            // Content-hash index: id → key as stored (a DUPSORT table cannot hold a pair twice,
            // but an id could sit under two keys).
            var indexedKey: [UInt64: UInt64] = [:]
            if let contents = snap.contents {
                indexedKey.reserveCapacity(seen.count)
                try ContentIndex.forEachEntry(txn: txn, handles: contents, { k, id in
                    if indexedKey.updateValue(k, forKey: id) != nil {
                        report(.contentIndex, "id \(id) is indexed more than once")
                    }
                }, malformed: { report(.contentIndex, $0) })
            }
            var unindexed: [UInt64] = [], misindexed: [UInt64] = []

            // Catalog ↔ vectors.
            try snap.wrap {
                if let model = try Catalog.model(snap.db) {
                    if model.identity != modelIdentity || model.dimension != d {
                        report(.model, "catalog model \(model.identity)/\(model.dimension) differs from \(modelIdentity)/\(d)")
                    }
                } else { report(.model, "catalog has no model record") }
                // Label runs: id → label as the runs record it (schema ≥ 3).
                let hasRuns = try LabelRuns.isPresent(snap.db)
                var runLabel: [UInt64: String] = [:]
                if hasRuns {
                    runLabel.reserveCapacity(seen.count)
                    try LabelRuns.forEachRun(snap.db) { label, firstId, ids in
                        switch ids {
                        case let .failure(e): report(.labelIndex, "the label run of \"\(label)\" at id \(firstId) is malformed: \(e.reason)")
                        case let .success(ids):
                            for id in ids where runLabel.updateValue(label, forKey: id) != nil {
                                report(.labelIndex, "id \(id) is in more than one label run")
                            }
                        }
                    }
                }
                var unlisted: [UInt64] = [], mislabelled: [UInt64] = []
                var orphanRows: [UInt64] = []
                var rows = 0
                let cursor = try Row.fetchCursor(snap.db, sql: "SELECT id, anchor, content_hash, label FROM items")
                let totalRows = seen.count
                while let row = try cursor.next() {
                    if let progress, rows % 4096 == 0 { progress(CheckProgress(phase: .catalog, done: rows, total: totalRows)) }
                    rows += 1
                    let id = UInt64(row[0] as Int64)
                    let a = Int32(truncatingIfNeeded: row[1] as Int64)
                    if snap.contents != nil {
                        let key = ContentIndex.key(row[2])
                        switch indexedKey.removeValue(forKey: id) {
                        case nil: unindexed.append(id)
                        case let k? where k != key: misindexed.append(id)
                        default: break
                        }
                    }
                    if hasRuns {
                        let label: String? = row[3]
                        let listed = runLabel.removeValue(forKey: id)
                        if listed != label { if listed == nil { unlisted.append(id) } else { mislabelled.append(id) } }
                    }
                    if let loc = seen[id]?.location {
                        if loc.anchor != a { report(.anchorMismatch, "id \(id): catalog says anchor \(a), vectors are in partition \(loc.anchor)") }
                        seen[id] = nil
                    } else {
                        orphanRows.append(id)
                    }
                }
                /// One problem for a list of ids: how many, then the first ten.
                func reportIDs(_ kind: StoreProblem.Kind, _ ids: [UInt64], _ what: String) {
                    guard !ids.isEmpty else { return }
                    report(kind, "\(ids.count) \(what): ids \(ids.prefix(10).map(String.init).joined(separator: ", "))")
                }
                reportIDs(.orphanRow, orphanRows, "catalog rows have no vector")
                reportIDs(.orphanVector, seen.keys.sorted(), "vectors have no catalog row")
                reportIDs(.contentIndex, unindexed, "catalog rows are missing from the content-hash index")
                reportIDs(.contentIndex, misindexed, "catalog rows are indexed under another content hash")
                reportIDs(.contentIndex, indexedKey.keys.sorted(), "content-index entries point at no catalog row")
                reportIDs(.labelIndex, unlisted, "labelled catalog rows are in no label run")
                reportIDs(.labelIndex, mislabelled, "catalog rows are listed under another label (or have none)")
                reportIDs(.labelIndex, runLabel.keys.sorted(), "label-run entries point at no catalog row")
                progress?(CheckProgress(phase: .catalogIntegrity, done: 0, total: 1))
                let integrity = try String.fetchAll(snap.db, sql: "PRAGMA integrity_check")
                if integrity != ["ok"] { report(.catalog, "SQLite integrity check: \(integrity.prefix(5).joined(separator: "; "))") }
                _ = rows
            }
            return problems
        }
    }

    /// Where a running `check()` is: its phase and the steps of that phase done so far.
    /// The damaged pages of the LMDB file (`LMDBPageAudit`; empty when sound), read directly
    /// from the file inside a read snapshot. Cheap next to a write: it reads the B-tree pages and
    /// the first page of each stored block, not the vectors. Writers call it before a long run
    /// of writes so that they do not go on writing to a damaged file.
    public func pageDamage() throws -> [String] {
        try read { _ in LMDBPageAudit.problems(dataPath: lmdb.directory + "/data.mdb") }
    }

    public struct CheckProgress: Sendable {
        /// The parts of a check, in the order they run.
        public enum Phase: String, Sendable { case vectors, catalog, catalogIntegrity = "catalog integrity" }
        public var phase: Phase
        public var done: Int
        public var total: Int
    }

    /// Counts and sizes of the store.
    public func stats() throws -> StoreStats {
        let (items, partitions, seq) = try read { snap in
            (try snap.itemCount, try snap.partitions.count, snap.sequence)
        }
        let vectorBytes = fileBytes(directory.appendingPathComponent(Self.vectorsDirectoryName).path + "/data.mdb")
        let catalogBytes = ["", "-wal", "-shm"].reduce(0) { $0 + fileBytes(catalog.path + $1) }
        return StoreStats(dimension: dimension, modelIdentity: modelIdentity, items: items, partitions: partitions,
                          blockCapacity: layout.smallCapacity, largeBlockCapacity: layout.largeCapacity, bytesOnDisk: directoryBytes(directory.path),
                          vectorBytes: vectorBytes, catalogBytes: catalogBytes, sequence: seq)
    }
}

/// Allocated size of a file (sparse regions do not count), 0 if absent.
func fileBytes(_ path: String) -> Int {
    var st = stat()
    guard stat(path, &st) == 0 else { return 0 }
    return min(Int(st.st_size), Int(st.st_blocks) * 512)
}

/// Sum of `fileBytes` over a directory tree.
func directoryBytes(_ path: String) -> Int {
    guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
    var total = 0
    while let name = e.nextObject() as? String { total += fileBytes(path + "/" + name) }
    return total
}
