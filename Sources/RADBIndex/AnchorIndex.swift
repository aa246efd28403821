/// radb's search engine: an `AnchorRouter` (stage 1, the coarse quantiser) composed with
/// `InvertedLists` (stage 2, the partitions), like FAISS's `IndexIVFFlat`.
///
/// It exists to answer k-nearest-neighbour queries over a database's embeddings:
/// - `nprobe: .all` is exact search — the same ids in the same order as a brute-force loop,
///   distances `L2Kernels.exactSquaredDistance`, ties by id;
/// - `nprobe: n` scans the n partitions whose anchors are nearest the query, and more (in anchor
///   order) when those hold fewer than k vectors, so k results come back whenever k exist;
/// - a batch of queries is grouped by partition, so each partition is read once per batch and
///   scored for all its queries with one GEMM;
/// - an `IDFilter` restricts results to allowed ids and still returns k whenever k match;
/// - a single query (or a batch of one) runs in a reusable `SearchContext` from `contexts`, so steady
///   single-query traffic allocates nothing but the returned hits; its answers equal the batch path's.
///
/// Documented clamps: k larger than the number of (matching) vectors returns all of them;
/// `nprobe` ≥ the number of partitions means `.all`; an empty index or an empty filter returns
/// no hits. Errors: k < 1, nprobe < 1, a query of the wrong dimension, NaN/Inf in a query.
public struct AnchorIndex<Lists: InvertedLists> {
    public let router: AnchorRouter
    public let lists: Lists
    /// How the scan is spread over cores (see `Parallelism`).
    public var parallelism: Parallelism
    /// A filtered search scores the matching ids directly when `matches × directScoringCost ≤`
    /// the number of vectors a scan is expected to read. Gathering by id costs more per vector than
    /// a sequential scan (a lookup and a scattered read); raise this for stores with costly lookups.
    public var directScoringCost: Int = 8
    /// Scratch memory for single-query searches, reused across calls and threads (copies of this
    /// index share it). See `SearchContext`.
    public let contexts: SearchContextPool

    // MARK: - Initializers

    /// Composes a router and inverted lists built with it.
    ///
    ///     let router = try AnchorRouter.train(vectors: sample, dimension: 128, anchorCount: 1000)
    ///     let index = try AnchorIndex(router: router, lists: lists)
    ///     let top10 = try index.search(query, k: 10, nprobe: 16).hits
    ///
    /// Throws `IndexError.layoutMismatch` when the router's anchor count or dimension differs
    /// from the lists'. `contexts` lets several indexes (e.g. one per store snapshot) share one pool
    /// of single-query scratch memory; by default each index has its own.
    public init(router: AnchorRouter, lists: Lists, parallelism: Parallelism = .automatic,
                contexts: SearchContextPool = SearchContextPool()) throws {
        guard router.dimension == lists.dimension else {
            throw IndexError.layoutMismatch("router has dimension \(router.dimension), lists \(lists.dimension)")
        }
        guard router.anchorCount == lists.listCount else {
            throw IndexError.layoutMismatch(
                "router has \(router.anchorCount) anchors but there are \(lists.listCount) lists; "
                    + "re-anchor the lists with this router first")
        }
        self.router = router
        self.lists = lists
        self.parallelism = parallelism
        self.contexts = contexts
    }

    public var dimension: Int { lists.dimension }

    // MARK: - Search

    /// The k nearest stored vectors to `query`.
    ///
    /// - Parameters:
    ///   - k: number of results (≥ 1); fewer come back only when fewer vectors (or matches) exist.
    ///   - nprobe: partitions to scan; `.all` (default) is exact.
    ///   - filter: only ids in this set may be returned.
    ///   - filterStrategy: how a filtered search reaches the matches (default: estimated cheapest).
    /// - Throws: `IndexError` for k < 1, nprobe < 1, a wrong dimension or NaN/Inf in the query,
    ///   and whatever the lists throw while being read.
    public func search(_ query: [Float], k: Int, nprobe: NProbe = .all, filter: IDFilter? = nil,
                       filterStrategy: FilterStrategy = .automatic) throws -> SearchResult {
        try query.withUnsafeBufferPointer {
            try search($0, k: k, nprobe: nprobe, filter: filter, filterStrategy: filterStrategy)
        }
    }

