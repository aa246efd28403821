// radb-store-probe — a helper process for RADBStore's crash and multi-process tests.
//
// Subcommands (all print one line per event and flush, so a parent can follow along):
//   create DIR DIM [MINBLOCK]         create an empty store (MINBLOCK: minimum small-block vectors)
//   insert-loop DIR SEED BATCH [N]    insert batches forever (or N), durable commits; after each
//                                     prints "committed <batch> <firstId> <count> <fnv64 of vectors>"
//   mutate-loop DIR SEED SECONDS      insert, delete and re-anchor for SECONDS (non-durable)
//   read-loop DIR SECONDS             verify snapshots for SECONDS; prints "snapshot <seq> <items>"
//                                     and at the end "reads <n> distinct <m>"; exits 1 on a bad one
//   hold-lock DIR SECONDS             hold the writer lock, print "locked <pid>", sleep
//   create-anchored DIR DIM N ANCHORS create a store with ANCHORS anchors (generation 1) and N
//                                     items, each in the partition of its nearest anchor
//   switch-loop DIR SEED [N]          switch to a new generation (2…30 random anchors, every item
//                                     under its nearest) forever (or N times); after each prints
//                                     "switched <generation> <anchors> <moved>"
//   routed-insert-loop DIR SEED BATCH [N]  like insert-loop, but each item goes to its nearest
//                                     anchor of the current generation (re-routed when a switch
//                                     came in between); prints "committed <batch> <firstId> <count>"
//   search-loop DIR SECONDS           for SECONDS, verify on every snapshot that each stored item
//                                     is in the partition its snapshot's anchors route it to, that
//                                     every partition has an anchor, and that no item disappeared;
//                                     prints "snapshot <seq> <generation> <items>", at the end
//                                     "reads <n> distinct <m> generations <g>"; exits 1 on a miss
//   check DIR                         print check() problems; exit 1 if any
//   stats DIR                         open read-only, print "items <n> seq <s>"
//   interrupt DIR N                   insert N items but stop between the LMDB and the SQLite
//                                     commit (as a writer killed there), print "interrupted"
//   die-publishing DIR N              insert N items (routed with the current generation) and
//                                     SIGKILL this process as if inside LMDB's meta-page write: the
//                                     commit on disk, the lock file still publishing the one before
//
// RADB_PROBE_MAP_SIZE=<bytes> sets StoreOptions.initialMapSize for every subcommand (tests use a
// tiny map so that writers grow it while readers in other processes must follow).
//
// Vectors are a pure function of the item's path (see `probeVector`), so any process can
// verify that a catalog row and its vector belong together.
import Foundation
import RADBStore
import RADBStoreTesting

/// Writes one line straight to standard output, unbuffered: a parent process reads these lines as
/// they come. (Shadows `Swift.print`, whose stdout buffer Swift 6 cannot reconfigure safely.)
func print(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("radb-store-probe: \(message)\n".utf8))
    exit(2)
}

/// FNV-1a over bytes.
func fnv64(_ bytes: UnsafeRawBufferPointer, _ h: inout UInt64) {
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
}

/// Deterministic vector for a path: SplitMix64 seeded by the path's FNV hash, in [-1, 1).
func probeVector(path: String, dimension: Int) -> [Float] {
    var state: UInt64 = 0xcbf2_9ce4_8422_2325
    Array(path.utf8).withUnsafeBytes { fnv64($0, &state) }
    return (0..<dimension).map { _ in
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
}

func anchorFor(path: String) -> Int32 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    Array(path.utf8).withUnsafeBytes { fnv64($0, &h) }
    return Int32(h % 13)
}

func item(_ path: String, _ dimension: Int) -> NewItem {
    NewItem(vector: probeVector(path: path, dimension: dimension), anchor: anchorFor(path: path),
            metadata: ItemMetadata(path: path, contentHash: "h:" + path, label: "l\(anchorFor(path: path))", width: 32, height: 32))
}

/// The nearest of `count` anchors to `v` (squared L2, ties to the lower index): the routing
/// rule of the anchored subcommands, the same function in every process.
func nearestAnchor(_ v: UnsafeBufferPointer<Float>, _ anchors: [Float], count: Int) -> Int32 {
    let d = v.count
    var best = 0, bestDistance = Float.infinity
    for a in 0..<count {
        var s: Float = 0
        for j in 0..<d { let t = v[j] - anchors[a * d + j]; s += t * t }
        if s < bestDistance { bestDistance = s; best = a }
    }
    return Int32(best)
}

