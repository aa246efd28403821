import Foundation

/// The catalog half of one write, journaled in LMDB's meta under `pending` in the same LMDB
/// transaction as the vector half. If the process dies after the LMDB commit and before the
/// SQLite commit, recovery replays it into the catalog (roll forward). Applying it is
/// idempotent, so replaying an operation the catalog already has is harmless.
enum PendingOperation: Equatable {
    case insert([CatalogRow])
    /// An insert as the writer holds it: row `firstId + i` is `items[i]`. Encoded exactly as
    /// `.insert` (so a journal decodes as `.insert`); it exists so that the catalog thread reads
    /// the caller's items in place instead of copying every row (retaining its strings).
    case insertBatch(InsertBatch)
    case delete([UInt64])
    case updateMetadata([MetadataUpdate])
    case move([AnchorMove])
    /// A switch to a new model generation: the catalog mirrors its anchors and the moved rows'
    /// anchors (see `ModelGeneration`, `VectorStore.switchGeneration`).
    case switchGeneration(GenerationSwitch)
    case none

    struct MetadataUpdate: Equatable { var id: UInt64; var metadata: ItemMetadata }
    struct InsertBatch: Equatable {
        var firstId: UInt64
        var items: [NewItem]
        /// Seconds since 1970, the same for every row.
        var addedAt: Double
        /// `ContentIndex.key` of each item's content hash, in batch order.
        func contentKeys() -> [UInt64] {
            items.withUnsafeBufferPointer { items in
                (0..<items.count).map { ContentIndex.key((items.baseAddress! + $0).metadata.pointee.contentHash) }
            }
        }
        static func == (a: InsertBatch, b: InsertBatch) -> Bool {
            a.firstId == b.firstId && a.addedAt == b.addedAt && a.items.count == b.items.count
                && zip(a.items, b.items).allSatisfy { $0.anchor == $1.anchor && $0.metadata == $1.metadata }
        }
    }
    struct AnchorMove: Equatable { var id: UInt64; var anchor: Int32 }
    struct GenerationSwitch: Equatable {
        var number: UInt64
        var anchorCount: Int
        /// `anchorCount × dimension` floats.
        var anchors: [Float]
        /// Only the items whose partition changed.
        var moves: [AnchorMove]
    }

    /// The content keys of an insert batch's rows (empty for anything else).
    func insertedContentKeys() -> [UInt64] {
        if case let .insertBatch(b) = self { return b.contentKeys() }
        return []
    }

    /// The content-index entries of an insert batch's rows, sorted, given their `keys` (from
    /// `insertedContentKeys`); empty for anything else.
    func insertedContentEntries(keys: [UInt64]) -> [ContentIndex.Entry] {
        guard case let .insertBatch(b) = self else { return [] }
        return keys.enumerated().map { ContentIndex.Entry(key: $0.element, id: b.firstId + UInt64($0.offset)) }.sorted()
    }

    // MARK: - Encoding (little-endian, length-prefixed strings)

    /// Exact length of `encode(into:)`'s output, so the journal (~1 MB for a 10k-row insert) is
    /// written into one buffer of the right size, field by field, with no growth or copies.
    var encodedSize: Int {
        func string(_ s: String) -> Int { 8 + s.utf8.count }
        func metadata(_ m: ItemMetadata) -> Int {
            string(m.path) + string(m.contentHash) + 1 + (m.label.map(string) ?? 0) + 16
        }
        switch self {
        case .none: return 1
        case let .insert(rows): return rows.reduce(9) { $0 + 8 + 4 + metadata($1.metadata) + 8 }
        case let .insertBatch(b):
            return b.items.withUnsafeBufferPointer { items in
                var n = 9
                for i in items.indices {
                    let m = (items.baseAddress! + i).metadata
                    // id, anchor, added-at; path and hash with their lengths; label flag; width, height
                    n += 8 + 4 + 8 + (8 + m.pointee.path.utf8.count) + (8 + m.pointee.contentHash.utf8.count) + 1 + 16
                    if let l = m.pointee.label { n += 8 + l.utf8.count }
                }
                return n
            }
        case let .delete(ids): return 9 + 8 * ids.count
        case let .updateMetadata(updates): return updates.reduce(9) { $0 + 8 + metadata($1.metadata) }
        case let .move(moves): return 9 + 12 * moves.count
        case let .switchGeneration(g): return 1 + 8 + 8 + 8 + 4 * g.anchors.count + 8 + 12 * g.moves.count
        }
    }

    /// Writes the encoding into `out`, which must hold exactly `encodedSize` bytes.
    func encode(into out: UnsafeMutableRawBufferPointer) {
        var w = RawByteWriter(out)
        switch self {
        case .none:
            w.u8(0)
        case let .insert(rows):
            w.u8(1); w.u64(UInt64(rows.count))
            for i in rows.indices {
                w.u64(rows[i].id); w.i32(rows[i].anchor); w.metadata(rows[i].metadata); w.f64(rows[i].addedAt)
            }
        case let .insertBatch(b):
            w.u8(1); w.u64(UInt64(b.items.count))
            b.items.withUnsafeBufferPointer { items in
                for i in items.indices {
                    let item = items.baseAddress! + i
                    w.u64(b.firstId + UInt64(i)); w.i32(item.pointee.anchor); w.metadata(item.metadata); w.f64(b.addedAt)
                }
            }
        case let .delete(ids):
            w.u8(2); w.u64(UInt64(ids.count))
            for id in ids { w.u64(id) }
        case let .updateMetadata(updates):
            w.u8(3); w.u64(UInt64(updates.count))
            for u in updates { w.u64(u.id); w.metadata(u.metadata) }
        case let .move(moves):
            w.u8(4); w.u64(UInt64(moves.count))
            for m in moves { w.u64(m.id); w.i32(m.anchor) }
        case let .switchGeneration(g):
            w.u8(5); w.u64(g.number); w.u64(UInt64(g.anchorCount))
            w.u64(UInt64(g.anchors.count))
            for x in g.anchors { w.f32(x) }
            w.u64(UInt64(g.moves.count))
            for m in g.moves { w.u64(m.id); w.i32(m.anchor) }
        }
        precondition(w.offset == out.count, "PendingOperation.encodedSize disagrees with encode(into:)")
    }

