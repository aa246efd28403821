import ArgumentParser
import Foundation

/// The `radb` command-line tool: one subcommand per task, all sharing `--db` and `--json`.
@main
struct RADBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "radb",
        abstract: "An embedded vector database for finding similar images.",
        discussion: """
        radb stores an embedding of every image you ingest, grouped under learned class anchors, \
        and answers "which stored images look most like this one?" by routing the query to its \
        nearest anchors and ranking their images by exact L2 distance.

        QUICK START
          radb ingest ~/Pictures            # creates ./radb.db with the built-in model
          radb search photo.jpg -k 10       # the ten most similar stored images

        DATABASE
          Chosen by --db PATH, else the RADB_DB environment variable, else ./radb.db.

        EXIT CODES
          0   success
          1   the command failed (bad input, unreadable file, damaged database); stderr says why
          2   ingest finished but some files could not be added (listed in the summary)
          3   check found problems (listed)
          4   another process holds the database's write lock; try again when it finishes
          64  invalid command-line usage
        """,
        version: "0.1.0",
        subcommands: [
            InitCommand.self, IngestCommand.self, SearchCommand.self, EmbedCommand.self,
            StatsCommand.self, CheckCommand.self, DeleteCommand.self, BackupCommand.self,
            ExportCommand.self, ImportCommand.self, ReindexCommand.self,
            TrainCommand.self, LearnCommand.self, EvalCommand.self,
        ]
    )

    /// Parses the command line and runs; `radb delete` with many ids first takes them out of
    /// the arguments in one linear pass (see `DeleteCommand.takeIDs`).
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        DeleteCommand.takeIDs(from: &arguments)
        main(arguments)
    }
}
