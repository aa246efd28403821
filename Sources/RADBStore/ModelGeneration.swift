import Foundation

/// One numbered model generation of a store: the anchors that define its partitions (and,
/// later, the identity of the head that embedded its vectors).
///
/// Why it exists: a search routes a query to its nearest anchors and then scans the partitions
/// of those anchors, so anchors and partitions are only meaningful together. They are therefore
/// one unit of the numbered commit protocol (DESIGN §7): the current generation's record and
/// anchors live in LMDB's meta beside the partitions, and a switch to a new generation — new
/// record, new anchors, every item in its partition under them — is one LMDB transaction of
/// the ordinary protocol (`VectorStore.switchGeneration`). A reader takes anchors from the
/// snapshot it scans (`StoreSnapshot.generation`), never from a cache made at open, so it can
/// never route with anchors that do not match the partitions it reads.
///
/// On disk (vector format 4), in LMDB's meta: `generation` = this record's encoding, and
/// `anchors.<number>` = `anchorCount × dimension` little-endian Float32. The catalog's
/// `anchors` table mirrors the current generation's anchors (written by the catalog half of
/// the switch) for SQL users; the LMDB copy is the one searches use.
public struct ModelGeneration: Sendable, Equatable {
    /// Increases by one at every switch. Generation 0 is a database written before vector
    /// format 4, whose anchors are read from the catalog (a read-only open of an old database).
    public let number: UInt64
    /// Number of anchors; partition ids of this generation are `0..<anchorCount`.
    public let anchorCount: Int
    /// Components per anchor (the store's dimension).
    public let dimension: Int
    /// Identity of the embedding head that made this generation's vectors ("" = the store's
    /// model). Reserved for learning in place, which switches head and anchors together.
    public let head: String
    /// Seconds since 1970 when the generation was switched in.
    public let createdAt: Double
    /// `anchorCount × dimension` floats, row-major, all finite.
    public let anchors: [Float]

    public init(number: UInt64, anchorCount: Int, dimension: Int, head: String = "", createdAt: Double, anchors: [Float]) {
        self.number = number
        self.anchorCount = anchorCount
        self.dimension = dimension
        self.head = head
        self.createdAt = createdAt
        self.anchors = anchors
    }

    // MARK: - Meta keys

    package static let recordKey = "generation"
    package static func anchorsKey(_ number: UInt64) -> String { "anchors.\(number)" }

    // MARK: - Validation

    /// The reason `anchors` cannot serve as `count` anchors of `dimension` components, or nil
    /// when they can (right length, every component finite).
    static func problem(anchors: [Float], count: Int, dimension: Int) -> String? {
        guard count >= 1 else { return "there are no anchors (count \(count))" }
        guard anchors.count == count * dimension else {
            return "expected \(count) × \(dimension) = \(count * dimension) floats, found \(anchors.count)"
        }
        if let i = anchors.firstIndex(where: { !$0.isFinite }) {
            return "anchor \(i / dimension) has a NaN or infinite component (\(i % dimension))"
        }
        return nil
    }

    /// What to do about damaged anchors (the record still readable): `radb reindex` switches to
    /// a new generation without reading the old anchors (`VectorStore.switchGeneration`).
    static let repair = "searches and writes cannot route with them: run `radb reindex` to learn new anchors from the stored vectors, or restore the database from a backup"

    // MARK: - Encoding (little-endian)

    /// The record without its anchors: version, number, count, dimension, created-at, head.
    func encodedRecord() -> [UInt8] {
        let head = Array(self.head.utf8)
        var bytes = [UInt8](repeating: 0, count: 1 + 8 + 8 + 8 + 8 + 8 + head.count)
        bytes.withUnsafeMutableBytes { out in
            var w = RawByteWriter(out)
            w.u8(1)
            w.u64(number)
            w.u64(UInt64(anchorCount))
            w.u64(UInt64(dimension))
            w.f64(createdAt)
            w.string(self.head)
        }
        return bytes
    }

