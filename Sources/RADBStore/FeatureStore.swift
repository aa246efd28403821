import Foundation
import GRDB

/// The backbone features of every stored image, kept so that a new head can re-embed the whole
/// collection later (learning in place) without the original image files.
///
/// Why a separate file (`features.sqlite`) and not a third half of the commit protocol: features
/// are a function of an image's content and of the backbone, so they are keyed by content hash
/// and tagged with the backbone's identity. An entry is written before the item that uses it and
/// is never wrong, only sometimes unused (an ingest killed between the two writes leaves an entry
/// that the next ingest of the same file reuses). A backbone change makes old entries unusable;
/// they are dropped when features of another backbone are written.
///
/// Values are IEEE half precision (2 bytes per component: 2,560 bytes for MobileNetV2's 1,280),
/// which is ample for training a head; see RESULTS.md for the measured effect.
///
///     let features = try FeatureStore(directory: dbURL, create: true)
///     try features.put([(hash, vector)], identity: embedder.featureIdentity)
///     let found = try features.features(contentHashes: [hash], identity: embedder.featureIdentity)
public final class FeatureStore: Sendable {
    /// File name inside the database directory.
    public static let fileName = "features.sqlite"

    /// The SQLite file.
    public let path: String
    private let queue: DatabaseQueue

    // MARK: - Opening

    /// Opens (and with `create`, creates) the feature file of the database in `directory`.
    /// Without `create` a missing file throws `StoreError.missingFeatures`.
    public init(directory: URL, create: Bool, durable: Bool = true) throws {
        path = directory.appendingPathComponent(Self.fileName).path
        if !create && !FileManager.default.fileExists(atPath: path) {
            throw StoreError.missingFeatures(path: path)
        }
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.readonly = !create
        let sync = durable ? "FULL" : "OFF"
        config.prepareDatabase { db in
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA synchronous = \(sync)") }
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            if create {
                // 64 KiB pages hold about 24 rows of 2.6 KB each; at SQLite's default 4 KiB a row
                // takes a page of its own (measured 4.7 KB per image). Rows are appended in rowid
                // order, so pages fill up; the content-hash index is small. Only a new file takes it.
                try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA page_size = 65536") }
                try queue.write { db in
                    try db.execute(sql: """
                        CREATE TABLE IF NOT EXISTS features (id INTEGER PRIMARY KEY,
                                                             content_hash TEXT NOT NULL UNIQUE,
                                                             f16 BLOB NOT NULL);
                        CREATE TABLE IF NOT EXISTS feature_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                        """)
                }
            }
        } catch {
            throw StoreError.corruptFeatures(path: path, reason: "\(error)")
        }
    }

    // MARK: - Writing

    /// Stores the features of contents (by content hash) computed by the backbone `identity`.
    /// Features of another backbone are dropped first (they could never be used with this one).
    public func put(_ rows: [(contentHash: String, features: [Float])], identity: String) throws {
        guard !rows.isEmpty else { return }
        do {
            try queue.write { db in
                let current = try String.fetchOne(db, sql: "SELECT value FROM feature_meta WHERE key = 'identity'")
                if current != identity {
                    try db.execute(sql: "DELETE FROM features")
                    try db.execute(sql: "INSERT OR REPLACE INTO feature_meta (key, value) VALUES ('identity', ?)",
                                   arguments: [identity])
                }
                let insert = try db.makeStatement(sql: "INSERT OR REPLACE INTO features (content_hash, f16) VALUES (?, ?)")
                for row in rows {
                    try insert.execute(arguments: [row.contentHash, Self.encode(row.features)])
                }
            }
        } catch {
            throw StoreError.featureWriteFailed(path: path, reason: Self.describe(error))
        }
    }

    // MARK: - Reading

    /// The stored features of `contentHashes` computed by backbone `identity` (absent hashes
    /// and features of another backbone are missing from the result).
    public func features(contentHashes: [String], identity: String) throws -> [String: [Float]] {
        do {
            return try queue.read { db in
                guard try String.fetchOne(db, sql: "SELECT value FROM feature_meta WHERE key = 'identity'") == identity else {
                    return [:]
                }
                var out: [String: [Float]] = [:]
                out.reserveCapacity(contentHashes.count)
                let select = try db.makeStatement(sql: "SELECT f16 FROM features WHERE content_hash = ?")
                for hash in contentHashes where out[hash] == nil {
                    if let data = try Data.fetchOne(select, arguments: [hash]) { out[hash] = Self.decode(data) }
                }
                return out
            }
        } catch {
            throw StoreError.corruptFeatures(path: path, reason: "\(error)")
        }
    }

    /// Entries stored and the file's size in bytes (with its WAL).
    public func stats() throws -> (entries: Int, bytes: Int) {
        let entries: Int
        do { entries = try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM features") ?? 0 } } catch {
            throw StoreError.corruptFeatures(path: path, reason: "\(error)")
        }
        let fm = FileManager.default
        let bytes = [path, path + "-wal"].compactMap { (try? fm.attributesOfItem(atPath: $0))?[.size] as? Int }.reduce(0, +)
        return (entries, bytes)
    }

    /// A consistent copy of the file at `destination` (for backups).
    public func copy(to destination: URL) throws {
        do {
            let target = try DatabaseQueue(path: destination.path)
            try queue.backup(to: target)
            try target.close()
        } catch {
            throw StoreError.backupFailed(path: destination.path, reason: "\(error)")
        }
    }

    // MARK: - Encoding

    /// Little-endian IEEE half precision.
    static func encode(_ values: [Float]) -> Data {
        var data = Data(count: values.count * 2)
        data.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { raw.storeBytes(of: Float16(v).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        }
        return data
    }

    static func decode(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in
            (0..<(raw.count / 2)).map { Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))) }
        }
    }

    private static func describe(_ error: Error) -> String {
        if let e = error as? DatabaseError, e.resultCode == .SQLITE_FULL { return "the disk is full; free space and run again" }
        return "\(error)"
    }
}
