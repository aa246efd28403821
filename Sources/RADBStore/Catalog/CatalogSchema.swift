import GRDB

/// The catalog migrations embedded from `Schema/*.sql` (see Schema/README.md).
package enum CatalogSchema {
    /// (version, file name, SQL bytes) in application order. Add new files here.
    package static let migrations: [(version: Int, file: String, sql: [UInt8])] = [
        (1, "0001_initial.sql", PackageResources._001_initial_sql),
        (2, "0002_content_index_in_lmdb.sql", PackageResources._002_content_index_in_lmdb_sql),
        (3, "0003_label_runs.sql", PackageResources._003_label_runs_sql),
    ]

    /// Work a migration needs that SQL cannot express, run right after its file in the same
    /// transaction.
    static func fill(after version: Int, _ db: Database) throws {
        if version == 3 { try LabelRuns.rebuild(db) }
    }

    /// The newest schema version this build understands.
    package static var latestVersion: Int { migrations.last!.version }
}
