import Foundation
import GRDB

// MARK: - Online backup

extension VectorStore {
    /// Writes a consistent, compacted copy of the database to `destination` (which must not
    /// exist or be empty). Readers keep reading meanwhile; writers wait, because the writer
    /// lock is held so that both halves are copied at the same commit.
    ///
    /// ```swift
    /// try store.backup(to: URL(fileURLWithPath: "radb-backup.db"))
    /// ```
    /// - Throws: `.backupFailed` (the partial copy is removed), `.writerBusy`.
    public func backup(to destination: URL) throws {
        let dest = destination.path
        guard !ReadScope.isActive else { throw StoreError.calledInsideReadSnapshot(path: path, operation: "backup") }
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: dest, isDirectory: &isDir) {
            guard isDir.boolValue, ((try? fm.contentsOfDirectory(atPath: dest)) ?? ["?"]).isEmpty else {
                throw StoreError.backupFailed(path: dest, reason: "the destination exists and is not an empty directory")
            }
        }
        try writerLock.acquire(timeout: options.writeLockTimeout)
        defer { writerLock.release() }
        try recoverLocked()
        let vectorsDest = destination.appendingPathComponent(Self.vectorsDirectoryName).path
        let catalogDest = destination.appendingPathComponent(Self.catalogFileName).path
        do {
            try fm.createDirectory(atPath: vectorsDest, withIntermediateDirectories: true)
            try lmdb.copy(to: vectorsDest)
            let queue = try DatabaseQueue(path: catalogDest)
            try catalog.pool.backup(to: queue)
            try queue.writeWithoutTransaction { db in
                _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            }
            try queue.close()
        } catch {
            try? fm.removeItem(atPath: dest)
            throw StoreError.backupFailed(path: dest, reason: "\(error)")
        }
    }
}
