import Foundation

// MARK: - The commit protocol

extension VectorStore {
    /// Runs one numbered write following the commit protocol (see the top of VectorStore.swift).
    ///
    /// `prepare` computes the catalog half from the committed state (the writer lock is held,
    /// so that state cannot move); `vectorHalf` edits partitions and may run more than once
    /// (map growth). The catalog transaction is filled on another core while LMDB works, but
    /// it commits only after LMDB's commit returned — step 4 still follows step 3 — and rolls
    /// back if the LMDB half fails.
    ///
    /// `alongside` runs on the calling thread once the catalog thread has started, before the
    /// LMDB transaction: work the vector half needs that can overlap the catalog inserts. If it
    /// throws, both halves are abandoned and nothing is written.
    ///
    /// `prepare` returns a builder of the catalog half, run on the catalog thread: building the
    /// rows and their journal (~1 MB per 10k-row insert) then overlaps the vector half too.
    /// For an insert the catalog thread also keys the content hashes (it needs them for its
    /// rows) and sorts the content-index entries; `vectorHalf` gets those from its
    /// `contentEntries` argument, so the calling thread neither hashes nor sorts.
    ///
    /// The write returns once its LMDB commit is done; its SQLite commit may still be running
    /// (`CatalogCommit`). With `overlapsPreviousCommit` (inserts: `prepare` does not read the
    /// catalog) a write starts while the previous write's SQLite commit still runs, and waits
    /// for it only before its own LMDB commit; any other write waits for it first.
    func performWrite(_ operation: String, overlapsPreviousCommit: Bool = false,
                      prepare: (_ nextId: UInt64) throws -> @Sendable () -> PendingOperation,
                      alongside: () throws -> Void = {},
                      vectorHalf: (PartitionWriter, _ nextId: UInt64, _ contentEntries: () -> [ContentIndex.Entry]) throws -> Void) throws {
        guard !ReadScope.isActive else { throw StoreError.calledInsideReadSnapshot(path: path, operation: operation) }
        guard !options.readOnly else { throw StoreError.readOnly(path: path, operation: operation) }
        try writerLock.acquire(timeout: options.writeLockTimeout)
        defer { writerLock.release() }
        // The previous write's SQLite commit, if still running: the state is then known (LMDB
        // one ahead until it commits), so recovery is not needed now — unless it already failed.
        var previous = overlapsPreviousCommit ? pipeline.last : nil
        if let p = previous, p.isFinished { previous = nil }
        if previous == nil { try recoverLocked() } // waits for a running commit first
        let contents = try contentsForWriting()
        let (seq, nextId) = try lmdbCall {
            try lmdb.read { txn in ((try txn.metaUInt64("seq") ?? 0) + 1, try txn.metaUInt64("nextId") ?? 1) }
        }
        let buildOperation = try prepare(nextId)

        // Catalog half, concurrently on the store's serial catalog queue (so after the previous
        // write's commit): build the operation and its journal (handed to the vector half,
        // which records it in its transaction), apply it, then wait for the verdict on the
        // vector half and commit.
        let verdict = DispatchSemaphore(value: 0)
        let box = CatalogWriteBox()
        let commit = CatalogCommit(sequence: seq)
        let catalog = self.catalog, pipeline = self.pipeline, writerLock = self.writerLock
        let beforeApply = beforeCatalogApplyHook, beforeCommit = beforeCatalogCommitHook
        pipeline.queue.async {
            let start = threadCPUSeconds()
            let op = buildOperation()
            let keys = op.insertedContentKeys()
            box.publishJournal(op.encoded(), contentEntries: op.insertedContentEntries(keys: keys)) // before any SQLite call, so it is always published
            var applySeconds = 0.0, commitStart = 0.0, failure: Error?, heardVerdict = false
            do {
                try catalog.pool.write { db in
                    try beforeApply?()
                    try Catalog.apply(op, sequence: seq, db: db, contentKeys: keys)
                    applySeconds = threadCPUSeconds() - start
                    verdict.wait()
                    heardVerdict = true
                    commitStart = threadCPUSeconds()
                    if !box.vectorsCommitted { throw CatalogWriteBox.Abandoned() }
                    try beforeCommit?()
                }
            } catch {
                failure = error
            }
            // Even when SQLite failed early, the writer's verdict decides who ends the lock hold
            // it takes for a decided write, so wait for it.
            if !heardVerdict { verdict.wait() }
            let commitSeconds = commitStart > 0 ? threadCPUSeconds() - commitStart : 0
            pipeline.addToProfile { $0.catalogApplySeconds += applySeconds; $0.catalogCommitSeconds += commitSeconds }
            let handedOff = box.vectorsCommitted // set before the verdict was signalled
            commit.finish(error: failure)
            if handedOff { writerLock.endBackgroundHold() }
        }
        /// Abandons the catalog half after the LMDB half failed, and waits for its rollback.
        func abandonCatalog() {
            box.vectorsCommitted = false
            verdict.signal()
            commit.wait()
        }

        let vectorStart = threadCPUSeconds(), vectorStartWall = wallSeconds()
        var waitedWall = 0.0
        do {
            try alongside()
            try lmdbCall {
                try lmdb.write { txn in
                    let writer = PartitionWriter(txn: txn, layout: layout, contents: contents,
                                                 contentMergeMinimum: options.contentIndexMergeMinimum)
                    try vectorHalf(writer, nextId, { box.contentEntries() })
                    try writer.flush()
                    try txn.putMeta("seq", seq)
                    let journal = box.journal() // the catalog thread started: the previous commit finished
                    if let previous {
                        let waitStart = wallSeconds()
                        if let error = previous.wait() {
                            throw StoreError.corruptCatalog(path: catalog.path,
                                reason: "the catalog half of commit \(previous.sequence) failed (\(error)); it is replayed on the next write or open")
                        }
                        waitedWall += wallSeconds() - waitStart
                    }
                    try journal.withUnsafeBytes { try txn.putMeta("pending", bytes: $0) }
                }
            }
            if let hook = afterVectorCommitHook { try hook() }
        } catch {
            abandonCatalog()
            if previous != nil { pipeline.setLast(nil) } // so the next write recovers first
            throw error
        }
        // Decided. The catalog thread commits on its own; the writer lock stays held until it has.
        writerLock.beginBackgroundHold()
        box.vectorsCommitted = true
        pipeline.setLast(commit)
        verdict.signal()
        let vectorCPU = threadCPUSeconds() - vectorStart, vectorWall = wallSeconds() - vectorStartWall
        pipeline.addToProfile {
            $0.vectorHalfSeconds += vectorCPU
            $0.vectorHalfWallSeconds += vectorWall
            $0.catalogWaitWallSeconds += waitedWall
        }
    }
}

