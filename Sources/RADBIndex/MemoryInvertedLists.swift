import Foundation

/// Inverted lists held in process memory: each partition is a growable, contiguous run of
/// ids, vectors and squared norms.
///
/// It exists for tests and benchmarks (and for any caller that wants a throw-away index without
/// a store); the store provides the same `InvertedLists` interface over its memory map.
/// Not thread-safe for mutation: mutate from one thread, and not while a search is running.
/// `@unchecked Sendable`: the contract above — one mutating thread, never during a search — is
/// the caller's; concurrent searches only read.
public final class MemoryInvertedLists: InvertedLists, @unchecked Sendable {
    public let dimension: Int
    public let listCount: Int
    /// When set, `forEachBlock` hands out each partition in blocks of at most this many vectors
    /// (the store's layout); when nil, one block per partition.
    public let blockCapacity: Int?

    private var partitions: [Partition]
    /// Vectors over all partitions (kept so every search does not sum the lists).
    public private(set) var totalCount = 0
    /// Where each id lives: (list, row). Invariant: exactly one entry per stored vector.
    private var location: [UInt64: (list: Int32, row: Int32)] = [:]

    // MARK: - Initializers

    /// Creates empty lists.
    ///
    ///     let lists = try MemoryInvertedLists(dimension: 128, listCount: router.anchorCount)
    ///     try lists.add(vectors: xs, ids: ids, lists: router.nearestAnchors(of: xs))
    ///     let index = try AnchorIndex(router: router, lists: lists)
    ///
    /// Throws `IndexError.invalidArgument` if a size is not positive.
    public init(dimension: Int, listCount: Int, blockCapacity: Int? = nil) throws {
        guard dimension > 0 else { throw IndexError.invalidArgument("dimension must be ≥ 1, got \(dimension)") }
        guard listCount > 0 else { throw IndexError.invalidArgument("listCount must be ≥ 1, got \(listCount)") }
        if let c = blockCapacity, c <= 0 {
            throw IndexError.invalidArgument("blockCapacity must be ≥ 1, got \(c)")
        }
        self.dimension = dimension
        self.listCount = listCount
        self.blockCapacity = blockCapacity
        self.partitions = (0..<listCount).map { _ in Partition(dimension: dimension) }
    }

    // MARK: - Mutation

    /// Appends `ids.count` vectors (row-major in `vectors`) to the given lists.
    ///
    /// Throws on a wrong length, a non-finite value, a list index out of range, or an id that is
    /// already stored (or repeated within the call); on error nothing is added.
    public func add(vectors: [Float], ids: [UInt64], lists: [Int32]) throws {
        try vectors.withUnsafeBufferPointer { try add(vectors: $0, ids: ids, lists: lists) }
    }

    /// Buffer variant of `add(vectors:ids:lists:)`.
    public func add(vectors: UnsafeBufferPointer<Float>, ids: [UInt64], lists: [Int32]) throws {
        guard ids.count == lists.count else {
            throw IndexError.invalidArgument("\(ids.count) ids but \(lists.count) list assignments")
        }
        try IndexError.validate(vectors, count: ids.count, dimension: dimension, what: "vectors to add")
        var seen = Set<UInt64>(minimumCapacity: ids.count)
        for (id, list) in zip(ids, lists) {
            guard list >= 0 && Int(list) < listCount else {
                throw IndexError.invalidArgument("list \(list) is out of range 0..<\(listCount)")
            }
            guard location[id] == nil, seen.insert(id).inserted else {
                throw IndexError.invalidArgument("id \(id) is already stored; ids must be unique")
            }
        }
        location.reserveCapacity(location.count + ids.count)
        for i in 0..<ids.count {
            let list = Int(lists[i])
            let row = vectors.baseAddress! + i * dimension
            let r = partitions[list].append(id: ids[i], vector: row)
            location[ids[i]] = (Int32(list), Int32(r))
        }
        totalCount += ids.count
    }

