import Foundation
import GRDB

/// The catalog's label index, kept as *runs*: one row of `label_runs` per (write, label)
/// holding the ascending ids that write gave that label, packed in one blob.
///
/// Why not `CREATE INDEX … ON items(label)`: with a handful of labels, every inserted row is a
/// B-tree insertion in the middle of the index (one insertion point per label), ~1.1 µs per row
/// — half of the catalog's insert cost (BENCHMARKS.md → Store). A run is one row per label per
/// write, so a 10,000-row insert with 10 labels writes 10 index rows instead of 10,000.
///
/// Invariants (checked by `VectorStore.check()`):
/// - every row of `items` with a label has its id in exactly one run of that label, and no run
///   holds an id whose row is missing or has another label;
/// - a run's blob is a whole number of 8-byte little-endian ids, strictly ascending, non-empty,
///   and `first_id` is its first id.
///
/// Runs of one label may overlap in id range (the ids a relabel gives a label form a run of
/// their own), so readers merge them rather than concatenate. Deletes and relabels rewrite the
/// runs that hold the ids: a write's run is as long as that write's ids of the label, and
/// `rebuild` (the upgrade of an older catalog) cuts its runs at `maximumRunLength`.
enum LabelRuns {
    /// Longest run written by `rebuild` (a write's own runs are as long as the write).
    static let maximumRunLength = 4096