    /// The encoding as an array (built on the catalog thread, copied into LMDB's meta `pending`).
    func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: encodedSize)
        bytes.withUnsafeMutableBytes { encode(into: $0) }
        return bytes
    }

    init(decoding raw: UnsafeRawBufferPointer) throws {
        var r = ByteReader(raw)
        let kind = try r.u8()
        switch kind {
        case 0: self = .none
        case 1:
            let n = try r.count()
            var rows: [CatalogRow] = []
            rows.reserveCapacity(n)
            for _ in 0..<n {
                rows.append(CatalogRow(id: try r.u64(), anchor: try r.i32(), metadata: try r.metadata(), addedAt: try r.f64()))
            }
            self = .insert(rows)
        case 2:
            let n = try r.count()
            self = .delete(try (0..<n).map { _ in try r.u64() })
        case 3:
            let n = try r.count()
            self = .updateMetadata(try (0..<n).map { _ in MetadataUpdate(id: try r.u64(), metadata: try r.metadata()) })
        case 4:
            let n = try r.count()
            self = .move(try (0..<n).map { _ in AnchorMove(id: try r.u64(), anchor: try r.i32()) })
        case 5:
            let number = try r.u64(), count = try r.count()
            let floats = try r.count()
            let anchors = try (0..<floats).map { _ in try r.f32() }
            let n = try r.count()
            let moves = try (0..<n).map { _ in AnchorMove(id: try r.u64(), anchor: try r.i32()) }
            guard count >= 1, floats % count == 0 else { throw ByteReader.Malformed() }
            self = .switchGeneration(GenerationSwitch(number: number, anchorCount: count, anchors: anchors, moves: moves))
        default:
            throw ByteReader.Malformed()
        }
    }
}

/// A catalog row of `items` in the form the journal and the catalog share.
struct CatalogRow: Equatable {
    var id: UInt64
    var anchor: Int32
    var metadata: ItemMetadata
    /// Seconds since 1970.
    var addedAt: Double
}

// MARK: - Byte coding

/// Writes little-endian fields into a buffer sized in advance (no growth, no per-field allocation).
struct RawByteWriter {
    let out: UnsafeMutableRawBufferPointer
    var offset = 0
    init(_ out: UnsafeMutableRawBufferPointer) { self.out = out }

    mutating func u8(_ v: UInt8) { out[offset] = v; offset += 1 }
    mutating func u64(_ v: UInt64) { out.storeBytes(of: v.littleEndian, toByteOffset: offset, as: UInt64.self); offset += 8 }
    mutating func i32(_ v: Int32) { out.storeBytes(of: v.littleEndian, toByteOffset: offset, as: Int32.self); offset += 4 }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func f32(_ v: Float) { out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: offset, as: UInt32.self); offset += 4 }
    mutating func string(_ s: String) {
        let count = s.utf8.count
        u64(UInt64(count))
        let target = out.baseAddress! + offset
        let copied: Void? = s.utf8.withContiguousStorageIfAvailable { bytes -> Void in
            if count > 0 { target.copyMemory(from: bytes.baseAddress!, byteCount: count) }
        }
        if copied == nil {
            for (i, b) in s.utf8.enumerated() { target.storeBytes(of: b, toByteOffset: i, as: UInt8.self) }
        }
        offset += count
    }
    mutating func metadata(_ m: ItemMetadata) {
        withUnsafePointer(to: m) { metadata($0) }
    }
    /// Reads the metadata in place (a by-value copy retains its three strings).
    mutating func metadata(_ m: UnsafePointer<ItemMetadata>) {
        string(m.pointee.path); string(m.pointee.contentHash)
        if let l = m.pointee.label { u8(1); string(l) } else { u8(0) }
        u64(UInt64(bitPattern: Int64(m.pointee.width))); u64(UInt64(bitPattern: Int64(m.pointee.height)))
    }
}

struct ByteReader {
    struct Malformed: Error {}
    let raw: UnsafeRawBufferPointer
    var offset = 0
    init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

    mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, offset + n <= raw.count else { throw Malformed() }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: raw[offset ..< offset + n])
    }
    mutating func u8() throws -> UInt8 { try take(1)[0] }
    mutating func u64() throws -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }
    mutating func i32() throws -> Int32 { Int32(littleEndian: try take(4).loadUnaligned(as: Int32.self)) }
    mutating func f64() throws -> Double { Double(bitPattern: try u64()) }
    mutating func f32() throws -> Float { Float(bitPattern: UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self))) }
    mutating func count() throws -> Int {
        let n = try u64()
        guard n <= UInt64(raw.count) else { throw Malformed() }
        return Int(n)
    }
    mutating func string() throws -> String { String(decoding: try take(try count()), as: UTF8.self) }
    mutating func metadata() throws -> ItemMetadata {
        let path = try string(), hash = try string()
        let label: String? = try u8() == 1 ? try string() : nil
        let w = Int(Int64(bitPattern: try u64())), h = Int(Int64(bitPattern: try u64()))
        return ItemMetadata(path: path, contentHash: hash, label: label, width: w, height: h)
    }
}
