import Foundation

/// Shares one `LMDBEnvironment` per directory within the process.
///
/// LMDB's caveat: an environment must not be opened twice in one process (closing the second
/// handle would drop the first one's POSIX locks). Two `VectorStore`s on the same path
/// therefore share the environment; it closes when the last store lets go.
enum LMDBEnvironmentRegistry {
    private final class Entry { weak var environment: LMDBEnvironment? ; init(_ e: LMDBEnvironment) { environment = e } }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var entries: [String: Entry] = [:]

    static func environment(directory: String, create: Bool, durable: Bool, initialMapSize: Int,
                            readOnly: Bool = false) throws -> LMDBEnvironment {
        let key = URL(fileURLWithPath: directory).resolvingSymlinksInPath().standardizedFileURL.path
        lock.lock()
        defer { lock.unlock() }
        if let existing = entries[key]?.environment { return existing }
        let env = try LMDBEnvironment(directory: directory, create: create, durable: durable, initialMapSize: initialMapSize,
                                      readOnly: readOnly)
        entries[key] = Entry(env)
        return env
    }
}
