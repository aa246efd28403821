// radb-bench-index — the Swift half of Tools/bench_search.py (radb search vs FAISS).
//
//   radb-bench-index train  --base B.npy --anchors N --seed S --out C.npy [--threads T]
//   radb-bench-index search --base B.npy --queries Q.npy --centroids C.npy --threads T
//                           [--mode workers|blas] [--nprobe 1,4,16,64] [--k 10] [--single N]
//                           [--exact-single N] [--batch N] [--out-dir DIR] [--tag NAME]
//
// `search` prints one JSON object per measured row (qps, p50/p99 latency, distance computations)
// and writes the returned ids to DIR/radb_<tag>_<nprobe>_<single|batch>.npy for recall.
import Foundation
import RADBIndex

struct Arguments {
    var values: [String: String] = [:]
    let command: String

    init() throws {
        var args = CommandLine.arguments.dropFirst()
        guard let command = args.popFirst() else { throw NPYFile.Failure(description: usage) }
        self.command = command
        while let key = args.popFirst() {
            guard key.hasPrefix("--"), let value = args.popFirst() else {
                throw NPYFile.Failure(description: "unexpected argument \(key)\n\(usage)")
            }
            values[String(key.dropFirst(2))] = value
        }
    }

    func string(_ key: String, _ fallback: String? = nil) throws -> String {
        guard let v = values[key] ?? fallback else { throw NPYFile.Failure(description: "missing --\(key)\n\(usage)") }
        return v
    }

    func int(_ key: String, _ fallback: Int? = nil) throws -> Int {
        guard let v = Int(try string(key, fallback.map(String.init))) else {
            throw NPYFile.Failure(description: "--\(key) must be an integer")
        }
        return v
    }
}

let usage = """
usage: radb-bench-index train --base B.npy --anchors N --seed S --out C.npy [--threads T]
       radb-bench-index search --base B.npy --queries Q.npy --centroids C.npy --threads T [--mode workers|blas]
                               [--nprobe 1,4,16,64] [--k 10] [--single 1000] [--exact-single 100] [--batch 1000]
                               [--out-dir DIR] [--tag NAME]
"""

func seconds(_ d: Duration) -> Double {
    let (s, atto) = d.components
    return Double(s) + Double(atto) * 1e-18
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))]
}

func emit(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
    fflush(stdout)
}

func writeIDs(_ hits: [[SearchHit]], k: Int, to path: String) throws {
    var table = [Int64](repeating: -1, count: hits.count * k)
    for (q, row) in hits.enumerated() {
        for (j, hit) in row.prefix(k).enumerated() { table[q * k + j] = Int64(hit.id) }
    }
    try table.withUnsafeBytes { try NPYFile.write(path, rows: hits.count, columns: k, descr: "<i8", bytes: $0) }
}

func train(_ args: Arguments) throws {
    let base = try NPYFile.readFloat32Matrix(try args.string("base"))
    let threads = try args.int("threads", 2)
    BLASThreads.set(1)
    var config = KMeansConfiguration(anchorCount: try args.int("anchors"))
    config.seed = UInt64(try args.int("seed", 1))
    config.iterations = try args.int("iterations", 10)
    config.parallelism = .workers(threads)
    let clock = ContinuousClock()
    var router: AnchorRouter!
    let time = try clock.measure {
        router = try AnchorRouter.train(vectors: base.values, dimension: base.columns, configuration: config)
    }
    try router.anchors.withUnsafeBytes {
        try NPYFile.write(try args.string("out"), rows: router.anchorCount, columns: base.columns, descr: "<f4", bytes: $0)
    }
    emit(["step": "train", "anchors": router.anchorCount, "seconds": seconds(time), "threads": threads])
}

