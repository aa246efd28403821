import ArgumentParser
import Foundation
import RADB
import RADBTraining

/// `radb learn`: train a head and class anchors on the database's own labelled items, in place.
struct LearnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learn",
        abstract: "Learn an embedding head and class anchors from the database's own labelled items.",
        discussion: """
        Trains on the backbone features that ingest keeps (no image file is read), with CAM's \
        class anchors by default, then re-embeds every stored item with the new head and \
        partitions the collection under the learned anchors — one new model generation, switched \
        in at once. Searches keep answering from the previous generation until then; an \
        interrupted learn leaves the previous generation whole. Labels come from \
        `radb ingest --label-from-folder` (or metadata). Measure the result with \
        `radb eval --db DB --queries DIR`.
        """)

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Loss: cam, ce, contrastive, triplet or center.", valueName: "loss"))
    var loss: String = "cam"

    @Option(help: "Training epochs.")
    var epochs: Int = 30

    @Option(help: "Random seed (runs with the same seed and items are bit-identical).")
    var seed: UInt64 = 0

    @Option(help: "Width of the learned embedding (padded with zeros to the database's dimension).")
    var dim: Int = 128

    var lossKind: LossKind? { LossKind(argument: loss) }

    func validate() throws {
        if lossKind == nil { throw ValidationError("--loss must be one of cam, ce, contrastive, triplet, center (got \(loss))") }
        if !(1...10_000).contains(epochs) { throw ValidationError("--epochs must be between 1 and 10000") }
    }

    func run() throws {
        try reportingErrors {
            let db = try Database.open(at: global.databaseURL)
            let interrupted = InterruptFlag.install()
            let json = global.json
            let report = try db.learn(LearnOptions(loss: lossKind!, epochs: epochs, seed: seed, dimension: dim),
                                      isCancelled: { interrupted.isSet },
                                      progress: { if !json { Output.note($0) } })
            if global.json {
                Output.json(["trained_on": report.trainedOn, "classes": report.classes.count, "reembedded": report.reembedded,
                             "model": report.modelIdentity, "training_seconds": report.trainingSeconds,
                             "rewrite_seconds": report.rewriteSeconds,
                             "validation_mAP": report.validationMAP.map { $0 as Any } ?? NSNull(),
                             "validation_two_stage_mAP": report.validationTwoStageMAP.map { $0 as Any } ?? NSNull(),
                             "search": report.prefersTwoStageSearch ? "two-stage" : "recall"])
            } else {
                print("learned \(report.classes.count) class anchors from \(report.trainedOn) labelled items "
                      + String(format: "in %.1f s; re-embedded %d items in %.1f s; model %@", report.trainingSeconds,
                               report.reembedded, report.rewriteSeconds, String(report.modelIdentity.prefix(12))))
                if let exact = report.validationMAP, let two = report.validationTwoStageMAP {
                    print(String(format: "held-out items: mAP %.3f exact, %.3f two-stage → searches use %@", exact, two,
                                 report.prefersTwoStageSearch ? "two-stage ranking (nearest anchor first)" : "exact ranking at recall 0.95"))
                }
            }
        }
    }
}
