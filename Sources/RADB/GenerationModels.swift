import Foundation
import Synchronization

/// The embedding model of each model generation: the database's own model (`model.safetensors`)
/// for a generation without a learned head, else the learned model `models/<identity>.safetensors`
/// that learning in place wrote before switching to it.
///
/// Why it exists: a query must be embedded with the model of the generation it is searched in —
/// another process may learn in place at any moment, and a vector from the previous head means
/// nothing among the new one's. Every generation shares the backbone (learning checks it), so
/// backbone features are computed once and the generation's head applied inside the snapshot.
/// Sendable by construction (the cache lives in a `Mutex`); a learned model is loaded once.
final class GenerationModels: Sendable {
    /// The database's own model.
    let base: Embedder
    private let directory: URL
    private let loaded = Mutex<[String: Embedder]>([:])

    init(base: Embedder, directory: URL) {
        self.base = base
        self.directory = directory
    }

    /// The learned model file of a generation is absent. Learning in place deletes the file of
    /// the generation it retires once the new one is committed, so a reader whose snapshot
    /// predates that switch and that has not loaded the model yet meets this:
    /// `Database.retryingRetiredModels` runs it again on a current snapshot. The current
    /// generation's own file is never deleted, so its absence is damage (the description says so).
    struct MissingModel: Error, CustomStringConvertible {
        let head: String
        let path: String
        var description: String {
            "\(path): the learned model of the current generation is missing; restore the database from a backup"
        }
    }

    /// The model of a generation whose head identity is `head` ("" = the database's own model).
    /// - Throws: `MissingModel` when the learned model file is absent; `DatabaseError` when it
    ///   is not the one the generation names.
    func embedder(head: String) throws -> Embedder {
        if head.isEmpty || head == base.modelIdentity { return base }
        if let hit = loaded.withLock({ $0[head] }) { return hit }
        let file = Self.file(of: head, in: directory)
        Database.beforeLoadingLearnedModelForTesting?(head)
        guard FileManager.default.fileExists(atPath: file.path) else { throw MissingModel(head: head, path: file.path) }
        let embedder: Embedder
        do { embedder = try Embedder(modelURL: file) } catch {
            // Deleted between the check above and the read: the same as absent.
            if !FileManager.default.fileExists(atPath: file.path) { throw MissingModel(head: head, path: file.path) }
            throw error
        }
        guard embedder.modelIdentity == head, embedder.featureIdentity == base.featureIdentity else {
            throw DatabaseError.modelMismatch("\(file.path) is not the learned model the database's current generation names (\(head.prefix(12))); restore the database from a backup")
        }
        loaded.withLock { $0[head] = embedder }
        return embedder
    }

    /// Where the learned model `identity` lives inside database `directory`.
    static func file(of identity: String, in directory: URL) -> URL {
        directory.appendingPathComponent(Database.modelsDirectoryName).appendingPathComponent("\(identity).safetensors")
    }
}

extension Database {
    /// Tests only: called with a learned model's identity just before this process loads its
    /// file, so a test can retire that generation (another process learns) at exactly that moment.
    nonisolated(unsafe) package static var beforeLoadingLearnedModelForTesting: ((String) -> Void)?
}
