import Foundation

/// What the catalog records about one image besides its vector.
public struct ItemMetadata: Sendable, Equatable, Hashable {
    /// Where the image was read from (as the caller gave it; not required to exist later).
    public var path: String
    /// Hash of the file content (e.g. hex SHA-256); used to find duplicates.
    public var contentHash: String
    /// Class label if known.
    public var label: String?
    /// Pixel size of the image as decoded.
    public var width: Int
    public var height: Int

    public init(path: String, contentHash: String, label: String? = nil, width: Int, height: Int) {
        self.path = path
        self.contentHash = contentHash
        self.label = label
        self.width = width
        self.height = height
    }
}

extension ItemMetadata {
    /// Why the store would refuse this metadata (`StoreError.invalidMetadata`), or nil if it
    /// can be stored — so a caller can validate a whole input before writing any of it.
    public var problem: String? {
        withUnsafePointer(to: self) { ItemMetadata.problem(of: $0) }
    }

    /// `problem`, checked in place (a by-value copy retains its three strings).
    static func problem(of m: UnsafePointer<ItemMetadata>) -> String? {
        if m.pointee.path.isEmpty { return "the path is empty" }
        if m.pointee.contentHash.isEmpty { return "the content hash is empty" }
        if containsNUL(m.pointee.path) { return "the path contains a NUL character (catalog text ends at NUL)" }
        if containsNUL(m.pointee.contentHash) { return "the content hash contains a NUL character (catalog text ends at NUL)" }
        if let label = m.pointee.label, containsNUL(label) { return "the label contains a NUL character (catalog text ends at NUL)" }
        if m.pointee.width < 0 || m.pointee.height < 0 { return "negative size \(m.pointee.width)×\(m.pointee.height)" }
        return nil
    }

    private static func containsNUL(_ s: String) -> Bool {
        s.utf8.withContiguousStorageIfAvailable { $0.isEmpty ? false : memchr($0.baseAddress!, 0, $0.count) != nil }
            ?? s.utf8.contains(0)
    }
}

/// One vector to insert, with the anchor partition it belongs to and its metadata.
public struct NewItem: Sendable {
    /// The embedding; must have the store's dimension and only finite components.
    public var vector: [Float]
    /// The partition (nearest anchor) to store it under.
    public var anchor: Int32
    public var metadata: ItemMetadata

    public init(vector: [Float], anchor: Int32, metadata: ItemMetadata) {
        self.vector = vector
        self.anchor = anchor
        self.metadata = metadata
    }
}

extension UnsafePointer where Pointee == NewItem {
    /// The item's metadata, in place.
    var metadata: UnsafePointer<ItemMetadata> {
        (UnsafeRawPointer(self) + MemoryLayout<NewItem>.offset(of: \NewItem.metadata)!).assumingMemoryBound(to: ItemMetadata.self)
    }
}

extension UnsafePointer where Pointee == CatalogRow {
    /// The row's metadata, in place.
    var metadata: UnsafePointer<ItemMetadata> {
        (UnsafeRawPointer(self) + MemoryLayout<CatalogRow>.offset(of: \CatalogRow.metadata)!).assumingMemoryBound(to: ItemMetadata.self)
    }
}

/// A stored item as the catalog knows it.
public struct StoredItem: Sendable, Equatable {
    /// Stable id assigned at insert; never reused.
    public let id: UInt64
    /// Partition the vector is stored under.
    public let anchor: Int32
    public let metadata: ItemMetadata
    /// When it was inserted (seconds since 1970, as stored).
    public let addedAt: Date
}

/// Anchor id and number of vectors in that partition.
public struct PartitionInfo: Sendable, Equatable {
    public let anchor: Int32
    public let count: Int
}
