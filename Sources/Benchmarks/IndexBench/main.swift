// radb-bench-index — the Swift half of Tools/bench_search.py (radb search vs FAISS).
//
//   radb-bench-index train  --base B.npy --anchors N --seed S --out C.npy [--threads T]
//   radb-bench-index serve  --base B.npy --queries Q.npy --centroids C.npy [--k 10] [--out-dir DIR] [--tag NAME]
//   radb-bench-index search --base B.npy --queries Q.npy --centroids C.npy --threads T
//                           [--mode workers|blas] [--nprobe 1,4,16,64] [--k 10] [--single N]
//                           [--exact-single N] [--batch N] [--out-dir DIR] [--tag NAME]
//
// `search` prints one JSON object per measured row (qps, p50/p99 latency, distance computations)
// and writes the returned ids to DIR/radb_<tag>_<nprobe>_<single|batch>.npy for recall.
import CBLAS
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

/// Writes one line straight to standard output, unbuffered: `Tools/bench_search.py` reads each
/// answer as it comes. (Shadows `Swift.print`, whose stdout buffer Swift 6 cannot flush safely.)
func print(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func emit(_ object: [String: Any]) {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    print(String(decoding: data, as: UTF8.self))
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
    openblas_set_num_threads(Int32(1))
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

/// The data and index a `search` or `serve` run measures.
struct Fixture {
    let queries: (rows: Int, columns: Int, values: [Float])
    var index: AnchorIndex<MemoryInvertedLists>
    let k: Int
    let outDir: String
    let tag: String

    init(_ args: Arguments) throws {
        let base = try NPYFile.readFloat32Matrix(try args.string("base"))
        queries = try NPYFile.readFloat32Matrix(try args.string("queries"))
        let centroids = try NPYFile.readFloat32Matrix(try args.string("centroids"))
        k = try args.int("k", 10)
        outDir = try args.string("out-dir", ".data/bench-index")
        tag = try args.string("tag", "run")
        let d = base.columns
        openblas_set_num_threads(Int32(1))
        let clock = ContinuousClock()
        let router = try AnchorRouter(anchors: centroids.values, dimension: d)
        // --block-capacity N hands partitions out in blocks of N vectors, as the store does (0: whole).
        let blockCapacity = try args.int("block-capacity", 0)
        let lists = try MemoryInvertedLists(dimension: d, listCount: router.anchorCount,
                                            blockCapacity: blockCapacity > 0 ? blockCapacity : nil)
        let buildTime = try clock.measure {
            let assignment = try router.nearestAnchors(of: base.values, parallelism: .workers(2))
            try lists.add(vectors: base.values, ids: (0..<UInt64(base.rows)).map { $0 }, lists: assignment)
        }
        index = try AnchorIndex(router: router, lists: lists, parallelism: .serial)
        emit(["step": "build", "tag": tag, "seconds": seconds(buildTime), "vectors": base.rows])
    }

    /// Threads 1: serial. Threads n, mode "workers": radb's own n workers, OpenBLAS at 1 thread.
    /// Mode "blas": serial loops, OpenBLAS at n threads.
    mutating func configure(threads: Int, mode: String) {
        if mode == "blas" {
            openblas_set_num_threads(Int32(threads))
            index.parallelism = .serial
        } else {
            openblas_set_num_threads(Int32(1))
            index.parallelism = threads == 1 ? .serial : .workers(threads)
        }
    }

    /// Times `count` single-query calls or one batch of `count` queries (best of 3; exact: 1 run), writes the ids.
    func measure(nprobe: NProbe, kind: String, count requested: Int, label: String) throws -> [String: Any] {
        let d = queries.columns
        let n = max(1, min(queries.rows, requested))
        let clock = ContinuousClock()
        var hits: [[SearchHit]] = []
        var stats = SearchStats()
        var row: [String: Any] = ["step": "search", "tag": tag, "nprobe": nprobe.description, "kind": kind,
                                  "queries": n]
        try queries.values.withUnsafeBufferPointer { all in
            if kind == "single" {
                for i in 0..<min(5, n) {
                    _ = try index.search(UnsafeBufferPointer(rebasing: all[i * d ..< (i + 1) * d]), k: k, nprobe: nprobe)
                }
                var latencies: [Double] = []
                for i in 0..<n {
                    let q = UnsafeBufferPointer(rebasing: all[i * d ..< (i + 1) * d])
                    let start = clock.now
                    let result = try index.search(q, k: k, nprobe: nprobe)
                    latencies.append(seconds(clock.now - start))
                    hits.append(result.hits)
                    stats.distanceComputations += result.stats.distanceComputations
                    stats.certificationRescans += result.stats.certificationRescans
                }
                let total = latencies.reduce(0, +)
                latencies.sort()
                row["qps"] = Double(n) / total
                row["p50_ms"] = percentile(latencies, 0.5) * 1e3
                row["p99_ms"] = percentile(latencies, 0.99) * 1e3
            } else {
                let rows = UnsafeBufferPointer(rebasing: all[0 ..< n * d])
                var best = Double.infinity
                for _ in 0..<(nprobe == .all ? 1 : 3) {  // exact batches take seconds: one run
                    let start = clock.now
                    let batch = try index.search(batch: rows, k: k, nprobe: nprobe)
                    best = min(best, seconds(clock.now - start))
                    hits = batch.hits
                    stats = batch.stats
                }
                row["qps"] = Double(n) / best
                row["seconds"] = best
            }
        }
        row["distances_per_query"] = Double(stats.distanceComputations) / Double(n)
        row["rescans"] = stats.certificationRescans
        let path = "\(outDir)/radb_\(tag)_\(label)_\(kind).npy"
        try writeIDs(hits, k: k, to: path)
        row["ids"] = path
        return row
    }
}

func parseProbes(_ text: String) -> [NProbe] {
    text.split(separator: ",").map { $0 == "all" ? NProbe.all : Int($0).map(NProbe.count) ?? .all }
}

func search(_ args: Arguments) throws {
    var fixture = try Fixture(args)
    fixture.configure(threads: try args.int("threads", 1), mode: try args.string("mode", "workers"))
    for nprobe in [NProbe.all] + parseProbes(try args.string("nprobe", "1,4,16,64")) {
        let label = nprobe == .all ? "exact" : "nprobe\(nprobe)"
        let single = nprobe == .all ? try args.int("exact-single", 100) : try args.int("single", 1000)
        emit(try fixture.measure(nprobe: nprobe, kind: "single", count: single, label: label))
        emit(try fixture.measure(nprobe: nprobe, kind: "batch", count: try args.int("batch", 1000), label: label))
    }
}

/// Loads once, then answers `run <threads> <workers|blas> <nprobe|all> <single|batch> <count> <label>`
/// lines from stdin (one JSON line each), so the peer script can interleave radb and FAISS runs.
func serve(_ args: Arguments) throws {
    var fixture = try Fixture(args)
    while let line = readLine() {
        let f = line.split(separator: " ").map(String.init)
        guard f.count == 7, f[0] == "run", let threads = Int(f[1]), let count = Int(f[5]) else {
            if line == "quit" { return }
            emit(["error": "bad command: \(line)"])
            continue
        }
        fixture.configure(threads: threads, mode: f[2])
        emit(try fixture.measure(nprobe: parseProbes(f[3])[0], kind: f[4], count: count, label: f[6]))
    }
}

/// Runs single queries in a loop (for `perf record`): `profile ... --nprobe P --count N --threads T`;
/// with `--batch B`, the first B queries as one batch, count / B times.
func profile(_ args: Arguments) throws {
    var fixture = try Fixture(args)
    fixture.configure(threads: try args.int("threads", 1), mode: try args.string("mode", "workers"))
    let nprobe = parseProbes(try args.string("nprobe", "1"))[0]
    let count = try args.int("count", 100_000)
    let d = fixture.queries.columns, rows = fixture.queries.rows
    let batch = try args.int("batch", 0)
    let cpuStart = processCPUSeconds()
    let clock = ContinuousClock()
    var checksum: UInt64 = 0
    let time = try clock.measure {
        try fixture.queries.values.withUnsafeBufferPointer { all in
            if batch > 0 {  // `count` queries in batches of `batch`
                let b = min(batch, rows)
                for _ in 0..<max(1, count / b) {
                    let result = try fixture.index.search(batch: UnsafeBufferPointer(rebasing: all[0 ..< b * d]),
                                                          k: fixture.k, nprobe: nprobe)
                    checksum &+= result.hits.first?.first?.id ?? 0
                }
                return
            }
            for i in 0..<count {
                let q = i % rows
                let hits = try fixture.index.search(UnsafeBufferPointer(rebasing: all[q * d ..< (q + 1) * d]),
                                                    k: fixture.k, nprobe: nprobe).hits
                checksum &+= hits.first?.id ?? 0
            }
        }
    }
    let cpu = processCPUSeconds() - cpuStart
    // CPU time is the steadier figure on a shared machine (wall time includes waiting for a core).
    emit(["step": "profile", "nprobe": nprobe.description, "queries": count, "seconds": seconds(time),
          "us_per_query": seconds(time) / Double(count) * 1e6, "cpu_us_per_query": cpu / Double(count) * 1e6,
          "checksum": checksum])
}

/// CPU time of the whole process (user + system), in seconds.
func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

do {
    let args = try Arguments()
    switch args.command {
    case "train": try train(args)
    case "search": try search(args)
    case "serve": try serve(args)
    case "profile": try profile(args)
    default: throw NPYFile.Failure(description: usage)
    }
} catch {
    FileHandle.standardError.write(Data("radb-bench-index: \(error)\n".utf8))
    exit(1)
}