    /// Moves a stored vector to another list (used to apply a re-anchoring plan).
    public func move(id: UInt64, toList list: Int) throws {
        guard list >= 0 && list < listCount else {
            throw IndexError.invalidArgument("list \(list) is out of range 0..<\(listCount)")
        }
        guard let from = location[id] else { throw IndexError.invalidArgument("id \(id) is not stored") }
        if Int(from.list) == list { return }
        let p = partitions[Int(from.list)]
        let target = partitions[list]
        let newRow = target.append(id: id, vector: p.vectors + Int(from.row) * dimension)
        location[id] = (Int32(list), Int32(newRow))
        if let moved = p.removeSwappingLast(row: Int(from.row)) {
            location[moved] = (from.list, from.row)
        }
    }

    /// The list that holds `id`, or nil.
    public func list(of id: UInt64) -> Int? { location[id].map { Int($0.list) } }

    // MARK: - InvertedLists

    public func count(ofList list: Int) -> Int { partitions[list].count }

    public func forEachBlock(ofList list: Int, _ body: (VectorBlock) throws -> Void) throws {
        let p = partitions[list]
        guard p.count > 0 else { return }
        let step = blockCapacity ?? p.count
        var start = 0
        while start < p.count {
            let n = min(step, p.count - start)
            try body(VectorBlock(
                ids: UnsafeBufferPointer(start: p.ids + start, count: n),
                vectors: UnsafeBufferPointer(start: p.vectors + start * dimension, count: n * dimension),
                squaredNorms: UnsafeBufferPointer(start: p.norms + start, count: n)))
            start += n
        }
    }

    public func gatherVectors(ids: [UInt64], into buffer: UnsafeMutablePointer<Float>) throws -> [Bool] {
        var found = [Bool](repeating: false, count: ids.count)
        for (i, id) in ids.enumerated() {
            guard let loc = location[id] else { continue }
            (buffer + i * dimension).update(from: partitions[Int(loc.list)].vectors + Int(loc.row) * dimension,
                                            count: dimension)
            found[i] = true
        }
        return found
    }
}

// MARK: - Partition storage

/// One growable partition. Buffers are manually managed so that block pointers stay stable
/// between mutations (Swift arrays make no such promise to escaping pointers).
private final class Partition {
    let dimension: Int
    private(set) var count = 0
    private var capacity = 0
    private(set) var ids: UnsafeMutablePointer<UInt64>
    private(set) var vectors: UnsafeMutablePointer<Float>
    private(set) var norms: UnsafeMutablePointer<Float>

    init(dimension: Int) {
        self.dimension = dimension
        ids = .allocate(capacity: 1)
        vectors = .allocate(capacity: dimension)
        norms = .allocate(capacity: 1)
        capacity = 1
    }

    deinit {
        ids.deallocate(); vectors.deallocate(); norms.deallocate()
    }

    /// Appends a copy of `vector`; returns its row.
    func append(id: UInt64, vector: UnsafePointer<Float>) -> Int {
        if count == capacity { grow(to: capacity * 2) }
        ids[count] = id
        (vectors + count * dimension).update(from: vector, count: dimension)
        norms[count] = L2Kernels.squaredNorm(vector, dimension: dimension)
        count += 1
        return count - 1
    }

    /// Removes `row` by moving the last row into it; returns the id that moved (nil if `row` was last).
    func removeSwappingLast(row: Int) -> UInt64? {
        let last = count - 1
        count -= 1
        guard row != last else { return nil }
        ids[row] = ids[last]
        norms[row] = norms[last]
        (vectors + row * dimension).update(from: vectors + last * dimension, count: dimension)
        return ids[row]
    }

    private func grow(to newCapacity: Int) {
        let newIds = UnsafeMutablePointer<UInt64>.allocate(capacity: newCapacity)
        let newVectors = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity * dimension)
        let newNorms = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity)
        newIds.update(from: ids, count: count)
        newVectors.update(from: vectors, count: count * dimension)
        newNorms.update(from: norms, count: count)
        ids.deallocate(); vectors.deallocate(); norms.deallocate()
        ids = newIds; vectors = newVectors; norms = newNorms
        capacity = newCapacity
    }
}
