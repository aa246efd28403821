import Foundation
import RADBStore
import XCTest

/// Kill -9 at random moments, and writers that die between their two commits.
final class CrashRecoveryTests: StoreTestCase {
    private struct Batch { let round: Int; let number: Int; let firstId: UInt64; let count: Int; let fnv: UInt64 }

    private func fnv64(_ vectors: [[Float]]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in vectors { v.withUnsafeBytes { for b in $0 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 } } }
        return h
    }

    func testSIGKILLDuringInsertLoopLosesNothingAcknowledged() throws {
        let url = databaseURL()
        let dim = 32, batchSize = 200, rounds = 24
        _ = try VectorStore.create(at: url, dimension: dim, modelIdentity: "probe-model", options: StoreOptions())
        var committed: [Batch] = []
        var rng = SplitMix(state: 2024)
        var killedMidRun = 0
        for round in 0..<rounds {
            let probe = try startProbe(["insert-loop", url.path, "\(round)", "\(batchSize)"])
            usleep(UInt32.random(in: 30_000...450_000, using: &rng))
            probe.kill()
            XCTAssertEqual(probe.process.terminationReason, .uncaughtSignal)
            var reported = 0
            for line in probe.remainingLines() {
                let f = line.split(separator: " ")
                guard f.count == 5, f[0] == "committed", let b = Int(f[1]), let first = UInt64(f[2]),
                      let n = Int(f[3]), let h = UInt64(f[4], radix: 16) else { continue }
                XCTAssertEqual(b, reported, "batches are reported in order")
                committed.append(Batch(round: round, number: b, firstId: first, count: n, fnv: h))
                reported += 1
            }
            if reported > 0 { killedMidRun += 1 }

            // Reopen (runs recovery), then prove every invariant.
            let store = try VectorStore.open(at: url, dimension: dim, modelIdentity: "probe-model", options: fastOptions)
            XCTAssertEqual(try store.check(), [], "round \(round): check() after SIGKILL")
            try store.read { snap in
                for batch in committed {
                    let ids = (0..<UInt64(batch.count)).map { batch.firstId + $0 }
                    let rows = try snap.items(ids: ids)
                    XCTAssertEqual(rows.count, batch.count, "round \(round): batch \(batch.round)/\(batch.number) lost rows")
                    for (i, row) in rows.enumerated() {
                        XCTAssertEqual(row.metadata.path, "s\(batch.round)/b\(batch.number)/i\(i)")
                    }
                    var buffer = [Float](repeating: 0, count: batch.count * dim)
                    try buffer.withUnsafeMutableBufferPointer { try snap.gatherVectors(ids: ids, into: $0) }
                    let vectors = (0..<batch.count).map { Array(buffer[$0 * dim ..< ($0 + 1) * dim]) }
                    XCTAssertEqual(fnv64(vectors), batch.fnv, "round \(round): vectors of batch \(batch.round)/\(batch.number) differ")
                    // The content-hash index (LMDB, same transaction as the vectors) finds them.
                    for i in [0, batch.count - 1] {
                        XCTAssertEqual(try snap.items(contentHash: "h:s\(batch.round)/b\(batch.number)/i\(i)").map(\.id),
                                       [batch.firstId + UInt64(i)], "round \(round): lookup by content hash")
                    }
                }
                // A batch the probe never started is not found.
                XCTAssertEqual(try snap.items(contentHash: "h:s\(round)/b\(reported + 1)/i0"), [])
                // Atomicity: this round's items form whole batches — the reported ones, plus at
                // most the one that committed just before the kill could print.
                let mine = try snap.ids(matching: .pathGlob("s\(round)/*")).count
                XCTAssertTrue(mine == reported * batchSize || mine == (reported + 1) * batchSize,
                              "round \(round): \(mine) items for \(reported) reported batches of \(batchSize)")
                let total = try snap.itemCount
                XCTAssertEqual(total % batchSize, 0, "only whole batches survive")
                XCTAssertGreaterThanOrEqual(total, committed.count * batchSize)
            }
        }
        XCTAssertGreaterThanOrEqual(killedMidRun, rounds / 2, "most kills should land after some commits")
    }

    /// Drives each kind of write to the point between the LMDB and SQLite commits, then proves
    /// that the next open rolls the catalog forward.
    func testRecoveryRollsEachOperationForward() throws {
        struct Died: Error {}
        let url = databaseURL()
        let d = 5
        var items = newItems(120, dimension: d, anchors: 4, seed: 31)
        var ids: [UInt64] = []
        do {
            let store = try makeStore(dimension: d)
            ids = try store.insert(Array(items[..<100]))
            store.afterVectorCommitHook = { throw Died() }
            XCTAssertThrowsError(try store.insert(Array(items[100...])))
        }
        do {
            let store = try VectorStore.open(at: url, options: fastOptions)
            XCTAssertEqual(try store.check(), [])
            ids += Array(101...120).map(UInt64.init)
            XCTAssertEqual(try store.item(id: 120)?.metadata, items[119].metadata, "insert rolled forward")
            XCTAssertEqual(try store.items(contentHash: items[119].metadata.contentHash).map(\.id), [120])
            assertBitIdentical(try store.vector(id: 120), items[119].vector)
            store.afterVectorCommitHook = { throw Died() }
            XCTAssertThrowsError(try store.delete(ids: [ids[0], ids[1]]))
        }
        do {
            let store = try VectorStore.open(at: url, options: fastOptions)
            XCTAssertEqual(try store.check(), [])
            XCTAssertNil(try store.item(id: ids[0]), "delete rolled forward")
            XCTAssertEqual(try store.items(contentHash: items[0].metadata.contentHash), [])
            XCTAssertEqual(try store.stats().items, 118)
            store.afterVectorCommitHook = { throw Died() }
            XCTAssertThrowsError(try store.moveToAnchor(ids: [ids[5], ids[6]], anchor: 40))
        }
        do {
            let store = try VectorStore.open(at: url, options: fastOptions)
            XCTAssertEqual(try store.check(), [])
            XCTAssertEqual(try store.item(id: ids[5])?.anchor, 40, "re-anchoring rolled forward")
            store.afterVectorCommitHook = { throw Died() }
            items[7].metadata.label = "relabelled"
            let oldHash = items[7].metadata.contentHash
            items[7].metadata.contentHash = "rehashed"
            XCTAssertThrowsError(try store.updateMetadata(id: ids[7], items[7].metadata))
            // A reader of the same process finds the writer gone and recovers by itself.
            store.afterVectorCommitHook = nil
            XCTAssertEqual(try store.item(id: ids[7])?.metadata.label, "relabelled")
            XCTAssertEqual(try store.items(contentHash: "rehashed").map(\.id), [ids[7]])
            XCTAssertEqual(try store.items(contentHash: oldHash), [])
            XCTAssertEqual(try store.check(), [])
        }
    }
}
