import ArgumentParser
import Foundation

/// Flags every database command shares: where the database lives and how to print.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Database directory (default: $RADB_DB, else ./radb.db).", valueName: "path"))
    var db: String?

    @Flag(name: .long, help: "Print machine-readable JSON on stdout instead of a table.")
    var json = false

    /// The database directory after applying --db, then RADB_DB, then ./radb.db.
    var databaseURL: URL {
        let path = db ?? ProcessInfo.processInfo.environment["RADB_DB"].flatMap { $0.isEmpty ? nil : $0 } ?? "radb.db"
        return URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
    }
}
