import Foundation
import Synchronization
import RADBIndex
import RADBStore

/// How many partitions a routed search must scan to reach a recall target, measured on the
/// database's own vectors: the recall of the exact top 10 at each probe count, with stored
/// vectors as queries (each query's own item left out of both rankings, since a stored vector
/// always finds itself).
///
/// Why: a fixed probe count is too many for one collection and too few for another. The curve
/// is measured once per model generation and kept in `probe-calibration.json` (a cache: any
/// process may rewrite it, a missing or stale file is measured again), and measured again when
/// the collection has doubled or halved since.
struct ProbeCalibration: Codable, Equatable {
    /// The generation measured and how many items it held then.
    var generation: UInt64
    var items: Int
    /// `probes[i]` partitions scanned give mean recall `recalls[i]` (increasing probes).
    var probes: [Int]
    var recalls: [Double]

    static let fileName = "probe-calibration.json"
    /// Queries sampled evenly from the stored vectors, and the depth recall is measured at.
    static let sampleSize = 200
    static let depth = 10
    /// Collections of at most this many items are scanned whole (faster than measuring).
    static let exactBelow = 2_000

    /// The fewest probes whose measured recall reaches `target` (every partition when none does).
    func probes(forRecall target: Double, anchorCount: Int) -> NProbe {
        for (p, r) in zip(probes, recalls) where r >= target { return p >= anchorCount ? .all : .count(p) }
        return .all
    }

    /// Measures the curve on `snapshot` with `router`'s anchors (`lists` = its partitions).
    static func measure(snapshot: StoreSnapshot, generation: UInt64, router: AnchorRouter,
                        lists: SnapshotLists, contexts: SearchContextPool) throws -> ProbeCalibration {
        var ids: [UInt64] = []
        var vectors: [Float] = []
        var total = 0
        try snapshot.forEachBlock { total += $0.count }
        let step = max(1, total / sampleSize)
        var position = 0
        try snapshot.forEachBlock { block in
            for i in 0..<block.count {
                if position % step == 0 && ids.count < sampleSize {
                    ids.append(block.ids[i])
                    vectors += block.vector(at: i)
                }
                position += 1
            }
        }
        let index = try AnchorIndex(router: router, lists: lists, contexts: contexts)
        let k = min(depth, max(1, total - 1))
        let exact = try index.search(batch: vectors, k: k + 1, nprobe: .all).hits
        let truth = zip(ids, exact).map { id, hits in Set(hits.map(\.id).filter { $0 != id }.prefix(k)) }
        var probes: [Int] = []
        var recalls: [Double] = []
        var p = 1
        while true {
            let found = try index.search(batch: vectors, k: k + 1, nprobe: .count(p)).hits
            var sum = 0.0
            for (q, hits) in found.enumerated() {
                let wanted = truth[q]
                guard !wanted.isEmpty else { sum += 1; continue }
                sum += Double(hits.prefix(k + 1).filter { $0.id != ids[q] && wanted.contains($0.id) }.count) / Double(wanted.count)
            }
            probes.append(p)
            recalls.append(ids.isEmpty ? 1 : sum / Double(ids.count))
            if p >= router.anchorCount || recalls.last! >= 0.999 { break }
            p = min(router.anchorCount, p < 4 ? p + 1 : p + (p + 1) / 2)
        }
        return ProbeCalibration(generation: generation, items: total, probes: probes, recalls: recalls)
    }
}

/// The calibration of the current generation, cached in memory and in the database directory.
/// Sendable by construction: the cached value lives in a `Mutex`.
final class ProbeCalibrations: Sendable {
    private let file: URL
    private let cached = Mutex<ProbeCalibration?>(nil)

    init(directory: URL) { file = directory.appendingPathComponent(ProbeCalibration.fileName) }

    /// The calibration for `generation` holding `items` items, measured with `measure` when
    /// none is cached or the collection has doubled or halved since.
    func calibration(generation: UInt64, items: Int, measure: () throws -> ProbeCalibration) throws -> ProbeCalibration {
        func usable(_ c: ProbeCalibration?) -> ProbeCalibration? {
            guard let c, c.generation == generation, items <= 2 * max(c.items, 1), 2 * items >= c.items else { return nil }
            return c
        }
        let memory = usable(cached.withLock { $0 })
        if let memory { return memory }
        if let data = try? Data(contentsOf: file), let stored = usable(try? JSONDecoder().decode(ProbeCalibration.self, from: data)) {
            cached.withLock { $0 = stored }
            return stored
        }
        let fresh = try measure()
        cached.withLock { $0 = fresh }
        // A cache: a read-only medium or a full disk only means measuring again next time.
        if let data = try? JSONEncoder().encode(fresh) { try? data.write(to: file, options: .atomic) }
        return fresh
    }
}