func nearestAnchors(_ vectors: UnsafeBufferPointer<Float>, rows: Int, _ anchors: [Float], count: Int) -> [Int32] {
    let d = vectors.count / max(rows, 1)
    return (0..<rows).map { nearestAnchor(UnsafeBufferPointer(rebasing: vectors[$0 * d ..< ($0 + 1) * d]), anchors, count: count) }
}

/// Inserts `paths` routed with the current generation, read after taking the writer lock (so
/// no switch can come in between; the store would refuse the write if one did).
func insertRouted(_ store: VectorStore, _ paths: [String]) throws -> [UInt64] {
    let d = store.dimension
    let vectors = paths.map { probeVector(path: $0, dimension: d) }
    let flat = vectors.flatMap { $0 }
    return try store.withExclusiveWriteAccess {
        let g = try store.generation()
        let anchors = flat.withUnsafeBufferPointer { buf in
            g.map { nearestAnchors(buf, rows: paths.count, $0.anchors, count: $0.anchorCount) } ?? Array(repeating: 0, count: paths.count)
        }
        let items = paths.indices.map {
            NewItem(vector: vectors[$0], anchor: anchors[$0],
                    metadata: ItemMetadata(path: paths[$0], contentHash: "h:" + paths[$0], label: nil, width: 32, height: 32))
        }
        return try store.insert(items, generation: g?.number)
    }
}

/// Options for this process: defaults, plus the map size from RADB_PROBE_MAP_SIZE.
func probeOptions(durable: Bool = true) -> StoreOptions {
    var options = StoreOptions(durable: durable)
    options.writeLockTimeout = 30
    if let raw = ProcessInfo.processInfo.environment["RADB_PROBE_MAP_SIZE"], let size = Int(raw) { options.initialMapSize = size }
    return options
}

let args = CommandLine.arguments
guard args.count >= 3 else { fail("usage: radb-store-probe create|insert-loop|mutate-loop|read-loop|hold-lock|check DIR …") }
let dir = URL(fileURLWithPath: args[2])