/// State shared between a write and its concurrent catalog transaction.
/// `@unchecked Sendable`: `journalBytes` and `entries` are read and written only under `lock`;
/// the `journalReady` semaphore only makes a reader wait for the one publication.
fileprivate final class CatalogWriteBox: @unchecked Sendable {
    struct Abandoned: Error {}
    private let journalReady = DispatchSemaphore(value: 0)
    private var journalBytes: [UInt8]?
    private let lock = NSLock()

    private var entries: [ContentIndex.Entry] = []

    /// Called once by the catalog thread.
    func publishJournal(_ bytes: [UInt8], contentEntries: [ContentIndex.Entry]) {
        lock.lock()
        journalBytes = bytes
        entries = contentEntries
        lock.unlock()
        journalReady.signal()
    }

    /// The content-index entries of an insert's rows, sorted (empty for other operations),
    /// waiting for the catalog thread like `journal()`.
    func contentEntries() -> [ContentIndex.Entry] {
        _ = journal()
        lock.lock()
        defer { lock.unlock() }
        return entries
    }

    /// The journal of the operation, waiting for the catalog thread the first time (the vector
    /// half may run more than once, after map growth).
    func journal() -> [UInt8] {
        lock.lock()
        if let bytes = journalBytes { lock.unlock(); return bytes }
        lock.unlock()
        journalReady.wait()
        lock.lock()
        defer { lock.unlock() }
        return journalBytes!
    }

    /// Set before the verdict semaphore is signalled; read after waiting on it.
    var vectorsCommitted = false
}

/// Where write time goes (summed over writes, for the benchmark).
package struct WriteProfile: Sendable {
    /// Thread CPU of the calling thread from the start of `alongside` to the LMDB commit.
    package var vectorHalfSeconds = 0.0
    /// Wall time of the same span.
    package var vectorHalfWallSeconds = 0.0
    /// Catalog thread CPU building the rows, the journal, and filling the SQLite transaction
    /// (concurrent with the vector half).
    package var catalogApplySeconds = 0.0
    /// Catalog thread CPU of the SQLite commit (WAL writes, checkpoints), after the LMDB commit
    /// (it overlaps the next insert's vector half).
    package var catalogCommitSeconds = 0.0
    /// Wall time writers waited, before their LMDB commit, for the previous write's SQLite
    /// commit to finish.
    package var catalogWaitWallSeconds = 0.0
}

/// Monotonic wall-clock seconds.
func wallSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// CPU time of the calling thread.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

// MARK: - Write sessions

extension VectorStore {
    /// Holds the cross-process writer lock for the whole of `body`, so a sequence of writes
    /// (an ingest run) is not interleaved with another process's writes. Store writes inside
    /// `body` re-enter the lock; other processes' writers wait (and time out) meanwhile.
    /// Returns once the catalog has every write of `body` (see `CatalogCommit`).
    /// - Throws: `.writerBusy`, what `body` throws, or `.corruptCatalog` if the catalog half of
    ///   its last write failed and cannot be rolled forward (it stays in LMDB's journal).
    public func withExclusiveWriteAccess<T>(_ body: () throws -> T) throws -> T {
        guard !ReadScope.isActive else {
            throw StoreError.calledInsideReadSnapshot(path: path, operation: "withExclusiveWriteAccess")
        }
        guard !options.readOnly else { throw StoreError.readOnly(path: path, operation: "withExclusiveWriteAccess") }
        try writerLock.acquire(timeout: options.writeLockTimeout)
        defer { writerLock.release() }
        try recoverLocked()
        let result = try body()
        // The last insert's catalog commit may still run: wait for it, and if it failed, roll
        // the catalog forward now, so a failure surfaces here rather than at some later write.
        try recoverLocked()
        return result
    }
}
