import Foundation

/// The catalog (SQLite) commit of one write, which may still be running after the write
/// returned.
///
/// Why: a write is decided by its LMDB commit (step 3 of the protocol in VectorStore.swift);
/// the SQLite commit that follows only catches the catalog up, and recovery replays it from
/// LMDB's journal if it never happens. Letting an insert return right after its LMDB commit
/// lets the next insert's vector half overlap this commit — in a bulk load the calling
/// thread no longer idles ~15 % of the time waiting for SQLite.
///
/// Invariants kept: the writer lock stays held until the commit finished
/// (`WriterLock.beginBackgroundHold`), so no other process writes or recovers meanwhile; the
/// next write of this store commits LMDB only after this commit finished and succeeded, so
/// LMDB is never more than one commit ahead of the catalog; and every read, recovery, sync
/// and non-insert write of this store first waits for it (`VectorStore.waitForCatalogCommit`).
/// `@unchecked Sendable`: `finished` and `failure` are read and written only while holding
/// `condition`'s lock; the rest are `let`s.
final class CatalogCommit: @unchecked Sendable {
    /// The write's commit sequence number.
    let sequence: UInt64
    private let condition = NSCondition()
    private var finished = false
    private var failure: Error?

    init(sequence: UInt64) { self.sequence = sequence }

    /// Called once by the catalog thread when the SQLite transaction committed (nil) or failed.
    func finish(error: Error?) {
        condition.lock()
        failure = error
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Whether the commit finished (either way).
    var isFinished: Bool {
        condition.lock()
        defer { condition.unlock() }
        return finished
    }

    /// Waits until the commit finished; its error, if it failed.
    @discardableResult
    func wait() -> Error? {
        condition.lock()
        defer { condition.unlock() }
        while !finished { condition.wait() }
        return failure
    }
}

/// The one commit of a store that may be running after its write returned, and the write
/// profile both threads add to.
/// `@unchecked Sendable`: the running commit and the profile are read and written only under
/// its lock.
final class CommitPipeline: @unchecked Sendable {
    private let lock = NSLock()
    private var running: CatalogCommit?
    private var profile = WriteProfile()
    /// Serial: the catalog half of write N+1 starts only after write N's commit finished.
    let queue = DispatchQueue(label: "radb.store.catalog", qos: .userInitiated)

    /// The commit left running by the last write, if any (finished or not).
    var last: CatalogCommit? {
        lock.lock()
        defer { lock.unlock() }
        return running
    }

    func setLast(_ commit: CatalogCommit?) {
        lock.lock()
        running = commit
        lock.unlock()
    }

    /// Waits for the last commit and forgets it (unless a newer write has replaced it
    /// meanwhile). Its error is not thrown here: the catalog then lags LMDB by one, which
    /// recovery repairs (and reports if it cannot).
    func drain() {
        guard let commit = last else { return }
        commit.wait()
        lock.lock()
        if running === commit { running = nil }
        lock.unlock()
    }

    var writeProfile: WriteProfile {
        lock.lock()
        defer { lock.unlock() }
        return profile
    }

    func addToProfile(_ change: (inout WriteProfile) -> Void) {
        lock.lock()
        change(&profile)
        lock.unlock()
    }
}
