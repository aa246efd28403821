import ArgumentParser
import Foundation
import RADB

/// `radb init`: create an empty database bound to one embedding model.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create an empty database.",
        discussion: "Not needed for the built-in model: `radb ingest` creates the database on first use.")

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Model file (.safetensors) the database will embed with (default: the built-in model).", valueName: "file"))
    var model: String?

    @Flag(help: "Do not keep each image's backbone features (saves about 2.5 KB per image, but `radb learn` then cannot run).")
    var noFeatures = false

    func run() throws {
        try reportingErrors {
            let db = try Database.create(at: global.databaseURL, model: model.map { URL(fileURLWithPath: $0) },
                                         keepFeatures: !noFeatures)
            let stats = try db.stats()
            if global.json {
                Output.json(["path": global.databaseURL.path, "model": stats.model, "dimension": stats.dimension, "anchors": stats.anchors])
            } else {
                print("Created \(global.databaseURL.path) (model \(stats.model.prefix(12)), \(stats.dimension)-d, \(stats.anchors) anchors)")
            }
        }
    }
}
