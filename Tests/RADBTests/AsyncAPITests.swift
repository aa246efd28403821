import Foundation
import RADB
import Synchronization
import XCTest

/// The `async` face of the library: long operations off the caller's thread with one progress
/// type and Swift task cancellation, and the read-only `DatabaseReader` handle.
final class AsyncAPITests: XCTestCase {
    private var work: URL!
    private let photos = CLIHarness.repositoryRoot.appendingPathComponent("Fixtures/photos")

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("radb-async-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: work) }

    func testAsyncIngestReportsProgressAndMatchesTheSynchronousSearch() async throws {
        let db = try Database.openOrCreate(at: work.appendingPathComponent("a.radb"))
        let seen = ProgressLog()
        let report = try await db.ingest([photos], options: IngestOptions(batchSize: 4), progress: { seen.add($0) })
        XCTAssertEqual(report.added, 9)
        XCTAssertFalse(report.cancelled)
        let steps = seen.entries
        XCTAssertEqual(steps.map(\.phase), ["ingest", "ingest", "ingest"])
        XCTAssertEqual(steps.map(\.completed), [4, 8, 9])
        XCTAssertEqual(steps.last?.fraction, 1)

        // A batch of vector queries, async, gives what the synchronous call gives.
        let names = ["cat.png", "owl.jpg", "bird.png"]
        let embedder = try XCTUnwrap(db.embedder)
        let vectors = try names.map { try embedder.embed(file: photos.appendingPathComponent($0)) }
        let matrix = NPYMatrix(rows: 3, columns: vectors[0].count, values: vectors.flatMap { $0 })
        let options = SearchOptions(k: 3, probe: .exact)
        let asynchronous = try await db.search(vectors: matrix, options: options)
        XCTAssertEqual(asynchronous, try Self.searchSynchronously(db, matrix, options))
        XCTAssertEqual(asynchronous.map { $0.first.map { URL(fileURLWithPath: $0.path).lastPathComponent } }, names)
        XCTAssertEqual(asynchronous.map { $0.first?.distance }, [0, 0, 0])
        let problems = try await db.check()
        XCTAssertEqual(problems, [])
    }

    /// The blocking call (in an `async` function the `async` overload is preferred).
    private static func searchSynchronously(_ db: Database, _ m: NPYMatrix, _ o: SearchOptions) throws -> [[SearchMatch]] {
        try db.search(vectors: m, options: o)
    }

    /// Cancelling the task stops the ingest after the batch in flight; what it committed stays,
    /// and the next ingest adds exactly the rest.
    func testCancellingTheTaskStopsTheIngestAndKeepsWhatWasCommitted() async throws {
        let db = try Database.openOrCreate(at: work.appendingPathComponent("c.radb"))
        let firstBatch = DispatchSemaphore(value: 0)
        let photos = self.photos
        let task = Task {
            try await db.ingest([photos], options: IngestOptions(batchSize: 1), progress: { p in
                if p.completed == 1 { firstBatch.signal() }
            })
        }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { firstBatch.wait(); done.resume() }
        }
        task.cancel()
        let report = try await task.value
        XCTAssertTrue(report.cancelled)
        XCTAssertGreaterThanOrEqual(report.added, 1)
        XCTAssertLessThan(report.added, 9)
        let rest = try await db.ingest([photos])
        XCTAssertEqual(rest.added, 9 - report.added)
        XCTAssertEqual(rest.unchanged, report.added)
        XCTAssertEqual(try db.stats().items, 9)
    }

    /// A reader searches while a writer handle of another process-like owner exists, and sees each
    /// committed write; it has no way to write (that is checked by the compiler: `DatabaseReader`
    /// has no ingest, delete, learn or reindex).
    func testReaderSearchesWhatTheWriterCommitted() async throws {
        let url = work.appendingPathComponent("r.radb")
        let writer = try Database.openOrCreate(at: url)
        let reader = try DatabaseReader(at: url)
        XCTAssertEqual(try reader.stats().items, 0)
        _ = try await writer.ingest([photos])
        let cat = photos.appendingPathComponent("cat.png")
        let matches = try reader.search(image: cat, options: SearchOptions(k: 2, probe: .exact))
        XCTAssertEqual(matches.map { URL(fileURLWithPath: $0.path).lastPathComponent }, ["cat.png", "cat_720p.jpg"])
        XCTAssertEqual(matches.first?.distance, 0)
        XCTAssertEqual(try writer.reader.search(image: cat, options: SearchOptions(k: 2, probe: .exact)), matches)
        let problems = try await reader.check()
        XCTAssertEqual(problems, [])
        let copy = work.appendingPathComponent("copy.radb")
        try await reader.backup(to: copy)
        XCTAssertEqual(try DatabaseReader(at: copy).stats().items, 9)
    }
}

final class LibraryErrorTests: XCTestCase {
    /// A failure of a lower layer reaches the caller as a `DatabaseError` that keeps the typed
    /// error beneath; library messages do not name radb's flags, the command adds them.
    func testErrorsKeepTheLowerLayersErrorAndTheCommandAddsItsAdvice() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("radb-err-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("vectors"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("not an LMDB file".utf8).write(to: dir.appendingPathComponent("vectors/data.mdb"))
        try Data("not SQLite".utf8).write(to: dir.appendingPathComponent("catalog.sqlite"))
        XCTAssertThrowsError(try Database.open(at: dir)) { error in
            guard let e = error as? DatabaseError, case .underlying(let message, let cause) = e else {
                return XCTFail("expected DatabaseError.underlying, got \(error)")
            }
            let inner = try? XCTUnwrap(cause)
            XCTAssertNotNil(inner)
            XCTAssertEqual(e.underlyingError.map { "\($0)" }, inner.map { "\($0)" })
            XCTAssertEqual(message, (inner as? CustomStringConvertible)?.description)
            XCTAssertFalse(message.contains("--"), message)
        }
        let missing = dir.appendingPathComponent("nothing-here")
        XCTAssertThrowsError(try Database.open(at: missing)) { error in
            XCTAssertFalse("\(error)".contains("--db"), "\(error)")
        }
        let cli = try CLIHarness()
        defer { cli.cleanUp() }
        let r = try cli.run(["stats", "--db", missing.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("no radb database at \(missing.path)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("radb ingest PHOTOS"), r.stderr)
    }
}

/// Progress reports collected from another thread. Sendable by construction.
private final class ProgressLog: Sendable {
    private let steps = Mutex<[OperationProgress]>([])
    func add(_ p: OperationProgress) { steps.withLock { $0.append(p) } }
    var entries: [OperationProgress] { steps.withLock { $0 } }
}
