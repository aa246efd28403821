import CLMDB

/// Reading the `ids` database: id → where its vector is.
///
/// Vector format 3 stores an `ItemPosition` (8 bytes: anchor, position in the partition),
/// formats 1–2 stored an `ItemLocation` (12 bytes: anchor, block, slot). A read-only store
/// reads an older database as it is, and a reader may see a database another process upgrades
/// under it, so a value is decoded by its length, not by the format the store opened with.
extension LMDBTransaction {
    /// The id-map value of `id` as stored, or nil if the id is not stored.
    func storedPosition(of id: UInt64) throws -> StoredIDValue? {
        guard let raw = try get(environment.idsDB, id) else { return nil }
        return try StoredIDValue(raw, id: id, path: environment.directory)
    }

    /// Block and slot of `id`, or nil if the id is not stored.
    package func location(of id: UInt64, layout: VectorBlockLayout) throws -> ItemLocation? {
        switch try storedPosition(of: id) {
        case nil: return nil
        case let .location(loc)?: return loc
        case let .position(p)?:
            guard let record = try value(environment.partitionsDB, partitionKey(p.anchor), as: PartitionRecord.self),
                  UInt64(p.position) < record.count else {
                throw StoreError.corruptVectorStore(path: environment.directory,
                    reason: "id \(id) points past the end of partition \(p.anchor)")
            }
            let (block, slot) = layout.blockAndSlot(position: p.position, largeBlocks: record.largeBlocks)
            return ItemLocation(anchor: p.anchor, block: block, slot: slot)
        }
    }
}

/// One decoded value of the `ids` database.
enum StoredIDValue: Equatable {
    /// Vector format 3.
    case position(ItemPosition)
    /// Vector formats 1–2.
    case location(ItemLocation)

    init(_ raw: UnsafeRawBufferPointer, id: UInt64, path: String) throws {
        switch raw.count {
        case MemoryLayout<ItemPosition>.size: self = .position(raw.loadUnaligned(as: ItemPosition.self))
        case MemoryLayout<ItemLocation>.size: self = .location(raw.loadUnaligned(as: ItemLocation.self))
        default: throw StoreError.corruptVectorStore(path: path, reason: "the id map entry of \(id) has \(raw.count) bytes")
        }
    }

    var anchor: Int32 {
        switch self {
        case let .position(p): return p.anchor
        case let .location(l): return l.anchor
        }
    }
}