do {
    switch args[1] {
    case "create":
        guard args.count >= 4, let dim = Int(args[3]) else { fail("create DIR DIM [MINBLOCK]") }
        var options = probeOptions()
        if args.count > 4, let minimum = Int(args[4]) { options.minimumBlockVectors = minimum }
        _ = try VectorStore.create(at: dir, dimension: dim, modelIdentity: "probe-model", options: options)
        print("created")

    case "insert-loop":
        guard args.count >= 5, let seed = Int(args[3]), let batchSize = Int(args[4]) else { fail("insert-loop DIR SEED BATCH [N]") }
        let limit = args.count > 5 ? Int(args[5]) ?? Int.max : Int.max
        let store = try VectorStore.open(at: dir, options: probeOptions())
        var batch = 0
        while batch < limit {
            let items = (0..<batchSize).map { item("s\(seed)/b\(batch)/i\($0)", store.dimension) }
            let ids = try store.insert(items)
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for it in items { it.vector.withUnsafeBytes { fnv64($0, &h) } }
            print("committed \(batch) \(ids[0]) \(ids.count) \(String(h, radix: 16))")
            batch += 1
        }

    case "mutate-loop":
        guard args.count == 5, let seed = Int(args[3]), let seconds = Double(args[4]) else { fail("mutate-loop DIR SEED SECONDS") }
        let store = try VectorStore.open(at: dir, options: probeOptions(durable: false))
        var rng = SystemRandomNumberGenerator()
        var live: [UInt64] = []
        let end = Date().addingTimeInterval(seconds)
        var batch = 0, ops = 0
        while Date() < end {
            let n = Int.random(in: 1...40, using: &rng)
            live += try store.insert((0..<n).map { item("m\(seed)/b\(batch)/i\($0)", store.dimension) })
            batch += 1
            if live.count > 50, Bool.random(using: &rng) {
                live.shuffle(using: &rng)
                let k = Int.random(in: 1...min(30, live.count), using: &rng)
                try store.delete(ids: Array(live.suffix(k)))
                live.removeLast(k)
            }
            if live.count > 10, Int.random(in: 0..<3, using: &rng) == 0 {
                // Re-anchoring breaks the path→anchor rule on purpose, then restores it, so readers
                // only ever see anchor changes that a whole commit made.
                let some = Array(live.shuffled(using: &rng).prefix(8))
                try store.moveToAnchor(ids: some, anchor: 99)
                try store.reanchor(try some.map { id in
                    guard let it = try store.item(id: id) else { fail("moved id \(id) vanished") }
                    return (id, anchorFor(path: it.metadata.path))
                })
            }
            ops += 1
        }
        print("mutated \(ops) live \(live.count)")

    case "read-loop":
        guard args.count == 4, let seconds = Double(args[3]) else { fail("read-loop DIR SECONDS") }
        let store = try VectorStore.open(at: dir, options: probeOptions())
        let end = Date().addingTimeInterval(seconds)
        var reads = 0
        var sequences: Set<UInt64> = []
        while Date() < end {
            let (seq, items) = try store.read { snap -> (UInt64, Int) in
                var total = 0
                for p in try snap.partitions {
                    var inPartition = 0
                    try snap.forEachBlock(partition: p.anchor) { block in
                        let rows = try snap.items(ids: Array(block.ids))
                        guard rows.count == block.count else {
                            fail("seq \(snap.sequence): partition \(p.anchor) has \(block.count - rows.count) vectors without a catalog row")
                        }
                        for (i, row) in rows.enumerated() {
                            guard row.id == block.ids[i], row.anchor == p.anchor else {
                                fail("seq \(snap.sequence): id \(row.id) catalog anchor \(row.anchor) ≠ partition \(p.anchor)")
                            }
                            let expected = probeVector(path: row.metadata.path, dimension: block.dimension)
                            let stored = block.vector(at: i)
                            guard expected.elementsEqual(stored, by: { $0.bitPattern == $1.bitPattern }) else {
                                fail("seq \(snap.sequence): vector of id \(row.id) (\(row.metadata.path)) differs")
                            }
                        }
                        inPartition += block.count
                    }
                    guard inPartition == p.count else { fail("seq \(snap.sequence): partition \(p.anchor) count \(p.count) but \(inPartition) vectors") }
                    total += inPartition
                }
                let rows = try snap.ids(matching: .all([])).count
                guard rows == total, try snap.itemCount == total else {
                    fail("seq \(snap.sequence): \(total) vectors, \(rows) catalog rows")
                }
                return (snap.sequence, total)
            }
            reads += 1
            if sequences.insert(seq).inserted { print("snapshot \(seq) \(items)") }
        }
        print("reads \(reads) distinct \(sequences.count)")

    case "hold-lock":
        guard args.count == 4, let seconds = Double(args[3]) else { fail("hold-lock DIR SECONDS") }
        let store = try VectorStore.open(at: dir)
        try store.withExclusiveWriteAccess {
            print("locked \(getpid())")
            Thread.sleep(forTimeInterval: seconds)
        }
        print("released")

    case "create-anchored":
        guard args.count == 6, let dim = Int(args[3]), let n = Int(args[4]), let count = Int(args[5]) else { fail("create-anchored DIR DIM N ANCHORS") }
        let store = try VectorStore.create(at: dir, dimension: dim, modelIdentity: "probe-model", options: probeOptions(durable: false))
        try store.setAnchors((0..<count).flatMap { probeVector(path: "anchor/0/\($0)", dimension: dim) }, count: count)
        for start in stride(from: 0, to: n, by: 1000) {
            _ = try insertRouted(store, (start..<min(n, start + 1000)).map { "base/i\($0)" })
        }
        try store.sync()
        print("created")

    case "switch-loop":
        guard args.count >= 4, let seed = Int(args[3]) else { fail("switch-loop DIR SEED [N]") }
        let limit = args.count > 4 ? Int(args[4]) ?? Int.max : Int.max
        let store = try VectorStore.open(at: dir, options: probeOptions())
        let d = store.dimension
        var round = 0
        while round < limit {
            let count = 2 + (seed * 7919 + round * 104_729) % 29
            let anchors = (0..<count).flatMap { probeVector(path: "anchor/\(seed)/\(round)/\($0)", dimension: d) }
            let report = try store.switchGeneration(anchors: anchors, count: count) { vectors, rows in
                nearestAnchors(vectors, rows: rows, anchors, count: count)
            }
            print("switched \(report.generation) \(count) \(report.moved)")
            round += 1
            usleep(15_000) // let writers of other processes take the lock (it is polled, not queued)
        }

    case "routed-insert-loop":
        guard args.count >= 5, let seed = Int(args[3]), let batchSize = Int(args[4]) else { fail("routed-insert-loop DIR SEED BATCH [N]") }
        let limit = args.count > 5 ? Int(args[5]) ?? Int.max : Int.max
        let store = try VectorStore.open(at: dir, options: probeOptions())
        var batch = 0
        while batch < limit {
            let ids = try insertRouted(store, (0..<batchSize).map { "r\(seed)/b\(batch)/i\($0)" })
            print("committed \(batch) \(ids[0]) \(ids.count)")
            batch += 1
            usleep(15_000) // as in switch-loop
        }

    case "search-loop":
        guard args.count == 4, let seconds = Double(args[3]) else { fail("search-loop DIR SECONDS") }
        let store = try VectorStore.open(at: dir, options: probeOptions())
        let end = Date().addingTimeInterval(seconds)
        var reads = 0, lastItems = 0
        var sequences: Set<UInt64> = [], generations: Set<UInt64> = []
        while Date() < end {
            let (seq, number, items) = try store.read { snap -> (UInt64, UInt64, Int) in
                guard let g = try snap.generation else { fail("seq \(snap.sequence): no generation") }
                var total = 0
                for p in try snap.partitions {
                    guard p.anchor >= 0, Int(p.anchor) < g.anchorCount else {
                        fail("seq \(snap.sequence): partition \(p.anchor) has no anchor in generation \(g.number) (\(g.anchorCount) anchors)")
                    }
                    try snap.forEachBlock(partition: p.anchor) { block in
                        for i in 0..<block.count {
                            let routed = nearestAnchor(block.vector(at: i), g.anchors, count: g.anchorCount)
                            guard routed == p.anchor else {
                                fail("seq \(snap.sequence): id \(block.ids[i]) is in partition \(p.anchor) but generation \(g.number)'s anchors route it to \(routed)")
                            }
                        }
                        total += block.count
                    }
                }
                guard try snap.ids(matching: .all([])).count == total else { fail("seq \(snap.sequence): catalog and vectors disagree") }
                return (snap.sequence, g.number, total)
            }
            guard items >= lastItems else { fail("seq \(seq): \(items) items after a snapshot showed \(lastItems)") }
            lastItems = items
            reads += 1
            generations.insert(number)
            if sequences.insert(seq).inserted { print("snapshot \(seq) \(number) \(items)") }
        }
        print("reads \(reads) distinct \(sequences.count) generations \(generations.count)")

    case "stats":
        var options = probeOptions()
        options.readOnly = true
        let store = try VectorStore.open(at: dir, options: options)
        let (items, seq) = try store.read { (try $0.itemCount, $0.sequence) }
        print("items \(items) seq \(seq)")

    case "interrupt":
        guard args.count == 4, let n = Int(args[3]) else { fail("interrupt DIR N") }
        let store = try VectorStore.open(at: dir, options: probeOptions())
        struct Died: Error {}
        store.afterVectorCommitHook = { throw Died() }
        do {
            try store.insert((0..<n).map { item("interrupted/\($0)", store.dimension) })
            fail("the insert was not interrupted")
        } catch is Died {
            print("interrupted")
        }

    case "die-publishing":
        guard args.count == 4, let n = Int(args[3]) else { fail("die-publishing DIR N") }
        let store = try VectorStore.open(at: dir, options: probeOptions())
        let d = store.dimension
        let paths = (0..<n).map { "dying/i\($0)" }
        let vectors = paths.map { probeVector(path: $0, dimension: d) }
        let g = try store.generation()
        let anchors = vectors.flatMap { $0 }.withUnsafeBufferPointer { buf in
            g.map { nearestAnchors(buf, rows: n, $0.anchors, count: $0.anchorCount) } ?? Array(repeating: 0, count: n)
        }
        let items = paths.indices.map {
            NewItem(vector: vectors[$0], anchor: anchors[$0],
                    metadata: ItemMetadata(path: paths[$0], contentHash: "h:" + paths[$0], label: nil, width: 32, height: 32))
        }
        store.afterVectorCommitHook = { try store.dieBeforeLMDBPublishesLastCommitForTesting() }
        try store.insert(items, generation: g?.number)
        fail("the insert returned")

    case "check":
        let problems = try VectorStore.open(at: dir).check()
        for p in problems { print(p) }
        print("problems \(problems.count)")
        exit(problems.isEmpty ? 0 : 1)

    default:
        fail("unknown subcommand \(args[1])")
    }
} catch {
    fail("\(error)")
}
