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
    /// rows); `vectorHalf` gets them from its `contentKeys` argument instead of hashing again.
    func performWrite(_ operation: String, prepare: (_ nextId: UInt64) throws -> @Sendable () -> PendingOperation,
                      alongside: () throws -> Void = {},
                      vectorHalf: (PartitionWriter, _ nextId: UInt64, _ contentKeys: () -> [UInt64]) throws -> Void) throws {
        guard !ReadScope.isActive else { throw StoreError.calledInsideReadSnapshot(path: path, operation: operation) }
        guard !options.readOnly else { throw StoreError.readOnly(path: path, operation: operation) }
        try writerLock.acquire(timeout: options.writeLockTimeout)
        defer { writerLock.release() }
        try recoverLocked()
        let contents = try contentsForWriting()
        let (seq, nextId) = try lmdbCall {
            try lmdb.read { txn in ((try txn.metaUInt64("seq") ?? 0) + 1, try txn.metaUInt64("nextId") ?? 1) }
        }
        let buildOperation = try prepare(nextId)

        // Catalog half, concurrently: build the operation and its journal (handed to the vector
        // half, which records it in its transaction), apply it, then wait for the verdict on
        // the vector half.
        let verdict = DispatchSemaphore(value: 0), catalogFinished = DispatchSemaphore(value: 0)
        let box = CatalogWriteBox()
        let catalog = self.catalog
        DispatchQueue.global(qos: .userInitiated).async {
            let start = threadCPUSeconds()
            let op = buildOperation()
            let keys = op.insertedContentKeys()
            box.publishJournal(op.encoded(), contentKeys: keys) // before any SQLite call, so it is always published
            do {
                try catalog.pool.write { db in
                    try Catalog.apply(op, sequence: seq, db: db, contentKeys: keys)
                    box.applySeconds = threadCPUSeconds() - start
                    verdict.wait()
                    box.commitStart = threadCPUSeconds()
                    if !box.vectorsCommitted { throw CatalogWriteBox.Abandoned() }
                }
                box.commitSeconds = threadCPUSeconds() - box.commitStart
            } catch {
                box.error = error
            }
            catalogFinished.signal()
        }
        func finishCatalog(vectorsCommitted: Bool) {
            box.vectorsCommitted = vectorsCommitted
            verdict.signal()
            catalogFinished.wait()
        }

        let vectorStart = threadCPUSeconds(), vectorStartWall = wallSeconds()
        do {
            try alongside()
            try lmdbCall {
                try lmdb.write { txn in
                    let writer = PartitionWriter(txn: txn, layout: layout, contents: contents,
                                                 contentMergeMinimum: options.contentIndexMergeMinimum)
                    try vectorHalf(writer, nextId, { box.contentKeys() })
                    try writer.flush()
                    try txn.putMeta("seq", seq)
                    try box.journal().withUnsafeBytes { try txn.putMeta("pending", bytes: $0) }
                }
            }
            if let hook = afterVectorCommitHook { try hook() }
        } catch {
            finishCatalog(vectorsCommitted: false)
            throw error
        }
        writeProfile.vectorHalfSeconds += threadCPUSeconds() - vectorStart
        let waitStart = wallSeconds()
        writeProfile.vectorHalfWallSeconds += waitStart - vectorStartWall
        finishCatalog(vectorsCommitted: true)
        writeProfile.catalogWaitWallSeconds += wallSeconds() - waitStart
        writeProfile.catalogCommitSeconds += box.commitSeconds
        writeProfile.catalogApplySeconds += box.applySeconds
        if let error = box.error {
            // The write is decided (LMDB committed); recovery completes the catalog later.
            throw (error as? StoreError) ?? StoreError.corruptCatalog(path: catalog.path,
                reason: "the catalog half of commit \(seq) failed (\(error)); it is replayed on the next write or open")
        }
    }
}

/// State shared between a write and its concurrent catalog transaction.
fileprivate final class CatalogWriteBox: @unchecked Sendable {
    struct Abandoned: Error {}
    private let journalReady = DispatchSemaphore(value: 0)
    private var journalBytes: [UInt8]?
    private let lock = NSLock()

    private var keys: [UInt64] = []

    /// Called once by the catalog thread.
    func publishJournal(_ bytes: [UInt8], contentKeys: [UInt64]) {
        lock.lock()
        journalBytes = bytes
        keys = contentKeys
        lock.unlock()
        journalReady.signal()
    }

    /// The content keys of an insert's rows (empty for other operations), waiting for the
    /// catalog thread like `journal()`.
    func contentKeys() -> [UInt64] {
        _ = journal()
        lock.lock()
        defer { lock.unlock() }
        return keys
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
    /// Set before the finished semaphore is signalled.
    var error: Error?
    var applySeconds = 0.0
    var commitStart = 0.0
    var commitSeconds = 0.0
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
    /// Catalog thread CPU of the SQLite commit (WAL writes, checkpoints), after the LMDB commit.
    package var catalogCommitSeconds = 0.0
    /// Wall time the calling thread waited after its LMDB commit: for the catalog thread to
    /// finish filling its transaction, then for its commit.
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
    /// - Throws: `.writerBusy`, or what `body` throws.
    public func withExclusiveWriteAccess<T>(_ body: () throws -> T) throws -> T {
        guard !ReadScope.isActive else {
            throw StoreError.calledInsideReadSnapshot(path: path, operation: "withExclusiveWriteAccess")
        }
        guard !options.readOnly else { throw StoreError.readOnly(path: path, operation: "withExclusiveWriteAccess") }
        try writerLock.acquire(timeout: options.writeLockTimeout)
        defer { writerLock.release() }
        try recoverLocked()
        return try body()
    }
}
