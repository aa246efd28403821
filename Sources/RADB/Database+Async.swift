import Dispatch
import Foundation
import RADBCore
import Synchronization

/// How far a long operation has come: the one progress type of radb's `async` API.
///
/// Why one type: ingest, learning, reindexing, checks and batch searches all report "this many of
/// that many, in this phase", so an app draws every progress bar with one piece of code.
public struct OperationProgress: Sendable, Equatable {
    /// What is being done now, e.g. "ingest", "learn: training", "check: vectors".
    public var phase: String
    /// Units done and the total (files, items, queries or steps; `total` 0 when unknown).
    public var completed: Int
    public var total: Int

    public init(phase: String, completed: Int, total: Int) {
        self.phase = phase
        self.completed = completed
        self.total = total
    }

    /// `completed / total` in 0…1 (0 while the total is unknown).
    public var fraction: Double { total > 0 ? min(1, Double(completed) / Double(total)) : 0 }
}

// MARK: - async variants of the long operations

extension Database {
    /// `ingest(_:options:progress:isCancelled:)` off the caller's thread. Cancelling the task
    /// stops the ingest after the batch in flight is committed; the report says `cancelled`, and
    /// everything committed stays stored.
    public func ingest(_ paths: [URL], options: IngestOptions = IngestOptions(),
                       progress: (@Sendable (OperationProgress) -> Void)? = nil) async throws -> IngestReport {
        try await Self.offThread { isCancelled in
            try self.ingest(paths, options: options, progress: { p in
                progress?(OperationProgress(phase: "ingest", completed: p.processed, total: p.total))
            }, isCancelled: isCancelled)
        }
    }

    /// `learn(_:isCancelled:progress:)` off the caller's thread. Cancelling the task stops
    /// training and throws; the previous model generation stays whole.
    @discardableResult
    public func learn(_ options: LearnOptions = LearnOptions(),
                      progress: (@Sendable (OperationProgress) -> Void)? = nil) async throws -> LearnReport {
        try await Self.offThread { isCancelled in
            try self.learn(options, isCancelled: isCancelled, progress: { line in
                progress?(OperationProgress(phase: "learn: \(line)", completed: 0, total: 0))
            })
        }
    }

    /// `reindex(anchorCount:progress:)` off the caller's thread. A reindex is one commit, so
    /// cancellation is honoured only before it starts (it throws `CancellationError`).
    public func reindex(anchorCount: Int? = nil,
                        progress: (@Sendable (OperationProgress) -> Void)? = nil) async throws -> Int {
        try await Self.offThread { isCancelled in
            if isCancelled() { throw CancellationError() }
            return try self.reindex(anchorCount: anchorCount, progress: { done, total in
                progress?(OperationProgress(phase: "reindex", completed: done, total: total))
            })
        }
    }

    /// Nearest stored items of many query vectors (rows of `vectors`), off the caller's thread,
    /// in chunks of 256 queries; cancelling the task stops between chunks and throws
    /// `CancellationError`.
    public func search(vectors: NPYMatrix, options: SearchOptions = SearchOptions(),
                       progress: (@Sendable (OperationProgress) -> Void)? = nil) async throws -> [[SearchMatch]] {
        try await Self.offThread { isCancelled in
            var results: [[SearchMatch]] = []
            results.reserveCapacity(vectors.rows)
            let chunk = 256
            for start in stride(from: 0, to: vectors.rows, by: chunk) {
                if isCancelled() { throw CancellationError() }
                let end = min(vectors.rows, start + chunk)
                let part = NPYMatrix(rows: end - start, columns: vectors.columns,
                                     values: Array(vectors.values[(start * vectors.columns)..<(end * vectors.columns)]))
                results += try self.search(vectors: part, options: options)
                progress?(OperationProgress(phase: "search", completed: end, total: vectors.rows))
            }
            return results
        }
    }

    /// Every broken invariant (`check(progress:)`), off the caller's thread. Cancelling the task
    /// stops at the next progress step and throws `CancellationError`.
    public func check(progress: (@Sendable (OperationProgress) -> Void)? = nil) async throws -> [String] {
        try await Self.offThread { isCancelled in
            let problems = try self.check(progress: { phase, done, total in
                progress?(OperationProgress(phase: "check: \(phase)", completed: done, total: total))
            })
            if isCancelled() { throw CancellationError() }
            return problems
        }
    }

    /// `backup(to:)` off the caller's thread. Cancelling the task before the copy is renamed into
    /// place leaves nothing under `destination`.
    public func backup(to destination: URL) async throws {
        try await Self.offThread { isCancelled in
            if isCancelled() { throw CancellationError() }
            try self.backup(to: destination)
        }
    }

    /// `export(vectorsTo:metadataTo:)` off the caller's thread.
    public func export(vectorsTo vectorsURL: URL, metadataTo metadataURL: URL) async throws -> Int {
        try await Self.offThread { isCancelled in
            if isCancelled() { throw CancellationError() }
            return try self.export(vectorsTo: vectorsURL, metadataTo: metadataURL)
        }
    }

    /// Runs `body` on a Dispatch thread (never blocking the Swift concurrency pool, whose threads
    /// are few), with `isCancelled` turned on when the calling task is cancelled.
    static func offThread<T: Sendable>(_ body: @escaping @Sendable (_ isCancelled: @escaping @Sendable () -> Bool) throws -> T)
        async throws -> T {
        let cancelled = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
                DispatchQueue.global(qos: .userInitiated).async {
                    continuation.resume(with: Result { try body { cancelled.isSet } })
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }
}

/// A flag that task cancellation raises and a worker thread polls. Sendable by construction.
private final class CancellationFlag: Sendable {
    private let raised = Atomic(false)
    func set() { raised.store(true, ordering: .releasing) }
    var isSet: Bool { raised.load(ordering: .acquiring) }
}
