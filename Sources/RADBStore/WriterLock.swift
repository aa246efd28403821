import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The cross-process "one writer at a time" lock: an `flock` on `<db>/writer.lock`.
///
/// Why flock: the kernel drops it when the holder dies (even by SIGKILL), so a crashed writer
/// never leaves the database locked. The holder writes its PID into the file so that a
/// waiting writer can say who holds it. Two `VectorStore`s in one process conflict too (each
/// has its own open file description), which is what we want.
/// `@unchecked Sendable`: the descriptor and hold count are read and written only under its
/// lock; `flock` itself is what excludes other processes.
package final class WriterLock: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let mutex = NSRecursiveLock() // serialises writers of this VectorStore within the process
    /// Guards `depth`, `backgroundHolds` and `flockHeld`, which the catalog thread reads too.
    private let state = NSLock()
    /// Nesting of the acquiring thread's `acquire` calls (that thread holds `mutex`).
    private var depth = 0
    /// Catalog commits still running after their write returned (`CatalogCommit`); the flock
    /// stays held until they end, whichever thread ends them.
    private var backgroundHolds = 0
    private var flockHeld = false

    /// With `readOnly` (a store that never writes), a lock file the file system will not open
    /// for writing is opened for reading — `flock` works on it, so recovery still sees a live
    /// writer — or, if it cannot be opened at all on a read-only medium, not at all: then
    /// `tryAcquire` fails, and no one can be writing there anyway.
    init(path: String, readOnly: Bool = false) throws {
        self.path = path
        var descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if descriptor < 0 {
            let err = errno
            if readOnly && [EROFS, EACCES, EPERM].contains(err) {
                descriptor = open(path, O_RDONLY | O_CLOEXEC)
            } else {
                throw StoreError.system(path: path, operation: "opening the write lock", code: err, detail: String(cString: strerror(err)))
            }
        }
        fd = descriptor
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Takes the lock, polling until `timeout`; re-entrant within one thread of this store.
    package func acquire(timeout: TimeInterval) throws {
        mutex.lock()
        state.lock()
        if depth > 0 || flockHeld { depth += 1; state.unlock(); return }
        state.unlock()
        let start = Date()
        var delay: useconds_t = 1000
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            if err != EWOULDBLOCK && err != EINTR {
                mutex.unlock()
                throw StoreError.io(path: path, operation: "flock", reason: String(cString: strerror(err)))
            }
            let waited = Date().timeIntervalSince(start)
            if waited >= timeout {
                mutex.unlock()
                throw StoreError.writerBusy(path: path, holderPID: holderPID(), waited: waited)
            }
            usleep(delay)
            delay = min(delay * 2, 50_000)
        }
        var pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withUTF8 { pwrite(fd, $0.baseAddress, $0.count, 0) }
        state.lock()
        flockHeld = true
        depth = 1
        state.unlock()
    }

    package func release() {
        state.lock()
        depth -= 1
        unlockIfUnused()
        state.unlock()
        mutex.unlock()
    }

    /// Takes the lock if no one holds it; false if held elsewhere.
    func tryAcquire() -> Bool {
        guard mutex.try() else { return false }
        state.lock()
        defer { state.unlock() }
        if depth > 0 || flockHeld { depth += 1; return true }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 { mutex.unlock(); return false }
        flockHeld = true
        depth = 1
        return true
    }

    /// Keeps the flock past the current holder's `release`, until `endBackgroundHold` (called
    /// from any thread). The caller holds the lock.
    func beginBackgroundHold() {
        state.lock()
        backgroundHolds += 1
        state.unlock()
    }

    func endBackgroundHold() {
        state.lock()
        backgroundHolds -= 1
        unlockIfUnused()
        state.unlock()
    }

    /// With `state` held: gives the flock back once no writer and no background hold needs it.
    private func unlockIfUnused() {
        if depth == 0, backgroundHolds == 0, flockHeld {
            _ = flock(fd, LOCK_UN)
            flockHeld = false
        }
    }

    /// PID last written by a holder (may be stale if nobody holds the lock now).
    func holderPID() -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buffer, 31, 0)
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
