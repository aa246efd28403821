/// Byte layout of one block value in the `blocks` database.
///
/// A partition (all vectors routed to one anchor) is a run of blocks numbered 0, 1, … n−1.
/// Every block but the last is full; inserts append to the last block, deletes swap the
/// partition's last vector into the hole, so partitions stay dense and a scan never skips.
///
/// Blocks come in two sizes. New vectors go into *small* blocks (`smallCapacity`, 20 KiB by
/// default), so extending the tail block — a copy-on-write rewrite in LMDB — stays cheap. As soon
/// as `mergeFactor` full small blocks trail a partition they are merged into one *large* block
/// (`largeCapacity` = `mergeFactor` × `smallCapacity`, 140 KiB by default at d = 128), so that
/// scans read long contiguous runs of the map (measured: ~60 % of array speed with only small
/// blocks, ~80–95 % with large ones). So a partition is `largeBlocks` large blocks followed by
/// small ones, every block but the last full — and a vector's *position* in its partition
/// (0 … count−1) determines its block and slot by arithmetic (`blockAndSlot`). The id map
/// stores positions (vector format ≥ 3), so merging blocks moves no id-map entry.
///
/// ```
/// offset 0                 magic "RVB1" (UInt32), count, capacity, dimension (UInt32 each)
/// offset 16                ids            capacity × UInt64   (first `count` valid)
/// offset 16 + 8·capacity   squared norms  capacity × Float32  (first `count` valid)
/// offset 16 + 12·capacity  vectors        count × dimension × Float32, row-major
/// ```
///
/// Invariants: the value length is always `pages·pageSize − 16`, at least one page, so LMDB
/// stores it on its own overflow pages, whose data starts 16 bytes into a page: ids are
/// 8-byte aligned and norms and vectors 4-byte aligned straight in the memory map, and no
/// page holds bytes of two blocks. Capacities are chosen at creation so that full blocks
/// fill their pages almost exactly.
package struct VectorBlockLayout: Sendable, Equatable {
    static let magic: UInt32 = 0x3142_5652 // "RVB1" little-endian
    static let headerSize = 16
    /// LMDB's page header in front of overflow data (PAGEHDRSZ on 64-bit builds).
    static let lmdbPageHeader = 16
    /// Small blocks merged into one large block in databases that do not record it (vector
    /// format ≤ 2).
    package static let legacyMergeFactor = 4

    let dimension: Int
    let smallCapacity: Int
    let pageSize: Int
    /// Full small blocks merged into one large block (meta `mergeFactor`, fixed at creation).
    package let mergeFactor: Int
    var largeCapacity: Int { smallCapacity * mergeFactor }

    func isValidCapacity(_ c: Int) -> Bool { c == smallCapacity || c == largeCapacity }

    var idsOffset: Int { Self.headerSize }
    func normsOffset(capacity: Int) -> Int { Self.headerSize + 8 * capacity }
    func vectorsOffset(capacity: Int) -> Int { Self.headerSize + 12 * capacity }

    /// Bytes used by a block holding `count` vectors, before rounding to pages.
    func contentSize(count: Int, capacity: Int) -> Int { vectorsOffset(capacity: capacity) + count * dimension * 4 }

    /// Value length for a block of `count` vectors: whole pages minus LMDB's page header.
    func valueLength(count: Int, capacity: Int) -> Int {
        let pages = max(1, (contentSize(count: count, capacity: capacity) + Self.lmdbPageHeader + pageSize - 1) / pageSize)
        return pages * pageSize - Self.lmdbPageHeader
    }

    // MARK: - Positions

    /// Block number and slot of the vector at `position` of a partition that starts with
    /// `largeBlocks` large blocks (all blocks but the last are full).
    @inline(__always)
    func blockAndSlot(position: UInt32, largeBlocks: UInt32) -> (block: UInt32, slot: UInt32) {
        let p = Int(position), largeEnd = Int(largeBlocks) * largeCapacity
        if p < largeEnd { return (UInt32(p / largeCapacity), UInt32(p % largeCapacity)) }
        let q = p - largeEnd
        return (largeBlocks + UInt32(q / smallCapacity), UInt32(q % smallCapacity))
    }

    /// Position in its partition of the vector in `block` at `slot` (inverse of `blockAndSlot`).
    @inline(__always)
    func position(block: UInt32, slot: UInt32, largeBlocks: UInt32) -> UInt32 {
        if block < largeBlocks { return block * UInt32(largeCapacity) + slot }
        return largeBlocks * UInt32(largeCapacity) + (block - largeBlocks) * UInt32(smallCapacity) + slot
    }

    /// Picks the small capacity: at least `minimumVectors` per block, then as many as fit the
    /// same number of pages, so a full block wastes less than one vector's bytes.
    static func capacity(dimension: Int, pageSize: Int, minimumVectors: Int) -> Int {
        let perVector = 12 + 4 * dimension
        let needed = headerSize + lmdbPageHeader + minimumVectors * perVector
        let pages = (needed + pageSize - 1) / pageSize
        return (pages * pageSize - headerSize - lmdbPageHeader) / perVector
    }
}

