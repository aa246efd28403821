import Dispatch
import Foundation

// How long-running commands answer Ctrl-C (SIGINT) and SIGTERM. The signals are ignored at the
// process level and delivered to a dispatch queue instead, so the handlers may take locks, print
// and touch files — none of which a C signal handler may do.

/// Routes SIGINT and SIGTERM to `handler` on a global queue; keep the returned sources alive.
private func handleInterrupts(_ handler: @escaping @Sendable (Int32) -> Void) -> [DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { sig in
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { handler(sig) }
        source.resume()
        return source
    }
}

/// Turns the first SIGINT/SIGTERM into a cancellation request (ingest, train and reindex stop
/// after the batch in flight is committed); a second one kills the process as usual.
/// `@unchecked Sendable`: `flag` is read and written only under `lock`; `sources` is written once,
/// by `install()` on the main thread before any signal handler can run, and never read after.
final class InterruptFlag: @unchecked Sendable {
    private static let shared = InterruptFlag()
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var flag = false

    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return flag }

    static func install() -> InterruptFlag {
        shared.sources = handleInterrupts { sig in
            shared.lock.lock()
            let second = shared.flag
            shared.flag = true
            shared.lock.unlock()
            if second { signal(sig, SIG_DFL); raise(sig) }
            Output.note("\nradb: stopping after the current batch (press Ctrl-C again to abort now)")
        }
        return shared
    }
}

/// For commands that cannot stop half-way but can be abandoned (backup): the first
/// SIGINT/SIGTERM removes the registered partial output and exits with 130 at once.
/// `@unchecked Sendable`: `paths` is read and written only under `lock`; `sources` is written
/// once, by `install()` before any signal handler can run, and never read after.
final class AbortCleanup: @unchecked Sendable {
    private static let shared = AbortCleanup()
    private var sources: [DispatchSourceSignal] = []
    private let lock = NSLock()
    private var paths: [URL] = []

    /// Registers `url` to be deleted if the process is interrupted.
    func removeOnAbort(_ url: URL) { lock.lock(); paths.append(url); lock.unlock() }

    static func install() -> AbortCleanup {
        shared.sources = handleInterrupts { _ in
            shared.lock.lock()
            let doomed = shared.paths
            shared.lock.unlock()
            for url in doomed { try? FileManager.default.removeItem(at: url) }
            Output.note("\nradb: interrupted; the partial output was removed")
            exit(130)
        }
        return shared
    }
}
