import Foundation
import RADBStore
import XCTest

/// Online backup: consistent, compact, and usable as a database.
final class BackupTests: StoreTestCase {
    func testBackupWhileReadingIsAConsistentCompactCopy() throws {
        let d = 32
        let store = try makeStore(dimension: d)
        let items = newItems(3000, dimension: d, anchors: 10, seed: 51)
        var ids = try store.insert(items)
        try store.setAnchors((0..<10 * d).map { Float($0) }, count: 10)
        try store.delete(ids: Array(ids[..<1000]))
        ids.removeFirst(1000)
        let dest = databaseURL("backup")
        // A reader holds a snapshot on another thread during the backup.
        let reading = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? store.read { snap in
                reading.signal()
                _ = try snap.partitions
                done.wait()
            }
        }
        reading.wait()
        try store.backup(to: dest)
        done.signal()

        let copy = try VectorStore.open(at: dest, dimension: d, modelIdentity: "model-A", options: fastOptions)
        try assertClean(copy)
        XCTAssertEqual(try copy.stats().items, 2000)
        XCTAssertEqual(try copy.anchors(), try store.anchors())
        for (i, id) in ids.enumerated() where i % 7 == 0 {
            assertBitIdentical(try copy.vector(id: id), items[i + 1000].vector)
            XCTAssertEqual(try copy.item(id: id), try store.item(id: id))
        }
        XCTAssertLessThanOrEqual(try copy.stats().vectorBytes, try store.stats().vectorBytes, "compacting copy")
        // The copy is independent: writing to it leaves the original alone.
        try copy.insert(newItems(5, dimension: d, anchors: 2, seed: 52))
        XCTAssertEqual(try store.stats().items, 2000)

        assertStoreError(try store.backup(to: dest)) { if case .backupFailed = $0 { return true }; return false }
    }
}
