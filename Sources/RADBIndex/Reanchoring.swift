/// A position in a re-anchoring pass: the next vector to route is row `offset` of list `list`
/// (rows counted in `forEachBlock` order). `Codable` so a caller can persist it and resume.
public struct ReanchorCursor: Sendable, Hashable, Codable {
    public var list: Int
    public var offset: Int

    public init(list: Int, offset: Int) {
        self.list = list
        self.offset = offset
    }

    /// The beginning of the first list.
    public static let start = ReanchorCursor(list: 0, offset: 0)
}

/// The new partition of every vector in one batch of a re-anchoring pass.
public struct ReanchorBatch: Sendable {
    /// Ids routed in this batch, in list/storage order.
    public let ids: [UInt64]
    /// The list each id is in now.
    public let fromList: [Int32]
    /// The list each id belongs in under the new anchors.
    public let toList: [Int32]
    /// Where the next batch starts; nil when every list has been routed.
    public let next: ReanchorCursor?

    /// Only the vectors whose partition changes: (id, from, to).
    public var moves: [(id: UInt64, from: Int32, to: Int32)] {
        (0..<ids.count).compactMap { fromList[$0] == toList[$0] ? nil : (ids[$0], fromList[$0], toList[$0]) }
    }
}

/// Re-anchoring: routing every stored vector to its partition under new anchors (a new k-means run
/// or a new model's anchors), in bounded batches.
///
/// It exists so a database can change its anchors without re-embedding anything and without a
/// pass that must finish in one go. The engine only computes assignments; the caller (the store)
/// applies them. Protocol:
/// 1. Open a read snapshot of the lists (the positions in a cursor refer to it).
/// 2. Call `nextBatch(from: .start)`, write the batch's `toList` for its ids into the new layout
///    (e.g. a staging partition set) and persist `batch.next` with it in the same transaction.
/// 3. Repeat from the persisted cursor — after a crash too — until `next` is nil, then switch to
///    the new layout and the new anchors at once.
/// The snapshot being planned over must not be mutated while a pass is in progress (positions
/// would shift); applying moves in place is only safe after the last batch (collect them first).
/// Nothing is lost: every id of every list appears in exactly one batch.
public enum Reanchoring {
    /// Routes up to `batchSize` vectors starting at `cursor` with `router` (one GEMM per block run).
    ///
    /// Throws `IndexError.layoutMismatch` if the router's dimension differs from the lists',
    /// `IndexError.invalidArgument` for a batch size < 1 or a cursor outside the lists, and whatever
    /// the lists throw while being read.
    public static func nextBatch<L: InvertedLists>(router: AnchorRouter, lists: L, from cursor: ReanchorCursor,
                                                   batchSize: Int, parallelism: Parallelism = .serial) throws -> ReanchorBatch {
        guard router.dimension == lists.dimension else {
            throw IndexError.layoutMismatch("new anchors have dimension \(router.dimension), lists \(lists.dimension)")
        }
        guard batchSize >= 1 else { throw IndexError.invalidArgument("batchSize must be ≥ 1, got \(batchSize)") }
        guard cursor.list >= 0, cursor.list <= lists.listCount, cursor.offset >= 0,
              cursor.list == lists.listCount || cursor.offset <= lists.count(ofList: cursor.list) else {
            throw IndexError.invalidArgument("cursor \(cursor) is outside the lists; resume from a cursor this pass returned")
        }
        let d = lists.dimension
        var ids: [UInt64] = [], from: [Int32] = [], to: [Int32] = []
        var list = cursor.list, offset = cursor.offset
        while list < lists.listCount && ids.count < batchSize {
            var row = 0
            try lists.forEachBlock(ofList: list) { block in
                guard block.vectors.count == block.count * d else {
                    throw IndexError.layoutMismatch("list \(list) holds a block that is not \(block.count) × \(d) floats")
                }
                let end = row + block.count
                defer { row = end }
                guard end > offset, ids.count < batchSize else { return }
                let start = max(offset, row) - row
                let n = min(block.count - start, batchSize - ids.count)
                var assigned = [Int32](repeating: 0, count: n)
                assigned.withUnsafeMutableBufferPointer {
                    router.assign(block.vectors.baseAddress! + start * d, count: n, into: $0.baseAddress!,
                                  distances: nil, parallelism: parallelism)
                }
                ids.append(contentsOf: block.ids[start ..< start + n])
                from.append(contentsOf: repeatElement(Int32(list), count: n))
                to.append(contentsOf: assigned)
                offset = row + start + n
            }
            if offset >= lists.count(ofList: list) {
                list += 1
                offset = 0
            }
        }
        // Skip empty lists so that `next == nil` exactly when nothing is left.
        while list < lists.listCount && lists.count(ofList: list) == 0 { list += 1 }
        let next = list < lists.listCount ? ReanchorCursor(list: list, offset: offset) : nil
        return ReanchorBatch(ids: ids, fromList: from, toList: to, next: next)
    }

    /// Runs a whole pass from `cursor`, handing each batch to `apply` (which persists it and the
    /// cursor); stops early, resumable, when `apply` returns false. Returns the cursor to resume
    /// from, or nil when done.
    @discardableResult
    public static func run<L: InvertedLists>(router: AnchorRouter, lists: L, from cursor: ReanchorCursor = .start,
                                             batchSize: Int = 65_536, parallelism: Parallelism = .automatic,
                                             apply: (ReanchorBatch) throws -> Bool) throws -> ReanchorCursor? {
        var position: ReanchorCursor? = cursor
        while let current = position {
            let batch = try nextBatch(router: router, lists: lists, from: current, batchSize: batchSize,
                                      parallelism: parallelism)
            position = batch.next
            if !(try apply(batch)) { return position }
        }
        return nil
    }
}
