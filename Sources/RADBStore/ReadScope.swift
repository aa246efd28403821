import Foundation

/// Marks the threads that are inside a `VectorStore.read { }` closure.
///
/// Why: GRDB's database methods are not re-entrant and an LMDB map resize needs every
/// transaction of the process closed, so store methods called from inside a snapshot closure
/// would crash or deadlock. They check this flag and throw `calledInsideReadSnapshot` instead.
enum ReadScope {
    private static let key = "radb.store.readScopeDepth"

    static var isActive: Bool { ((Thread.current.threadDictionary[key] as? Int) ?? 0) > 0 }

    static func enter() {
        let d = Thread.current.threadDictionary
        d[key] = ((d[key] as? Int) ?? 0) + 1
    }

    static func exit() {
        let d = Thread.current.threadDictionary
        d[key] = ((d[key] as? Int) ?? 1) - 1
    }
}
