import Foundation

/// The catalog half of one write, journaled in LMDB's meta under `pending` in the same LMDB
/// transaction as the vector half. If the process dies after the LMDB commit and before the
/// SQLite commit, recovery replays it into the catalog (roll forward). Applying it is
/// idempotent, so replaying an operation the catalog already has is harmless.
enum PendingOperation: Equatable {
    case insert([CatalogRow])
    case delete([UInt64])
    case updateMetadata([MetadataUpdate])
    case move([AnchorMove])
    case none

    struct MetadataUpdate: Equatable { var id: UInt64; var metadata: ItemMetadata }
    struct AnchorMove: Equatable { var id: UInt64; var anchor: Int32 }

    // MARK: - Encoding (little-endian, length-prefixed strings)

    func encoded() -> [UInt8] {
        var w = ByteWriter()
        if case let .insert(rows) = self { w.bytes.reserveCapacity(rows.count * 96) }
        switch self {
        case .none:
            w.u8(0)
        case let .insert(rows):
            w.u8(1); w.u64(UInt64(rows.count))
            for r in rows {
                w.u64(r.id); w.i32(r.anchor); w.metadata(r.metadata); w.f64(r.addedAt)
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
        }
        return w.bytes
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

struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func string(_ s: String) { let u = Array(s.utf8); u64(UInt64(u.count)); bytes.append(contentsOf: u) }
    mutating func metadata(_ m: ItemMetadata) {
        string(m.path); string(m.contentHash)
        if let l = m.label { u8(1); string(l) } else { u8(0) }
        u64(UInt64(bitPattern: Int64(m.width))); u64(UInt64(bitPattern: Int64(m.height)))
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