    /// The fields of a stored record: number, anchor count, dimension, created-at, head.
    static func decodeRecord(_ record: UnsafeRawBufferPointer, path: String) throws -> (UInt64, UInt64, UInt64, Double, String) {
        var r = ByteReader(record)
        do {
            guard try r.u8() == 1 else { throw ByteReader.Malformed() }
            return (try r.u64(), try r.u64(), try r.u64(), try r.f64(), try r.string())
        } catch {
            throw StoreError.invalidAnchors(path: path,
                reason: "the model generation record (LMDB meta `generation`, \(record.count) bytes) is malformed; restore the database from a backup")
        }
    }

    /// Decodes a record and its anchors as stored in meta, validating both.
    /// - Throws: `StoreError.invalidAnchors` naming `path` when either is damaged.
    static func decode(record: UnsafeRawBufferPointer, anchors raw: UnsafeRawBufferPointer?,
                       dimension expected: Int, path: String) throws -> ModelGeneration {
        let (number, count, dimension, createdAt, head) = try decodeRecord(record, path: path)
        guard dimension == UInt64(expected), count >= 1, count <= UInt64(Int32.max) else {
            throw StoreError.invalidAnchors(path: path,
                reason: "generation \(number) records \(count) anchors of \(dimension) components, but the store holds \(expected)-dimensional vectors; \(repair)")
        }
        guard let raw else {
            throw StoreError.invalidAnchors(path: path,
                reason: "the anchors of generation \(number) (LMDB meta `\(anchorsKey(number))`) are missing; \(repair)")
        }
        let floats = Int(count) * expected
        guard raw.count == floats * 4 else {
            throw StoreError.invalidAnchors(path: path,
                reason: "the anchors of generation \(number) hold \(raw.count) bytes, expected \(count) × \(expected) × 4 = \(floats * 4); \(repair)")
        }
        let anchors = [Float](unsafeUninitializedCapacity: floats) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
            initialized = floats
        }
        if let reason = problem(anchors: anchors, count: Int(count), dimension: expected) {
            throw StoreError.invalidAnchors(path: path,
                reason: "generation \(number): \(reason); \(repair)")
        }
        return ModelGeneration(number: number, anchorCount: Int(count), dimension: expected, head: head,
                               createdAt: createdAt, anchors: anchors)
    }
}

// MARK: - Reading and writing generations in an LMDB transaction

extension LMDBTransaction {
    /// The number of the current generation recorded in meta, or nil if the store has none
    /// (no anchors were ever set). Cheap: a reader compares it with a cached router's.
    package func generationNumber() throws -> UInt64? {
        guard let raw = try metaBytes(ModelGeneration.recordKey) else { return nil }
        guard raw.count >= 9 else { return UInt64.max } // malformed: decoding reports it
        return UInt64(littleEndian: UnsafeRawBufferPointer(rebasing: raw[1..<9]).loadUnaligned(as: UInt64.self))
    }

    /// The current generation, validated, or nil if the store has none.
    func generation(dimension: Int, path: String) throws -> ModelGeneration? {
        guard let record = try metaBytes(ModelGeneration.recordKey) else { return nil }
        let number = try generationNumber() ?? 0
        return try ModelGeneration.decode(record: record, anchors: try metaBytes(ModelGeneration.anchorsKey(number)),
                                          dimension: dimension, path: path)
    }

    /// The current generation's number and anchor count without reading its anchors, or nil.
    func generationShape(path: String) throws -> (number: UInt64, anchorCount: Int)? {
        guard let record = try metaBytes(ModelGeneration.recordKey) else { return nil }
        let (number, count, _, _, _) = try ModelGeneration.decodeRecord(record, path: path)
        return (number, Int(clamping: count))
    }

    /// Records `g` as the current generation, replacing (and deleting the anchors of) `previous`.
    func putGeneration(_ g: ModelGeneration, replacing previous: UInt64?) throws {
        try g.anchors.withUnsafeBytes { try putMeta(ModelGeneration.anchorsKey(g.number), bytes: $0) }
        try g.encodedRecord().withUnsafeBytes { try putMeta(ModelGeneration.recordKey, bytes: $0) }
        if let previous, previous != g.number {
            var name = ModelGeneration.anchorsKey(previous)
            _ = try name.withUTF8 { try delete(environment.metaDB, key: UnsafeRawBufferPointer($0)) }
        }
    }
}