    /// Buffer variant of `search(_:k:nprobe:filter:filterStrategy:)`. Uses a `SearchContext` from
    /// `contexts` (allocation-free once the pool's contexts have grown to fit).
    public func search(_ query: UnsafeBufferPointer<Float>, k: Int, nprobe: NProbe = .all,
                       filter: IDFilter? = nil, filterStrategy: FilterStrategy = .automatic) throws -> SearchResult {
        let context = contexts.acquire()
        defer { contexts.release(context) }
        return try search(query, k: k, nprobe: nprobe, filter: filter, filterStrategy: filterStrategy, context: context)
    }

    /// `search(_:k:nprobe:filter:filterStrategy:)` with caller-owned scratch memory: the same results,
    /// bit for bit, whatever the context was used for before.
    ///
    /// - Throws: as `search(_:k:nprobe:filter:filterStrategy:)`, and `IndexError.contextInUse` when
    ///   another thread is searching with the same context.
    public func search(_ query: [Float], k: Int, nprobe: NProbe = .all, filter: IDFilter? = nil,
                       filterStrategy: FilterStrategy = .automatic, context: SearchContext) throws -> SearchResult {
        try query.withUnsafeBufferPointer {
            try search($0, k: k, nprobe: nprobe, filter: filter, filterStrategy: filterStrategy, context: context)
        }
    }

    /// Buffer variant of `search(_:k:nprobe:filter:filterStrategy:context:)`.
    public func search(_ query: UnsafeBufferPointer<Float>, k: Int, nprobe: NProbe = .all, filter: IDFilter? = nil,
                       filterStrategy: FilterStrategy = .automatic, context: SearchContext) throws -> SearchResult {
        guard query.count == dimension else {
            throw IndexError.dimensionMismatch(what: "query", expected: dimension, actual: query.count)
        }
        guard k >= 1 else { throw IndexError.invalidK(k) }
        // k beyond the stored vectors returns them all: clamp before any arithmetic on k
        // (heap capacities are k-sized, and a k near Int.max would overflow them).
        let k = min(k, max(1, lists.totalCount))
        let probeCount = try nprobe.resolved(listCount: lists.listCount)
        try IndexError.validate(query, count: 1, dimension: dimension, what: "query")
        return try context.exclusively {
            try context.search(self, query: query.baseAddress!, k: k, probeCount: probeCount, filter: filter,
                               strategy: filterStrategy)
        }
    }

    /// The k nearest stored vectors to each of `queries.count / dimension` row-major queries.
    /// Same parameters, clamps and errors as `search(_:k:nprobe:filter:filterStrategy:)`; the hits
    /// of each query are identical to searching it alone.
    public func search(batch queries: [Float], k: Int, nprobe: NProbe = .all, filter: IDFilter? = nil,
                       filterStrategy: FilterStrategy = .automatic) throws -> BatchSearchResult {
        try queries.withUnsafeBufferPointer {
            try search(batch: $0, k: k, nprobe: nprobe, filter: filter, filterStrategy: filterStrategy)
        }
    }

    /// Buffer variant of `search(batch:k:nprobe:filter:filterStrategy:)`.
    public func search(batch queries: UnsafeBufferPointer<Float>, k: Int, nprobe: NProbe = .all,
                       filter: IDFilter? = nil, filterStrategy: FilterStrategy = .automatic) throws -> BatchSearchResult {
        guard queries.count % dimension == 0 else {
            throw IndexError.dimensionMismatch(what: "query batch of \(queries.count) floats", expected: dimension,
                                               actual: queries.count % dimension)
        }
        if queries.count == dimension {
            // A batch of one (e.g. the database's search of one vector) takes the single-query engine.
            let result = try search(queries, k: k, nprobe: nprobe, filter: filter, filterStrategy: filterStrategy)
            return BatchSearchResult(hits: [result.hits], stats: result.stats)
        }
        let (hits, stats) = try run(queries, count: queries.count / dimension, k: k, nprobe: nprobe,
                                    filter: filter, strategy: filterStrategy, what: "query batch")
        return BatchSearchResult(hits: hits, stats: stats)
    }

    // MARK: - Engine