func search(_ args: Arguments) throws {
    let base = try NPYFile.readFloat32Matrix(try args.string("base"))
    let queries = try NPYFile.readFloat32Matrix(try args.string("queries"))
    let centroids = try NPYFile.readFloat32Matrix(try args.string("centroids"))
    let threads = try args.int("threads", 1)
    let mode = try args.string("mode", "workers")
    let k = try args.int("k", 10)
    let singleCount = min(queries.rows, try args.int("single", 1000))
    let exactSingleCount = min(queries.rows, try args.int("exact-single", 100))
    let batchCount = min(queries.rows, try args.int("batch", 1000))
    let outDir = try args.string("out-dir", ".data/bench-index")
    let tag = try args.string("tag", "run")
    let probes: [NProbe] = [.all] + (try args.string("nprobe", "1,4,16,64")).split(separator: ",").compactMap {
        Int($0).map(NProbe.count)
    }
    let d = base.columns

    // Parallelism: radb's own workers with single-threaded BLAS, or serial with OpenBLAS threads.
    let parallelism: Parallelism
    if mode == "blas" {
        BLASThreads.set(threads)
        parallelism = .serial
    } else {
        BLASThreads.set(1)
        parallelism = threads == 1 ? .serial : .workers(threads)
    }

    let clock = ContinuousClock()
    let router = try AnchorRouter(anchors: centroids.values, dimension: d)
    let lists = try MemoryInvertedLists(dimension: d, listCount: router.anchorCount)
    let buildTime = try clock.measure {
        let assignment = try router.nearestAnchors(of: base.values, parallelism: .workers(2))
        try lists.add(vectors: base.values, ids: (0..<UInt64(base.rows)).map { $0 }, lists: assignment)
    }
    let index = try AnchorIndex(router: router, lists: lists, parallelism: parallelism)
    emit(["step": "build", "tag": tag, "seconds": seconds(buildTime), "vectors": base.rows])

    for nprobe in probes {
        let label = nprobe == .all ? "exact" : "nprobe\(nprobe)"
        // Single queries, one call each (after a short warm-up).
        let n = nprobe == .all ? exactSingleCount : singleCount
        var latencies: [Double] = []
        var singleHits: [[SearchHit]] = []
        var stats = SearchStats()
        try queries.values.withUnsafeBufferPointer { all in
            for i in 0..<min(5, n) {
                _ = try index.search(UnsafeBufferPointer(rebasing: all[i * d ..< (i + 1) * d]), k: k, nprobe: nprobe)
            }
            for i in 0..<n {
                let q = UnsafeBufferPointer(rebasing: all[i * d ..< (i + 1) * d])
                let start = clock.now
                let result = try index.search(q, k: k, nprobe: nprobe)
                latencies.append(seconds(clock.now - start))
                singleHits.append(result.hits)
                stats.distanceComputations += result.stats.distanceComputations
                stats.certificationRescans += result.stats.certificationRescans
            }
        }
        let total = latencies.reduce(0, +)
        latencies.sort()
        try writeIDs(singleHits, k: k, to: "\(outDir)/radb_\(tag)_\(label)_single.npy")
        emit(["step": "search", "tag": tag, "nprobe": nprobe.description, "kind": "single", "queries": n,
              "qps": Double(n) / total, "p50_ms": percentile(latencies, 0.5) * 1e3,
              "p99_ms": percentile(latencies, 0.99) * 1e3,
              "distances_per_query": Double(stats.distanceComputations) / Double(n),
              "rescans": stats.certificationRescans])

        // One batch of `batchCount` queries; best of 3 runs.
        var best = Double.infinity
        var batch: BatchSearchResult!
        try queries.values.withUnsafeBufferPointer { all in
            let rows = UnsafeBufferPointer(rebasing: all[0 ..< batchCount * d])
            for _ in 0..<3 {
                let start = clock.now
                batch = try index.search(batch: rows, k: k, nprobe: nprobe)
                best = min(best, seconds(clock.now - start))
            }
        }
        try writeIDs(batch.hits, k: k, to: "\(outDir)/radb_\(tag)_\(label)_batch.npy")
        let agree = zip(singleHits, batch.hits).allSatisfy { $0 == $1 }
        emit(["step": "search", "tag": tag, "nprobe": nprobe.description, "kind": "batch", "queries": batchCount,
              "qps": Double(batchCount) / best, "seconds": best, "single_equals_batch": agree,
              "distances_per_query": Double(batch.stats.distanceComputations) / Double(batchCount),
              "rescans": batch.stats.certificationRescans])
    }
}

do {
    let args = try Arguments()
    switch args.command {
    case "train": try train(args)
    case "search": try search(args)
    default: throw NPYFile.Failure(description: usage)
    }
} catch {
    FileHandle.standardError.write(Data("radb-bench-index: \(error)\n".utf8))
    exit(1)
}