    /// Whether this catalog keeps its label index as runs (schema ≥ 3; a read-only open of an
    /// older catalog still has `items_by_label`).
    static func isPresent(_ db: Database) throws -> Bool {
        try Int.fetchOne(db, sql: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'label_runs'") != nil
    }

    // MARK: - Writing

    /// Records `ids` (ascending, no duplicates) as labelled `label`. A run already starting at
    /// `ids[0]` (a replayed write) is replaced.
    static func append(_ db: Database, label: String, ids: [UInt64]) throws {
        guard let first = ids.first else { return }
        let stmt = try db.cachedStatement(sql: "INSERT OR REPLACE INTO label_runs (label, first_id, ids) VALUES (?, ?, ?)")
        try stmt.execute(arguments: [label, Int64(bitPattern: first), encode(ids)])
    }

    /// Records rows given in ascending id order: one run per label.
    static func appendRows(_ db: Database, count: Int, _ row: (Int) -> (id: UInt64, label: String?)) throws {
        var byLabel: [String: [UInt64]] = [:]
        for i in 0..<count {
            let r = row(i)
            if let label = r.label { byLabel[label, default: []].append(r.id) }
        }
        for (label, ids) in byLabel { try append(db, label: label, ids: ids) }
    }

    /// Adds `ids` (any order) to `label`: merged into the run at their smallest id if one
    /// starts there, else written as a new run.
    static func add(_ db: Database, label: String, ids: [UInt64]) throws {
        let sorted = Array(Set(ids)).sorted()
        guard let first = sorted.first else { return }
        if let existing = try run(db, label: label, firstId: first) {
            try append(db, label: label, ids: Array(Set(existing).union(sorted)).sorted())
        } else {
            try append(db, label: label, ids: sorted)
        }
    }

    /// Removes `ids` from the runs of `label` (ids not found there are ignored, so a replayed
    /// delete is harmless). Emptied runs are deleted.
    static func remove(_ db: Database, label: String, ids: [UInt64]) throws {
        var pending = Set(ids)
        guard let highest = pending.max() else { return }
        // Runs that can hold one of the ids start at or below the highest of them.
        let runs = try Row.fetchAll(db, sql: "SELECT first_id, ids FROM label_runs WHERE label = ? AND first_id <= ? ORDER BY first_id DESC",
                                    arguments: [label, Int64(bitPattern: highest)])
        for row in runs where !pending.isEmpty {
            let firstId = UInt64(bitPattern: row[0] as Int64)
            let members = decode(row[1] as Data)
            let kept = members.filter { !pending.contains($0) }
            guard kept.count != members.count else { continue }
            for id in members where pending.contains(id) { pending.remove(id) }
            try db.execute(sql: "DELETE FROM label_runs WHERE label = ? AND first_id = ?", arguments: [label, Int64(bitPattern: firstId)])
            try append(db, label: label, ids: kept)
        }
    }

    /// Replaces every run with runs built from `items` (for a catalog that had none).
    static func rebuild(_ db: Database) throws {
        try db.execute(sql: "DELETE FROM label_runs")
        var byLabel: [String: [UInt64]] = [:]
        let cursor = try Row.fetchCursor(db, sql: "SELECT id, label FROM items WHERE label IS NOT NULL ORDER BY id")
        while let row = try cursor.next() {
            let label: String = row[1]
            byLabel[label, default: []].append(UInt64(bitPattern: row[0] as Int64))
            if byLabel[label]!.count == maximumRunLength {
                try append(db, label: label, ids: byLabel[label]!)
                byLabel[label] = nil
            }
        }
        for (label, ids) in byLabel { try append(db, label: label, ids: ids) }
    }

    // MARK: - Reading

    /// The ids labelled with any of `labels`, ascending.
    static func ids(_ db: Database, labels: [String]) throws -> [UInt64] {
        var out: [UInt64] = []
        let stmt = try db.cachedStatement(sql: "SELECT ids FROM label_runs WHERE label = ? ORDER BY first_id")
        for label in labels {
            let cursor = try Data.fetchCursor(stmt, arguments: [label])
            while let blob = try cursor.next() { appendDecoded(blob, to: &out) }
        }
        // Runs of one write are in id order already; overlapping runs and several labels need a sort.
        if zip(out, out.dropFirst()).contains(where: { $0 >= $1 }) { out.sort() }
        return out
    }

    /// Every (label, run) pair, for `check()`: the run's key and its decoded ids, or why it is malformed.
    static func forEachRun(_ db: Database, _ body: (_ label: String, _ firstId: UInt64, _ ids: Result<[UInt64], RunError>) throws -> Void) throws {
        let cursor = try Row.fetchCursor(db, sql: "SELECT label, first_id, ids FROM label_runs ORDER BY label, first_id")
        while let row = try cursor.next() {
            let label: String = row[0], firstId = UInt64(bitPattern: row[1] as Int64), blob: Data = row[2]
            guard !blob.isEmpty, blob.count % 8 == 0 else {
                try body(label, firstId, .failure(RunError(reason: "its blob has \(blob.count) bytes, not a positive multiple of 8")))
                continue
            }
            let ids = decode(blob)
            if ids.first != firstId {
                try body(label, firstId, .failure(RunError(reason: "it starts with id \(ids[0]), not its key \(firstId)")))
            } else if zip(ids, ids.dropFirst()).contains(where: { $0 >= $1 }) {
                try body(label, firstId, .failure(RunError(reason: "its ids are not strictly ascending")))
            } else {
                try body(label, firstId, .success(ids))
            }
        }
    }

    struct RunError: Error { var reason: String }

    // MARK: - Blob coding (8-byte little-endian ids)

    private static func run(_ db: Database, label: String, firstId: UInt64) throws -> [UInt64]? {
        try Data.fetchOne(db, sql: "SELECT ids FROM label_runs WHERE label = ? AND first_id = ?",
                          arguments: [label, Int64(bitPattern: firstId)]).map(decode)
    }

    static func encode(_ ids: [UInt64]) -> Data {
        var data = Data(count: ids.count * 8)
        data.withUnsafeMutableBytes { raw in
            for (i, id) in ids.enumerated() { raw.storeBytes(of: id.littleEndian, toByteOffset: i * 8, as: UInt64.self) }
        }
        return data
    }

    static func decode(_ blob: Data) -> [UInt64] {
        var out: [UInt64] = []
        appendDecoded(blob, to: &out)
        return out
    }

    private static func appendDecoded(_ blob: Data, to out: inout [UInt64]) {
        blob.withUnsafeBytes { raw in
            out.reserveCapacity(out.count + raw.count / 8)
            for i in 0..<raw.count / 8 { out.append(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))) }
        }
    }
}