    private func run(_ queries: UnsafeBufferPointer<Float>, count nq: Int, k: Int, nprobe: NProbe,
                     filter: IDFilter?, strategy: FilterStrategy, what: String) throws -> ([[SearchHit]], SearchStats) {
        guard k >= 1 else { throw IndexError.invalidK(k) }
        let k = min(k, max(1, lists.totalCount))  // as in the single-query path: bound k before arithmetic
        let probeCount = try nprobe.resolved(listCount: lists.listCount)
        try IndexError.validate(queries, count: nq, dimension: dimension, what: what)
        var stats = SearchStats()
        let listCounts = (0..<lists.listCount).map { lists.count(ofList: $0) }
        let total = listCounts.reduce(0, +)
        stats.indexedVectors = total
        guard nq > 0 else { return ([], stats) }
        guard total > 0, filter.map({ $0.count > 0 }) ?? true else {
            return (Array(repeating: [], count: nq), stats)
        }
        let d = dimension
        let base = queries.baseAddress!
        let queryNorms = (0..<nq).map { L2Kernels.squaredNorm(base + $0 * d, dimension: d) }

        // Stage 1: rank anchors and choose each query's partitions.
        let anchorCount = router.anchorCount
        var anchorScores: [Float] = []
        var probes: [[Int]] = []
        if let p = probeCount {
            anchorScores = [Float](repeating: 0, count: nq * anchorCount)
            anchorScores.withUnsafeMutableBufferPointer {
                router.anchorScores(queries: base, count: nq, into: $0.baseAddress!)
            }
            stats.anchorDistanceComputations = nq * anchorCount
            probes = anchorScores.withUnsafeBufferPointer { scores in
                (0..<nq).map { q -> [Int] in
                    let row = scores.baseAddress! + q * anchorCount
                    var chosen = AnchorRouter.rank(scores: row, count: anchorCount, limit: p)
                    // Unfiltered: continue to next-nearest anchors until the partitions hold ≥ k vectors.
                    if filter == nil && chosen.reduce(0, { $0 + listCounts[$1] }) < k {
                        let all = AnchorRouter.rank(scores: row, count: anchorCount, limit: anchorCount)
                        var held = 0
                        chosen = []
                        for list in all where held < k {
                            chosen.append(list)
                            held += listCounts[list]
                        }
                    }
                    return chosen
                }
            }
        }

        // A selective filter: score the matching ids directly.
        if let filter {
            let expectedScan = probeCount == nil
                ? total : probes.reduce(0) { $0 + $1.reduce(0) { $0 + listCounts[$1] } } / nq
            let scanCost = max(expectedScan, Int(min(Double(total) * Double(k) / Double(filter.count), Double(total))))
            let direct = strategy == .scoreMatchesDirectly
                || (strategy == .automatic && filter.count.multipliedReportingOverflow(by: directScoringCost).partialValue <= scanCost)
            if direct {
                return try scoreDirectly(filter: filter, queries: base, count: nq, norms: queryNorms, k: k, stats: stats)
            }
        }

        // Stage 2: scan the chosen partitions, each once for all its queries.
        let scanner = PartitionScanner(dimension: d, k: k, queries: base, queryCount: nq, queryNorms: queryNorms,
                                       filter: filter, workerCount: parallelism.workerCount)
        var queriesOfList = [[Int32]](repeating: [], count: lists.listCount)
        if probeCount == nil {
            let everyQuery = (0..<nq).map(Int32.init)
            for list in 0..<lists.listCount where listCounts[list] > 0 { queriesOfList[list] = everyQuery }
        } else {
            for (q, chosen) in probes.enumerated() {
                for list in chosen { queriesOfList[list].append(Int32(q)) }
            }
        }
        try scan(queriesOfList, listCounts: listCounts, with: scanner, queryCount: nq, stats: &stats)

        // Filtered and routed: queries that found fewer than k matches continue with further
        // partitions in anchor order, doubling the step each round, until k match or none are left.
        if filter != nil, let p = probeCount {
            var position = probes.map(\.count)
            var fullRanking = [[Int]?](repeating: nil, count: nq)
            var step = p
            while true {
                let short = (0..<nq).filter { scanner.candidateCount($0) < k && position[$0] < anchorCount }
                if short.isEmpty { break }
                step *= 2
                queriesOfList = [[Int32]](repeating: [], count: lists.listCount)
                for q in short {
                    if fullRanking[q] == nil {
                        fullRanking[q] = anchorScores.withUnsafeBufferPointer {
                            AnchorRouter.rank(scores: $0.baseAddress! + q * anchorCount, count: anchorCount,
                                              limit: anchorCount)
                        }
                    }
                    let end = min(anchorCount, position[q] + step)
                    for list in fullRanking[q]![position[q] ..< end] { queriesOfList[list].append(Int32(q)) }
                    position[q] = end
                }
                try scan(queriesOfList, listCounts: listCounts, with: scanner, queryCount: nq, stats: &stats)
            }
        }

        var hits: [[SearchHit]] = []
        hits.reserveCapacity(nq)
        for q in 0..<nq { hits.append(scanner.finish(q, stats: &stats)) }
        stats.add(scanner.stats)
        return (hits, stats)
    }

