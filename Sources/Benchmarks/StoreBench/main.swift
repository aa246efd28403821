// radb-bench-store — insert throughput, partition-scan throughput and bytes on disk of RADBStore.
//
//   swift build -c release --product radb-bench-store
//   .build/release/radb-bench-store [--n 1000000] [--dim 128] [--batch 10000] [--partitions 1000]
//                                   [--dir /tmp/radb-bench-store] [--durable] [--export FILE]
//                                   [--block MIN_VECTORS] [--merge FACTOR] [--insert-only | --scan-only [--read-only]]
//
// --insert-only prints one line about the insert and stops (used for profiling: with
// RADB_BENCH_PAUSE set it waits 2 s after building the batches, so a profiler can attach).
// --scan-only reopens the database a previous run left in --dir (same --n/--dim/--partitions)
// and only repeats the scan comparison, so scans can be measured again when the machine is quiet;
// it also times label filters (`ids(matching:)`). --read-only opens that database read-only, so a
// database of an older radb keeps its layout (e.g. catalog schema 2's SQLite label index).
// --export writes the vectors (n × dim float32) and their partition ids (n × int64) to FILE and
// FILE.assign, so Tools/bench_store_faiss.py can run FAISS IndexIVFFlat on the same data.
import Foundation
import RADBStore

/// Writes one line straight to standard output, unbuffered: a parent process reads these lines as
/// they come. (Shadows `Swift.print`, whose stdout buffer Swift 6 cannot reconfigure safely.)
@MainActor func print(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

// MARK: - Arguments

var n = 1_000_000, dim = 128, batchSize = 10_000, partitions = 1000
var dir = "/tmp/radb-bench-store", durable = false, export: String?, insertOnly = false
var blockVectors: Int?, mergeFactor: Int? // nil: the store's defaults
var scanOnly = false, readOnly = false
var it = CommandLine.arguments.dropFirst().makeIterator()
while let a = it.next() {
    switch a {
    case "--n": n = Int(it.next() ?? "") ?? n
    case "--dim": dim = Int(it.next() ?? "") ?? dim
    case "--batch": batchSize = Int(it.next() ?? "") ?? batchSize
    case "--partitions": partitions = Int(it.next() ?? "") ?? partitions
    case "--dir": dir = it.next() ?? dir
    case "--durable": durable = true
    case "--export": export = it.next()
    case "--block": blockVectors = Int(it.next() ?? "")
    case "--merge": mergeFactor = Int(it.next() ?? "")
    case "--insert-only": insertOnly = true
    case "--scan-only": scanOnly = true
    case "--read-only": readOnly = true
    default: print("unknown argument \(a)"); exit(2)
    }
}

@MainActor func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
/// CPU seconds of the whole process (user + system, all threads): on a loaded machine this
/// is what the work costs, while wall time also counts waiting for a core.
@MainActor func cpuNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
/// Bytes this process has passed to write(2)-family calls so far (`wchar` of /proc/self/io).
@MainActor func bytesWritten() -> Int {
    let text = (try? String(contentsOfFile: "/proc/self/io", encoding: .utf8)) ?? ""
    for line in text.split(separator: "\n") where line.hasPrefix("wchar:") {
        return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) ?? 0
    }
    return 0
}
@MainActor func loadAverage() -> Double { var l = [Double](repeating: 0, count: 3); getloadavg(&l, 3); return l[0] }

// MARK: - Data (SplitMix64, uniform in [-1, 1))

var state: UInt64 = 42
@MainActor @inline(__always) func next() -> UInt64 {
    state &+= 0x9e37_79b9_7f4a_7c15
    var z = state
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
}
print("generating \(n) × \(dim) vectors in \(partitions) partitions …")
var data = [Float](repeating: 0, count: n * dim)
for i in 0..<data.count { data[i] = Float(next() >> 40) / Float(1 << 23) - 1 }
let assignment = (0..<n).map { _ in Int32(next() % UInt64(partitions)) }
if let export {
    try data.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: export)) }
    try assignment.map(Int64.init).withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: export + ".assign")) }
    print("exported to \(export)")
}

// MARK: - Insert

var options = StoreOptions(durable: durable)
options.initialMapSize = 64 << 20 // start small: growth is part of what is measured
if let blockVectors { options.minimumBlockVectors = blockVectors }
if let mergeFactor { options.mergeFactor = mergeFactor }
options.readOnly = readOnly && scanOnly
if !scanOnly { try? FileManager.default.removeItem(atPath: dir) }
let store = scanOnly ? try VectorStore.open(at: URL(fileURLWithPath: dir), dimension: dim, options: options)
    : try VectorStore.create(at: URL(fileURLWithPath: dir), dimension: dim, modelIdentity: "bench", options: options)