// MARK: - Keys and small records

/// Maps a signed anchor to an unsigned key that sorts in anchor order.
@inline(__always) func partitionKey(_ anchor: Int32) -> UInt32 { UInt32(bitPattern: anchor) ^ 0x8000_0000 }
@inline(__always) func anchor(fromPartitionKey key: UInt32) -> Int32 { Int32(bitPattern: key ^ 0x8000_0000) }
/// Key of block `number` of partition `anchor`; all blocks of a partition are adjacent.
@inline(__always) func blockKey(_ anchor: Int32, _ number: UInt32) -> UInt64 {
    UInt64(partitionKey(anchor)) << 32 | UInt64(number)
}

/// Where an id lives, resolved to a block: the value of the `ids` database up to vector
/// format 2 (12 bytes), and what `ItemPosition` resolves to.
package struct ItemLocation: Equatable, Sendable {
    var anchor: Int32
    var block: UInt32
    var slot: UInt32
}

/// Value of the `ids` database from vector format 3 on (8 bytes): the partition and the
/// position in it, which merges of blocks leave unchanged (see VectorBlockLayout).
struct ItemPosition: Equatable, Sendable {
    var anchor: Int32
    var position: UInt32
}

/// Value of the `partitions` database: the count of vectors and of blocks of one anchor, and
/// how many of the blocks (a prefix) are large. `largeBlocks` is 0 in format ≤ 2 records
/// (where the field was reserved); the upgrade to format 3 fills it in.
package struct PartitionRecord: Equatable, Sendable {
    var count: UInt64
    var blockCount: UInt32
    package var largeBlocks: UInt32 = 0
}

/// Squared L2 norm as the store records it: a Float sum in component order. Search code that
/// recomputes norms must use the same order to reproduce them bit for bit.
@inline(__always)
package func squaredNorm(_ v: UnsafeBufferPointer<Float>) -> Float {
    var s: Float = 0
    for x in v { s += x * x }
    return s
}

/// `squaredNorm` of each of `count` contiguous rows of `dimension` floats, into `out`.
///
/// Eight rows at a time: SIMD lane j sums row j's squares in component order, with the same
/// separate multiply and add as `squaredNorm` (Swift does not fuse them), so every result is
/// bit-identical to it — the sequential sum's latency is paid once per eight rows instead of
/// once per row.
package func squaredNorms(rows: UnsafePointer<Float>, count: Int, dimension d: Int, into out: UnsafeMutablePointer<Float>) {
    var r = 0
    while r + 8 <= count {
        let p = rows + r * d
        var acc = SIMD8<Float>()
        for k in 0..<d {
            let x = SIMD8<Float>(p[k], p[d + k], p[2 * d + k], p[3 * d + k],
                                 p[4 * d + k], p[5 * d + k], p[6 * d + k], p[7 * d + k])
            acc = acc + x * x
        }
        for j in 0..<8 { out[r + j] = acc[j] }
        r += 8
    }
    while r < count {
        out[r] = squaredNorm(UnsafeBufferPointer(start: rows + r * d, count: d))
        r += 1
    }
}