    /// Builds the tasks of every partition that has queries, and scans them.
    private func scan(_ queriesOfList: [[Int32]], listCounts: [Int], with scanner: PartitionScanner,
                      queryCount: Int, stats: inout SearchStats) throws {
        var tasks: [PartitionScanner.ScanTask] = []
        for (list, queries) in queriesOfList.enumerated() where !queries.isEmpty {
            stats.partitionsScanned += queries.count
            guard listCounts[list] > 0 else { continue }
            tasks += try PartitionScanner.tasks(ofList: list, in: lists, queries: queries, queryCount: queryCount,
                                                dimension: dimension)
        }
        scanner.scan(tasks, parallelism: parallelism)
    }

    /// Exact search restricted to the filter's ids, reading only those vectors.
    func scoreDirectly(filter: IDFilter, queries: UnsafePointer<Float>, count nq: Int, norms: [Float], k: Int,
                               stats initial: SearchStats) throws -> ([[SearchHit]], SearchStats) {
        var stats = initial
        let d = dimension
        let m = filter.count
        let vectors = UnsafeMutablePointer<Float>.allocate(capacity: m * d)
        defer { vectors.deallocate() }
        let found = try lists.gatherVectors(ids: filter.ids, into: vectors)
        // Compact the rows of ids that exist, keeping id order.
        var ids: [UInt64] = []
        ids.reserveCapacity(m)
        for (i, ok) in found.enumerated() where ok {
            if ids.count != i { (vectors + ids.count * d).update(from: vectors + i * d, count: d) }
            ids.append(filter.ids[i])
        }
        let n = ids.count
        guard n > 0 else { return (Array(repeating: [], count: nq), stats) }
        try IndexError.validate(UnsafeBufferPointer(start: vectors, count: n * d), count: n, dimension: d,
                                what: "stored vectors returned by gatherVectors")
        var squaredNorms = [Float](repeating: 0, count: n)
        squaredNorms.withUnsafeMutableBufferPointer {
            L2Kernels.squaredNorms(vectors, count: n, dimension: d, into: $0.baseAddress!)
        }
        let scanner = PartitionScanner(dimension: d, k: k, queries: queries, queryCount: nq, queryNorms: norms,
                                       filter: nil, workerCount: parallelism.workerCount)
        return ids.withUnsafeBufferPointer { idBuffer in
            squaredNorms.withUnsafeBufferPointer { normBuffer in
                let block = VectorBlock(ids: idBuffer, vectors: UnsafeBufferPointer(start: vectors, count: n * d),
                                        squaredNorms: normBuffer)
                let everyQuery = (0..<nq).map(Int32.init)
                var tasks: [PartitionScanner.ScanTask] = []
                var start = 0
                while start < n {
                    let len = min(PartitionScanner.taskVectors, n - start)
                    tasks.append(.init(blocks: [block.slice(start, len, dimension: d)], queries: everyQuery,
                                       vectorCount: len, allQueries: true))
                    start += len
                }
                scanner.scan(tasks, parallelism: parallelism)
                var hits: [[SearchHit]] = []
                for q in 0..<nq { hits.append(scanner.finish(q, stats: &stats)) }
                stats.add(scanner.stats)
                stats.directlyScoredQueries = nq
                return (hits, stats)
            }
        }
    }
}

extension AnchorIndex: Sendable where Lists: Sendable {}