var insertSeconds = 0.0, insertCPU = 0.0
var batches = 0
// Every batch is built before the clock starts, so only `insert` is measured (and profiled).
let allBatches: [[NewItem]] = scanOnly ? [] : stride(from: 0, to: n, by: batchSize).map { start in
    (start..<min(n, start + batchSize)).map { i in
        NewItem(vector: Array(data[i * dim ..< (i + 1) * dim]), anchor: assignment[i],
                metadata: ItemMetadata(path: "bench/\(i).jpg", contentHash: (0..<4).map { _ in String(format: "%016llx", next()) }.joined(),
                                       label: "c\(assignment[i] % 10)", width: 64, height: 64))
    }
}
print("inserting (pid \(getpid())) …")
if ProcessInfo.processInfo.environment["RADB_BENCH_PAUSE"] != nil { sleep(2) }
let loadBefore = loadAverage()
let wcharBefore = bytesWritten()
for batch in allBatches {
    let t = now(), c = cpuNow()
    try store.insert(batch)
    insertSeconds += now() - t
    insertCPU += cpuNow() - c
    batches += 1
}
var syncSeconds = 0.0
if !durable, !scanOnly { let t = now(), c = cpuNow(); try store.sync(); syncSeconds = now() - t; insertSeconds += syncSeconds; insertCPU += cpuNow() - c }
let insertRate = Double(n) / insertSeconds
let insertBytesWritten = bytesWritten() - wcharBefore
if insertOnly {
    print("insert: \(String(format: "%.2f", insertSeconds)) s wall → \(Int(insertRate)) vectors/s; CPU \(String(format: "%.2f", insertCPU)) s → \(Int(Double(n) / insertCPU)) vectors/s; LMDB half \(String(format: "%.2f", store.writeProfile.vectorHalfSeconds)) s CPU / \(String(format: "%.2f", store.writeProfile.vectorHalfWallSeconds)) s wall, SQLite rows \(String(format: "%.2f", store.writeProfile.catalogApplySeconds)) s + commit \(String(format: "%.2f", store.writeProfile.catalogCommitSeconds)) s CPU, wait for catalog \(String(format: "%.2f", store.writeProfile.catalogWaitWallSeconds)) s wall; final sync \(String(format: "%.2f", syncSeconds)) s wall; written \(insertBytesWritten / n) bytes/vector; load \(String(format: "%.1f", loadBefore))")
    exit(0)
}

// MARK: - Scan (warm): sum of q·v over every stored vector vs one contiguous array

let query = (0..<dim).map { _ in Float(next() >> 40) / Float(1 << 23) - 1 }

@inline(__always)
@MainActor func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ d: Int) -> Float {
    var acc = SIMD8<Float>()
    var j = 0
    while j + 8 <= d {
        acc += UnsafeRawPointer(a + j).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + j).loadUnaligned(as: SIMD8<Float>.self)
        j += 8
    }
    var s = acc.sum()
    while j < d { s += a[j] * b[j]; j += 1 }
    return s
}

/// The measured loop, shared by every variant so they differ only in where the rows live.
@inline(never)
@MainActor func sumDots(_ q: UnsafePointer<Float>, _ rows: UnsafePointer<Float>, _ count: Int, _ d: Int) -> Double {
    var sum: Double = 0
    for r in 0..<count { sum += Double(dot(q, rows + r * d, d)) }
    return sum
}

@MainActor func scanStore() throws -> (Double, Int) { try scan(store) }
@MainActor func scan(_ store: VectorStore) throws -> (Double, Int) {
    try query.withUnsafeBufferPointer { q in
        try store.read { snap in
            var sum: Double = 0, count = 0
            try snap.forEachBlock { block in
                sum += sumDots(q.baseAddress!, block.vectors.baseAddress!, block.count, block.dimension)
                count += block.count
            }
            return (sum, count)
        }
    }
}

@MainActor func scanArray() -> (Double, Int) {
    query.withUnsafeBufferPointer { q in
        data.withUnsafeBufferPointer { v in (sumDots(q.baseAddress!, v.baseAddress!, n, dim), n) }
    }
}

