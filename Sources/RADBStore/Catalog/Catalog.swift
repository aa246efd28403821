import Foundation
import GRDB
import GRDBSQLite

/// The SQLite half of a store: item metadata, the model record, anchors, and the commit
/// sequence number. Opened as a GRDB `DatabasePool` in WAL mode so reader processes never
/// block the writer and vice versa.
/// `@unchecked Sendable`: its stored properties are `let`s; GRDB's `DatabasePool` serialises
/// writes and gives each read its own connection.
package final class Catalog: @unchecked Sendable {
    package let pool: DatabasePool
    let path: String

    // MARK: - Opening

    /// Opens the catalog at `path`. Without `create` the file must already be a SQLite database
    /// (checked from its header before SQLite touches it, so a garbage file is left as is).
    /// With `readOnly`, a catalog on a read-only medium (which SQLite cannot open in WAL mode,
    /// since it cannot create the -shm file) is opened as immutable: no one can change it there.
    init(path: String, create: Bool, durable: Bool, readOnly: Bool = false) throws {
        self.path = path
        if !create { try Catalog.checkHeader(path) }
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.maximumReaderCount = 8
        let sync = durable ? "FULL" : "OFF"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(sync)")
            // 32 MiB page cache per connection: a 10k-row batch touches many index pages.
            try db.execute(sql: "PRAGMA cache_size = -32768")
            // Checkpoint every ~32 MiB of WAL rather than 4 MiB: index pages rewritten by every
            // batch then reach the database file once per checkpoint, not once per batch.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 8192")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            let directory = (path as NSString).deletingLastPathComponent
            // A reader on a read-only medium, or on a full disk (SQLite may need to write its
            // -shm file), tries SQLite's read-only ways before giving up.
            let kind = Self.classify(error, path: path)
            let refused: Bool
            switch kind {
            case .diskFull, .notWritable: refused = true
            default: refused = access(directory, W_OK) != 0 && errno == EROFS
            }
            guard readOnly, !create, refused else { throw kind }
            var readOnlyConfig = config
            readOnlyConfig.readonly = true
            if let opened = try? DatabasePool(path: path, configuration: readOnlyConfig) {
                // SQLite reads a WAL database read-only when its -wal and -shm files exist.
                pool = opened
            } else {
                // Immutable ignores the WAL: only right when there is none (a clean close
                // checkpoints and deletes it); else its commits would be missed.
                let walSize = ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? Int) ?? 0
                guard walSize == 0 else { throw kind }
                // A URI filename (this SQLite is built with SQLITE_USE_URI); the path is percent-encoded.
                let encoded = path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "?#%"))) ?? path
                do {
                    pool = try DatabasePool(path: "file:\(encoded)?immutable=1", configuration: readOnlyConfig)
                } catch {
                    throw Self.classify(error, path: path)
                }
            }
        }
    }

    private static func checkHeader(_ path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StoreError.corruptCatalog(path: path, reason: "cannot be read")
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 100)) ?? Data()
        guard head.count == 100, head.prefix(16) == Data("SQLite format 3\0".utf8) else {
            throw StoreError.corruptCatalog(path: path, reason: "not a SQLite database (bad header)")
        }
    }

    /// The schema version recorded in the file (0 for a new file).
    func schemaVersion() throws -> Int {
        try wrap { try pool.read { try Int.fetchOne($0, sql: "PRAGMA user_version") ?? 0 } }
    }

    /// Refuses a newer schema; applies missing migrations in one transaction.
    func migrate() throws {
        let current = try schemaVersion()
        if current > CatalogSchema.latestVersion {
            throw StoreError.catalogSchemaTooNew(path: path, found: current, supported: CatalogSchema.latestVersion)
        }
        guard current < CatalogSchema.latestVersion else { return }
        try wrap {
            try pool.write { db in
                for m in CatalogSchema.migrations where m.version > current {
                    try db.execute(sql: String(decoding: m.sql, as: UTF8.self))
                    try CatalogSchema.fill(after: m.version, db)
                    try db.execute(sql: "PRAGMA user_version = \(m.version)")
                }
            }
        }
    }

    /// Runs `body`, turning GRDB errors into `StoreError.corruptCatalog` naming the file.
    /// A full disk, a read-only medium or an I/O error is named as such, not as damage.
    package func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as StoreError { throw e } catch {
            throw Self.classify(error, path: path)
        }
    }

    /// The `StoreError` for an error of SQLite on the catalog at `path`.
    static func classify(_ error: Error, path: String) -> StoreError {
        guard let e = error as? DatabaseError else { return .corruptCatalog(path: path, reason: "\(error)") }
        switch e.resultCode {
        case .SQLITE_FULL:
            return .diskFull(path: path, operation: "writing the catalog")
        case .SQLITE_READONLY, .SQLITE_PERM:
            // A catalog opened read-only because the disk is full refuses writes for that reason.
            if StoreError.diskIsFull(at: path) { return .diskFull(path: path, operation: "writing the catalog") }
            return .notWritable(path: path, operation: "writing the catalog", reason: "\(e.message ?? "\(e)")")
        case .SQLITE_IOERR, .SQLITE_CANTOPEN:
            if StoreError.diskIsFull(at: path) { return .diskFull(path: path, operation: "writing the catalog") }
            if access((path as NSString).deletingLastPathComponent, W_OK) != 0 && (errno == EROFS || errno == EACCES) {
                return .notWritable(path: path, operation: "opening the catalog", reason: "\(e.message ?? "\(e)")")
            }
            return .io(path: path, operation: "SQLite", reason: "\(e)")
        default:
            return .corruptCatalog(path: path, reason: "\(error)")
        }
    }

    // MARK: - Records (all take the caller's transaction)

    static func sequence(_ db: Database) throws -> UInt64 {
        UInt64(try Int64.fetchOne(db, sql: "SELECT seq FROM commit_state WHERE singleton = 1") ?? 0)
    }

    static func setSequence(_ db: Database, _ seq: UInt64) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO commit_state (singleton, seq) VALUES (1, ?)", arguments: [Int64(seq)])
    }

    static func model(_ db: Database) throws -> (identity: String, dimension: Int)? {
        guard let row = try Row.fetchOne(db, sql: "SELECT identity, dimension FROM model WHERE singleton = 1") else { return nil }
        return (row["identity"], row["dimension"])
    }

    static func setModel(_ db: Database, identity: String, dimension: Int) throws {
        try db.execute(sql: "INSERT INTO model (singleton, identity, dimension, created_at) VALUES (1, ?, ?, ?)",
                       arguments: [identity, dimension, Date().timeIntervalSince1970])
    }

    /// Applies the catalog half of an operation. Idempotent (see `PendingOperation`).
    /// `contentKeys`, if given, are the keys of an insert's rows (`insertedContentKeys()`).
    static func apply(_ op: PendingOperation, sequence: UInt64, db: Database, contentKeys: [UInt64]? = nil) throws {
        switch op {
        case .none:
            break
        case let .insert(rows):
            try rows.withUnsafeBufferPointer { rows in
                try insertRows(db, count: rows.count) { i, insert in
                    let row = rows.baseAddress! + i
                    try insert(row.pointee.id, row.pointee.anchor, row.metadata, row.pointee.addedAt, nil)
                }
                // Ids are fresh and ascending (a journal replays them in the same order).
                if try LabelRuns.isPresent(db) {
                    try LabelRuns.appendRows(db, count: rows.count) { ((rows.baseAddress! + $0).pointee.id, (rows.baseAddress! + $0).metadata.pointee.label) }
                }
            }
        case let .insertBatch(b):
            let keys = contentKeys ?? b.contentKeys()
            try b.items.withUnsafeBufferPointer { items in
                try insertRows(db, count: items.count) { i, insert in
                    let item = items.baseAddress! + i
                    try insert(b.firstId + UInt64(i), item.pointee.anchor, item.metadata, b.addedAt, keys[i])
                }
                if try LabelRuns.isPresent(db) {
                    try LabelRuns.appendRows(db, count: items.count) { (b.firstId + UInt64($0), (items.baseAddress! + $0).metadata.pointee.label) }
                }
            }
        case let .delete(ids):
            try removeLabels(db, ids: ids)
            let stmt = try db.cachedStatement(sql: "DELETE FROM items WHERE id = ?")
            for id in ids { try stmt.execute(arguments: [Int64(id)]) }
        case let .updateMetadata(updates):
            try relabel(db, updates)
            let stmt = try db.cachedStatement(sql: """
                UPDATE items SET path = ?, content_hash = ?, content_key = ?, label = ?, width = ?, height = ? WHERE id = ?
                """)
            for u in updates {
                try stmt.execute(arguments: [u.metadata.path, u.metadata.contentHash, contentKey(u.metadata.contentHash), u.metadata.label,
                                             u.metadata.width, u.metadata.height, Int64(u.id)])
            }
        case let .move(moves):
            let stmt = try db.cachedStatement(sql: "UPDATE items SET anchor = ? WHERE id = ?")
            for m in moves { try stmt.execute(arguments: [Int64(m.anchor), Int64(m.id)]) }
        case let .switchGeneration(g):
            let stmt = try db.cachedStatement(sql: "UPDATE items SET anchor = ? WHERE id = ?")
            for m in g.moves { try stmt.execute(arguments: [Int64(m.anchor), Int64(m.id)]) }
            try setAnchors(db, vectors: g.anchors, count: g.anchorCount, dimension: g.anchors.count / g.anchorCount)
        }
        try setSequence(db, sequence)
    }

    /// The current labels of `ids` that have a row and a label, grouped by label.
    private static func labels(_ db: Database, ids: [UInt64]) throws -> [String: [UInt64]] {
        let stmt = try db.cachedStatement(sql: "SELECT label FROM items WHERE id = ? AND label IS NOT NULL")
        var out: [String: [UInt64]] = [:]
        for id in ids {
            if let label = try String.fetchOne(stmt, arguments: [Int64(id)]) { out[label, default: []].append(id) }
        }
        return out
    }

    /// Takes rows about to be deleted out of the label runs.
    private static func removeLabels(_ db: Database, ids: [UInt64]) throws {
        guard try LabelRuns.isPresent(db) else { return }
        for (label, ids) in try labels(db, ids: ids) { try LabelRuns.remove(db, label: label, ids: ids) }
    }

    /// Moves ids whose label an update changes to the runs of their new label (before the rows change).
    private static func relabel(_ db: Database, _ updates: [PendingOperation.MetadataUpdate]) throws {
        guard try LabelRuns.isPresent(db) else { return }
        // The rows are updated in order, so an id's last update gives its final label.
        var finalLabel: [UInt64: String?] = [:]
        for u in updates { finalLabel[u.id] = .some(u.metadata.label) }
        let old = try labels(db, ids: finalLabel.keys.sorted())
        var oldLabel: [UInt64: String] = [:]
        for (label, ids) in old { for id in ids { oldLabel[id] = label } }
        let exists = try db.cachedStatement(sql: "SELECT 1 FROM items WHERE id = ?")
        var removed: [String: [UInt64]] = [:], added: [String: [UInt64]] = [:]
        for (id, label) in finalLabel where oldLabel[id] != label {
            // An update of an id without a row changes nothing (the UPDATE matches no row).
            guard try Int.fetchOne(exists, arguments: [Int64(id)]) != nil else { continue }
            if let was = oldLabel[id] { removed[was, default: []].append(id) }
            if let now = label { added[now, default: []].append(id) }
        }
        for (label, ids) in removed { try LabelRuns.remove(db, label: label, ids: ids) }
        for (label, ids) in added { try LabelRuns.add(db, label: label, ids: ids) }
    }

    /// The 64-bit stand-in for a content hash stored in `content_key` (= `ContentIndex.key`).
    static func contentKey(_ hash: String) -> Int64 {
        Int64(bitPattern: ContentIndex.key(hash))
    }

    /// Inserts `count` rows into `items` with one prepared statement; `row(i, insert)` calls
    /// `insert` with the fields of row i (and its content key if already computed).
    ///
    /// Bound through the C API: GRDB's per-execute bookkeeping costs more than SQLite's own
    /// insert at 10k-row batches. Text is bound without a copy (SQLITE_STATIC) from the
    /// strings' own UTF-8 storage, inside the closures that keep that storage valid, and the
    /// statement runs before they return.
    private static func insertRows(_ db: Database, count: Int,
                                   _ row: (Int, _ insert: (UInt64, Int32, UnsafePointer<ItemMetadata>, Double, UInt64?) throws -> Void) throws -> Void) throws {
        let stmt = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO items (id, path, content_hash, content_key, label, width, height, anchor, added_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let h = stmt.sqliteStatement
        defer { sqlite3_reset(h); sqlite3_clear_bindings(h) }
        func step() throws {
            let rc = sqlite3_step(h)
            guard rc == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
            }
        }
        // The metadata is read through a pointer: passing it by value copies it (retaining
        // three strings per row), which showed in profiles.
        func insert(_ id: UInt64, _ anchor: Int32, _ m: UnsafePointer<ItemMetadata>, _ addedAt: Double, _ key: UInt64?) throws {
            sqlite3_reset(h)
            sqlite3_bind_int64(h, 1, Int64(id))
            sqlite3_bind_int64(h, 6, Int64(m.pointee.width))
            sqlite3_bind_int64(h, 7, Int64(m.pointee.height))
            sqlite3_bind_int64(h, 8, Int64(anchor))
            sqlite3_bind_double(h, 9, addedAt)
            try withUTF8(m.pointee.path) { path in
                try withUTF8(m.pointee.contentHash) { hash in
                    bindText(h, 2, path)
                    bindText(h, 3, hash)
                    sqlite3_bind_int64(h, 4, Int64(bitPattern: key ?? ContentIndex.key(utf8: hash)))
                    if let label = m.pointee.label {
                        try withUTF8(label) { bindText(h, 5, $0); try step() }
                    } else {
                        sqlite3_bind_null(h, 5)
                        try step()
                    }
                }
            }
        }
        for i in 0..<count { try row(i, insert) }
    }

    /// Runs `body` on the UTF-8 bytes of `s` (in place for native strings).
    @inline(__always)
    private static func withUTF8<R>(_ s: String, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        if let r = try s.utf8.withContiguousStorageIfAvailable(body) { return r }
        return try Array(s.utf8).withUnsafeBufferPointer(body)
    }

    /// Binds UTF-8 text without a copy: `bytes` must stay valid until the statement has run
    /// (SQLITE_STATIC). An empty string is bound as '' (a nil pointer would bind NULL).
    @inline(__always)
    private static func bindText(_ h: OpaquePointer?, _ index: Int32, _ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else {
            sqlite3_bind_text(h, index, "", 0, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
            return
        }
        base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
            _ = sqlite3_bind_text(h, index, $0, Int32(bytes.count), nil)
        }
    }

    // MARK: - Queries

    static let itemColumns = "id, path, content_hash, label, width, height, anchor, added_at"

    static func item(_ row: Row) -> StoredItem {
        StoredItem(id: UInt64(row[0] as Int64), anchor: Int32(truncatingIfNeeded: row[6] as Int64),
                   metadata: ItemMetadata(path: row[1], contentHash: row[2], label: row[3], width: row[4], height: row[5]),
                   addedAt: Date(timeIntervalSince1970: row[7]))
    }

    static func item(_ db: Database, id: UInt64) throws -> StoredItem? {
        try Row.fetchOne(db, sql: "SELECT \(itemColumns) FROM items WHERE id = ?", arguments: [Int64(id)]).map(item)
    }

    /// Items with `contentHash` found through the catalog alone: the path of a database whose
    /// vector half has no `contents` index yet (format 1, opened read-only). Schema 1 indexes
    /// `content_key`; from schema 2 on this is a table scan.
    static func items(_ db: Database, contentHash: String) throws -> [StoredItem] {
        try Row.fetchAll(db, sql: "SELECT \(itemColumns) FROM items WHERE content_key = ? AND content_hash = ? ORDER BY id",
                         arguments: [contentKey(contentHash), contentHash]).map(item)
    }

    /// Rows for `ids` in the order given; unknown ids are skipped.
    static func items(_ db: Database, ids: [UInt64]) throws -> [StoredItem] {
        let stmt = try db.cachedStatement(sql: "SELECT \(itemColumns) FROM items WHERE id = ?")
        var out: [StoredItem] = []
        out.reserveCapacity(ids.count)
        for id in ids {
            if let row = try Row.fetchOne(stmt, arguments: [Int64(id)]) { out.append(item(row)) }
        }
        return out
    }

    /// The rows among `ids` (the content index's candidates) whose hash is `contentHash`, by id.
    static func items(_ db: Database, ids: [UInt64], contentHash: String) throws -> [StoredItem] {
        try items(db, ids: ids.sorted()).filter { $0.metadata.contentHash == contentHash }
    }

    /// Content-index entries of the rows `ids` (unknown ids are skipped).
    static func contentEntries(_ db: Database, ids: [UInt64]) throws -> [ContentIndex.Entry] {
        let stmt = try db.cachedStatement(sql: "SELECT content_hash FROM items WHERE id = ?")
        var out: [ContentIndex.Entry] = []
        out.reserveCapacity(ids.count)
        for id in ids {
            if let hash = try String.fetchOne(stmt, arguments: [Int64(id)]) {
                out.append(ContentIndex.Entry(key: ContentIndex.key(hash), id: id))
            }
        }
        return out
    }

    /// Content-index entries of every row, sorted (to build the index of an older database).
    static func allContentEntries(_ db: Database) throws -> [ContentIndex.Entry] {
        var out: [ContentIndex.Entry] = []
        let cursor = try Row.fetchCursor(db, sql: "SELECT id, content_hash FROM items")
        while let row = try cursor.next() {
            out.append(ContentIndex.Entry(key: ContentIndex.key(row[1]), id: UInt64(row[0] as Int64)))
        }
        out.sort()
        return out
    }

    static func itemCount(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM items") ?? 0
    }

    /// Ids of rows matching `filter`, ascending.
    ///
    /// Label conditions are answered from the label runs (`LabelRuns`) and explicit id sets
    /// from the set itself; the other conditions are SQL over `items`. When some condition
    /// yields an id list, the rest are checked id by id for lists under a quarter of the rows
    /// and by one scan of `items` for longer ones.
    static func ids(_ db: Database, matching filter: CatalogFilter) throws -> [UInt64] {
        let runs = try LabelRuns.isPresent(db)
        var clauses: [String] = []
        var args: [any DatabaseValueConvertible] = []
        /// Sorted id lists the answer must lie in; `unverified` if one may hold ids without a row.
        var lists: [[UInt64]] = []
        var unverified = false
        // Stored text never contains NUL (`ItemMetadata.problem`), and SQLite ends a bound text
        // at its first NUL ("cat\0x" would match "cat", "*\0x" every path): a condition on such
        // text matches nothing.
        func storable(_ text: String) -> Bool { !text.utf8.contains(0) }
        func add(_ f: CatalogFilter) throws {
            switch f {
            case let .labelEquals(l) where !storable(l): lists.append([])
            case let .labelEquals(l):
                if runs { lists.append(try LabelRuns.ids(db, labels: [l])) } else { clauses.append("label = ?"); args.append(l) }
            case let .labelIn(all):
                let set = all.filter(storable)
                if set.isEmpty { lists.append([]) } else if runs {
                    lists.append(try LabelRuns.ids(db, labels: set.sorted()))
                } else {
                    clauses.append("label IN (\(Array(repeating: "?", count: set.count).joined(separator: ",")))")
                    args.append(contentsOf: set.sorted() as [any DatabaseValueConvertible])
                }
            case let .pathGlob(g) where !storable(g): lists.append([])
            case let .pathGlob(g): clauses.append("path GLOB ?"); args.append(g)
            case let .addedAfter(d): clauses.append("added_at > ?"); args.append(d.timeIntervalSince1970)
            case let .addedBefore(d): clauses.append("added_at < ?"); args.append(d.timeIntervalSince1970)
            case let .ids(s): lists.append(s.sorted()); unverified = true
            case let .all(fs): try fs.forEach(add)
            }
        }
        try add(filter)
        let arguments = StatementArguments(args.map { $0.databaseValue })
        let whereSQL = clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
        guard let shortest = lists.min(by: { $0.count < $1.count }) else {
            return try Int64.fetchAll(db, sql: "SELECT id FROM items" + whereSQL + " ORDER BY id", arguments: arguments)
                .map { UInt64($0) }
        }
        let candidates = lists.reduce(shortest) { intersection($0, $1) }
        if clauses.isEmpty, !unverified { return candidates }
        // Few candidates: look each up (~0.4 µs); many: one scan of `items` (~0.1 µs a row)
        // and a merge. The largest id bounds the row count (ids are never reused).
        let largestId = try Int64.fetchOne(db, sql: "SELECT max(id) FROM items") ?? 0
        if Int64(candidates.count) * 4 < largestId {
            return try lookUp(db, candidates, where: clauses, arguments: args)
        }
        let matching = try Int64.fetchAll(db, sql: "SELECT id FROM items" + whereSQL + " ORDER BY id", arguments: arguments)
            .map { UInt64(bitPattern: $0) }
        return intersection(candidates, matching)
    }

    /// The ids among `candidates` (ascending) whose row exists and meets `clauses`, in order:
    /// one prepared statement, its other arguments bound once, the id rebound per candidate.
    private static func lookUp(_ db: Database, _ candidates: [UInt64], where clauses: [String],
                               arguments args: [any DatabaseValueConvertible]) throws -> [UInt64] {
        let stmt = try db.cachedStatement(sql: "SELECT 1 FROM items WHERE id = ?" + clauses.map { " AND " + $0 }.joined())
        try stmt.setArguments(StatementArguments(([Int64(0)] + args).map { $0.databaseValue }))
        let h = stmt.sqliteStatement
        defer { sqlite3_reset(h) }
        var out: [UInt64] = []
        for id in candidates {
            sqlite3_reset(h)
            sqlite3_bind_int64(h, 1, Int64(bitPattern: id))
            switch sqlite3_step(h) {
            case SQLITE_ROW: out.append(id)
            case SQLITE_DONE: break
            case let rc: throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
            }
        }
        return out
    }

    /// The ids in both ascending lists, ascending.
    static func intersection(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
        var out: [UInt64] = []
        var i = 0, j = 0
        while i < a.count, j < b.count {
            if a[i] < b[j] { i += 1 } else if b[j] < a[i] { j += 1 } else { out.append(a[i]); i += 1; j += 1 }
        }
        return out
    }

    // MARK: - Anchors

    static func setAnchors(_ db: Database, vectors: [Float], count: Int, dimension: Int) throws {
        try db.execute(sql: "DELETE FROM anchors")
        let stmt = try db.cachedStatement(sql: "INSERT INTO anchors (anchor, vector) VALUES (?, ?)")
        for a in 0..<count {
            let data = vectors[a * dimension ..< (a + 1) * dimension].withUnsafeBytes { Data($0) }
            try stmt.execute(arguments: [a, data])
        }
    }

    /// The anchors table as `count × dimension` floats (empty if it has no rows), validated:
    /// rows numbered 0, 1, 2, … without gaps, each exactly `dimension` finite Float32s. A
    /// damaged row is reported, never skipped (skipping renumbers every later anchor).
    /// - Throws: `StoreError.invalidAnchors` naming `path`.
    static func anchors(_ db: Database, dimension: Int, path: String) throws -> [Float] {
        var out: [Float] = []
        var expected: Int64 = 0
        for row in try Row.fetchAll(db, sql: "SELECT anchor, vector FROM anchors ORDER BY anchor") {
            let anchor: Int64 = row[0]
            guard anchor == expected else {
                throw StoreError.invalidAnchors(path: path,
                    reason: "the anchors table jumps from anchor \(expected - 1) to \(anchor) (anchor \(expected) is missing); restore catalog.sqlite from a backup")
            }
            guard let data = row[1] as Data?, data.count == dimension * 4 else {
                let size = (row[1] as Data?)?.count ?? 0
                throw StoreError.invalidAnchors(path: path,
                    reason: "anchor \(anchor) holds \(size) bytes, expected \(dimension) × 4 = \(dimension * 4); restore catalog.sqlite from a backup")
            }
            let start = out.count
            data.withUnsafeBytes { raw in
                for i in 0..<dimension { out.append(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))) }
            }
            if let bad = out[start...].firstIndex(where: { !$0.isFinite }) {
                throw StoreError.invalidAnchors(path: path,
                    reason: "anchor \(anchor) has a NaN or infinite component (\(bad - start)); restore catalog.sqlite from a backup")
            }
            expected += 1
        }
        return out
    }
}
