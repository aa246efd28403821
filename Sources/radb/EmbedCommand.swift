import ArgumentParser
import Foundation
import RADB

/// `radb embed`: the vectors the database's model gives for some images, for use elsewhere.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print or save the embedding vectors of images.",
        discussion: "Uses the model of the database (--db), or the built-in model when there is no database.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Image files.", valueName: "image"))
    var images: [String]

    @Option(help: ArgumentHelp("Write the vectors to this .npy file (rows in argument order) instead of printing.", valueName: "file.npy"))
    var out: String?

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image file") }
    }

    func run() throws {
        try reportingErrors {
            let embedder: Embedder
            if FileManager.default.fileExists(atPath: global.databaseURL.path) {
                guard let own = try Database.open(at: global.databaseURL, mode: .readOnly).embedder else {
                    throw DatabaseError.invalidArgument("\(global.databaseURL.path) holds imported vectors and has no image model to embed with")
                }
                embedder = own
            } else {
                embedder = try Embedder()
            }
            let urls = images.map { URL(fileURLWithPath: $0) }
            let vectors = try embedder.embed(files: urls).map { try $0.get() }
            if let out {
                let dim = embedder.dimension
                try NPYMatrix(rows: vectors.count, columns: dim, values: vectors.flatMap { $0 }).write(to: URL(fileURLWithPath: out))
                if global.json { Output.json(["path": out, "rows": vectors.count, "dimension": dim]) }
                else { print("wrote \(vectors.count) × \(dim) vectors to \(out)") }
            } else if global.json {
                Output.json(["vectors": zip(images, vectors).map { ["path": $0, "vector": $1.map(Double.init)] }])
            } else {
                for (path, v) in zip(images, vectors) {
                    print("\(path)\t" + v.map { String(format: "%.6g", $0) }.joined(separator: " "))
                }
            }
        }
    }
}
