import Foundation

/// A database opened for reading only: search, inspect, check, evaluate, export and back up —
/// and, checked by the compiler, nothing else.
///
/// Why it exists: a program that must never write (a search service, a report, a tool on a
/// read-only medium) opens a `DatabaseReader`, and the type system, not a run-time error, keeps it
/// from ingesting, deleting or learning. Any number of readers, in any number of processes, read
/// while one writer (a ``Database``) writes; each search sees one committed snapshot. GRDB users
/// know the split as `DatabaseReader` / `DatabaseWriter`.
///
///     let reader = try DatabaseReader(at: URL(fileURLWithPath: "photos.radb"))
///     let matches = try reader.search(image: URL(fileURLWithPath: "query.jpg"))
public struct DatabaseReader: Sendable {
    /// The handle it reads through, opened read-only.
    private let database: Database

    /// Opens the database at `url` for reading. It never writes, not even to finish a write that
    /// a crashed writer left half done (that is the next writer's job): a read-only medium works.
    /// - Throws: `DatabaseError.noDatabase` when nothing is at `url`, and the errors of
    ///   ``Database/open(at:mode:options:)``.
    public init(at url: URL) throws {
        database = try Database.open(at: url, mode: .readOnly)
    }

    init(_ database: Database) { self.database = database }

    /// The database directory.
    public var url: URL { database.url }
    /// The model that embeds image queries (nil for a database of imported vectors).
    public var embedder: Embedder? { database.embedder }

    /// The `options.k` stored items nearest to an image file.
    public func search(image url: URL, options: SearchOptions = SearchOptions()) throws -> [SearchMatch] {
        try database.search(image: url, options: options)
    }
    /// The stored items nearest to stored item `id` (itself first).
    public func search(id: UInt64, options: SearchOptions = SearchOptions()) throws -> [SearchMatch] {
        try database.search(id: id, options: options)
    }
    /// The stored items nearest to a vector of the database's dimension.
    public func search(vector: [Float], options: SearchOptions = SearchOptions()) throws -> [SearchMatch] {
        try database.search(vector: vector, options: options)
    }
    /// The stored items nearest to each row of `vectors`.
    public func search(vectors: NPYMatrix, options: SearchOptions = SearchOptions()) throws -> [[SearchMatch]] {
        try database.search(vectors: vectors, options: options)
    }
    /// `search(vectors:options:)` off the caller's thread, cancellable between chunks of queries.
    public func search(vectors: NPYMatrix, options: SearchOptions = SearchOptions(),
                       progress: (@Sendable (OperationProgress) -> Void)? = nil) async throws -> [[SearchMatch]] {
        try await database.search(vectors: vectors, options: options, progress: progress)
    }

    /// What the database holds (`radb stats`).
    public func stats() throws -> Database.Stats { try database.stats() }
    /// Every broken invariant, one line each; empty when the database is sound.
    public func check(progress: (@Sendable (OperationProgress) -> Void)? = nil) async throws -> [String] {
        try await database.check(progress: progress)
    }
    /// A consistent copy of the whole database in `destination` (see ``Database/backup(to:staged:)``).
    public func backup(to destination: URL) async throws { try await database.backup(to: destination) }
    /// Writes every vector (.npy) and its metadata (JSON lines); returns the number of items.
    public func export(vectorsTo vectorsURL: URL, metadataTo metadataURL: URL) async throws -> Int {
        try await database.export(vectorsTo: vectorsURL, metadataTo: metadataURL)
    }
}

extension Database {
    /// This handle's read-only face: what a function that only searches should take.
    public var reader: DatabaseReader { DatabaseReader(self) }
}