/// The same loop over a copy of the data on 4 KiB pages (as LMDB's file mapping is), to
/// separate the cost of small pages from the cost of the store.
let smallPageBytes = n * dim * 4
let smallPages = mmap(nil, smallPageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
_ = madvise(smallPages, smallPageBytes, 14 /* MADV_NOHUGEPAGE */)
data.withUnsafeBytes { smallPages.copyMemory(from: $0.baseAddress!, byteCount: smallPageBytes) }
@MainActor func scanSmallPages() -> (Double, Int) {
    query.withUnsafeBufferPointer { q in
        (sumDots(q.baseAddress!, smallPages.assumingMemoryBound(to: Float.self), n, dim), n)
    }
}

/// The same loop over the 4 KiB-page copy cut into pieces of `size` vectors visited in a
/// shuffled order: what a layout of separate runs costs on this machine's memory system,
/// whoever stores them (the store's blocks are 273 and 39 vectors).
@MainActor func scanShuffledPieces(_ size: Int) -> (Double, Int) {
    var starts = Array(stride(from: 0, to: n, by: size))
    var rng = SystemRandomNumberGenerator()
    starts.shuffle(using: &rng)
    return query.withUnsafeBufferPointer { q in
        let base = smallPages.assumingMemoryBound(to: Float.self)
        var sum = 0.0
        for s0 in starts { sum += sumDots(q.baseAddress!, base + s0 * dim, min(size, n - s0), dim) }
        return (sum, n)
    }
}

@MainActor func best(_ runs: Int, _ body: () throws -> (Double, Int)) rethrows -> (seconds: Double, sum: Double, count: Int) {
    var bestTime = Double.infinity, result = (0.0, 0)
    for _ in 0..<runs {
        let t = cpuNow()
        result = try body()
        bestTime = min(bestTime, cpuNow() - t)
    }
    return (bestTime, result.0, result.1)
}
/// Walks every block without touching the vectors: the per-block cost of the snapshot API.
@MainActor func walkBlocks() throws -> (Double, Int) {
    try store.read { snap in
        var count = 0
        try snap.forEachBlock { block in count += block.count }
        return (0, count)
    }
}
_ = try scanStore() // warm the page cache and the map
let storeScan = try best(5, scanStore)
let arrayScan = best(5, scanArray)
let walk = try best(5, walkBlocks)
let smallPageScan = best(5, scanSmallPages)
let pieces273 = best(5, { scanShuffledPieces(273) }), pieces39 = best(5, { scanShuffledPieces(39) })
guard storeScan.count == n, abs(storeScan.sum - arrayScan.sum) <= 1e-6 * max(1, abs(arrayScan.sum)) else {
    print("scan mismatch: store \(storeScan.count) vectors sum \(storeScan.sum), array sum \(arrayScan.sum)")
    exit(1)
}
if scanOnly {
    // Label filters as search uses them: one label (~1/10 of the rows), two labels, one label
    // and a path condition. Best of 5 wall times.
    for (name, filter) in [("label c3", CatalogFilter.labelEquals("c3")), ("labels c3|c7", .labelIn(["c3", "c7"])),
                           ("label c3 + path bench/1*", .all([.labelEquals("c3"), .pathGlob("bench/1*")]))] {
        var bestTime = Double.infinity, found = 0
        for _ in 0..<5 { let t = now(); found = try store.ids(matching: filter).count; bestTime = min(bestTime, now() - t) }
        print(String(format: "filter %@: %d ids in %.1f ms", name, found, bestTime * 1000))
    }
    print(String(format: "scan: store %.1f ms, array %.1f ms → %.1f %%; array on 4 KiB pages %.1f ms, in shuffled 273-vector pieces %.1f ms (%.1f %% of the array), in shuffled 39-vector pieces %.1f ms; block walk %.1f ms; load %.2f",
                 storeScan.seconds * 1000, arrayScan.seconds * 1000, 100 * arrayScan.seconds / storeScan.seconds,
                 smallPageScan.seconds * 1000, pieces273.seconds * 1000, 100 * arrayScan.seconds / pieces273.seconds,
                 pieces39.seconds * 1000, walk.seconds * 1000, loadAverage()))
    exit(0)
}

// MARK: - Bytes on disk after compaction

let stats = try store.stats()
let compacted = dir + "-compacted"
try? FileManager.default.removeItem(atPath: compacted)
let tb = now()
try store.backup(to: URL(fileURLWithPath: compacted))
let backupSeconds = now() - tb
let copy = try VectorStore.open(at: URL(fileURLWithPath: compacted))
let compactStats = try copy.stats()
let problems = try store.check()
_ = try scan(copy)
let compactScan = try best(5, { try scan(copy) })
let ideal = Double(4 * dim + 8 + 4)

// MARK: - Report

@MainActor func f(_ x: Double, _ p: Int = 2) -> String { String(format: "%.\(p)f", x) }
print("""

| metric | value |
|---|---|
| vectors × dim, partitions, batch | \(n) × \(dim), \(stats.partitions), \(batchSize) (block capacity \(stats.blockCapacity) small, \(stats.largeBlockCapacity) large) |
| machine load average (1 min) at start of insert | \(f(loadBefore, 1)) on \(ProcessInfo.processInfo.activeProcessorCount) cores |
| insert (durable: \(durable)), wall clock | \(f(insertSeconds)) s → \(Int(insertRate)) vectors/s |
| insert (durable: \(durable)), CPU time | \(f(insertCPU)) s → **\(Int(Double(n) / insertCPU)) vectors/s** |
| … of which LMDB half (thread CPU) | \(f(store.writeProfile.vectorHalfSeconds)) s → \(Int(Double(n) / store.writeProfile.vectorHalfSeconds)) vectors/s |
| … LMDB half, wall clock (checks, sorting, LMDB transaction and commit) | \(f(store.writeProfile.vectorHalfWallSeconds)) s |
| … of which SQLite rows (thread CPU, concurrent with LMDB) | \(f(store.writeProfile.catalogApplySeconds)) s → \(Int(Double(n) / store.writeProfile.catalogApplySeconds)) vectors/s |
| … SQLite commit after the LMDB commit (catalog thread CPU) | \(f(store.writeProfile.catalogCommitSeconds)) s |
| … calling thread waiting for the catalog after its LMDB commit (wall) | \(f(store.writeProfile.catalogWaitWallSeconds)) s |
| bytes passed to write(2) during insert (LMDB commits, SQLite WAL + checkpoints) | \(insertBytesWritten / n) per vector |
| scan store (best of 5 CPU time, warm) | \(f(storeScan.seconds * 1000, 1)) ms = \(f(Double(n * dim * 4) / storeScan.seconds / 1e9)) GB/s |
| scan contiguous array (best of 5 CPU time) | \(f(arrayScan.seconds * 1000, 1)) ms = \(f(Double(n * dim * 4) / arrayScan.seconds / 1e9)) GB/s |
| scan contiguous array on 4 KiB pages (MADV_NOHUGEPAGE) | \(f(smallPageScan.seconds * 1000, 1)) ms = \(f(Double(n * dim * 4) / smallPageScan.seconds / 1e9)) GB/s |
| scan ratio store/array-on-4KiB-pages | \(f(100 * smallPageScan.seconds / storeScan.seconds, 1)) % |
| scan of the 4 KiB-page copy in 273-vector pieces, shuffled order | \(f(pieces273.seconds * 1000, 1)) ms = \(f(100 * arrayScan.seconds / pieces273.seconds, 1)) % of the array |
| scan of the 4 KiB-page copy in 39-vector pieces, shuffled order | \(f(pieces39.seconds * 1000, 1)) ms = \(f(100 * arrayScan.seconds / pieces39.seconds, 1)) % of the array |
| walk all blocks without reading vectors | \(f(walk.seconds * 1000, 1)) ms |
| scan ratio store/array | **\(f(100 * arrayScan.seconds / storeScan.seconds, 1)) %** |
| scan of the compacted backup (best of 5 CPU time) | \(f(compactScan.seconds * 1000, 1)) ms = \(f(Double(n * dim * 4) / compactScan.seconds / 1e9)) GB/s, \(f(100 * arrayScan.seconds / compactScan.seconds, 1)) % of the array |
| LMDB bytes/vector, live (not compacted) | \(f(Double(stats.vectorBytes) / Double(n), 1)) |
| LMDB bytes/vector after compaction | \(f(Double(compactStats.vectorBytes) / Double(n), 1)) = **\(f(Double(compactStats.vectorBytes) / Double(n) / ideal, 3)) ×** (4·d+8+4 = \(Int(ideal))) |
| catalog bytes/item after backup | \(f(Double(compactStats.catalogBytes) / Double(n), 1)) |
| whole database bytes/item after backup | \(f(Double(compactStats.bytesOnDisk) / Double(n), 1)) |
| online backup (compacting) | \(f(backupSeconds)) s |
| check() problems | \(problems.count) |
""")
