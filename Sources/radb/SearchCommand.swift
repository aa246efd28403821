import ArgumentParser
import Foundation
import RADB

/// `radb search`: the stored images most similar to a query image, stored item or vectors.
struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Find the stored images most similar to a query.",
        discussion: """
        The query is an image file, a stored item (--id) or a batch of vectors (--vectors Q.npy, \
        one result list per row, in order). Results are ordered by squared L2 distance, ties by id. \
        By default the query is routed to as few of its nearest anchors as reach a recall of \
        0.95 of the exact top 10 on this collection (measured once on its own vectors), or — \
        after `radb learn`, when it measured better — to its nearest class anchor first (the \
        paper's two-stage search). --recall sets another target, --nprobe a fixed number of \
        anchors, and --exact compares against every stored image.

        --where restricts the search to matching items, e.g.
          --where "label = 'cat' AND added > '2026-01-01'"
          --where "path GLOB '*/holiday/*'"       --where "label IN ('cat','dog')"
        """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Query image file.", valueName: "image"))
    var image: String?

    @Option(name: .short, help: "Number of results per query.")
    var k: Int = 10

    @Option(help: ArgumentHelp("Number of nearest anchors to scan (default: chosen per collection, see above).", valueName: "n"))
    var nprobe: Int?

    @Option(help: ArgumentHelp("Scan the fewest anchors reaching this recall of the exact top 10, e.g. 0.99.", valueName: "r"))
    var recall: Double?

    @Flag(help: "Exact search: scan every stored vector.")
    var exact = false

    @Option(name: .customLong("where"), help: ArgumentHelp("Only items matching this filter (see above).", valueName: "expr"))
    var whereExpression: String?

    @Option(help: ArgumentHelp("Use the stored item with this id as the query.", valueName: "id"))
    var id: UInt64?

    @Option(help: ArgumentHelp("A .npy file of query vectors (float32, one per row).", valueName: "file"))
    var vectors: String?

    @Option(help: ArgumentHelp("Also write a contact sheet of the query and its results to this PNG file.", valueName: "file.png"))
    var montage: String?

    func validate() throws {
        let sources = [image != nil, id != nil, vectors != nil].filter { $0 }.count
        if sources != 1 { throw ValidationError("give exactly one query: an image file, --id ID or --vectors FILE.npy") }
        if k <= 0 { throw ValidationError("-k must be at least 1 (got \(k))") }
        if let n = nprobe, n <= 0 { throw ValidationError("--nprobe must be at least 1 (got \(n))") }
        if [exact, nprobe != nil, recall != nil].filter({ $0 }).count > 1 {
            throw ValidationError("--exact, --nprobe and --recall exclude each other")
        }
        if let r = recall, !(r > 0 && r <= 1) { throw ValidationError("--recall must be greater than 0 and at most 1 (got \(r))") }
        if montage != nil && vectors != nil { throw ValidationError("--montage needs an image or --id query, not --vectors") }
    }

    func run() throws {
        try reportingErrors {
            let db = try Database.open(at: global.databaseURL, mode: .readOnly)
            var options = SearchOptions(k: k)
            if exact { options.probe = .exact } else if let n = nprobe { options.probe = .nearest(n) }
            else if let r = recall { options.probe = .recall(r) }
            if let w = whereExpression { options.filter = try FilterExpression.parse(w) }
            let clock = ContinuousClock()
            let start = clock.now
            if let v = vectors {
                let matrix = try NPYMatrix(contentsOf: URL(fileURLWithPath: v))
                let lists = try db.search(vectors: matrix, options: options)
                let ms = milliseconds(clock.now - start)
                if global.json {
                    Output.json(["queries": lists.map { ["results": $0.map(Self.json)] }, "query_ms": ms])
                } else {
                    for (q, hits) in lists.enumerated() {
                        print("query \(q)")
                        printTable(hits)
                    }
                }
                return
            }
            let hits: [SearchMatch]
            let queryImage: URL?
            if let id {
                hits = try db.search(id: id, options: options)
                queryImage = try db.item(id: id).map { URL(fileURLWithPath: $0.metadata.path) }
            } else {
                let url = URL(fileURLWithPath: image!)
                hits = try db.search(image: url, options: options)
                queryImage = url
            }
            let ms = milliseconds(clock.now - start)
            if global.json {
                Output.json(["results": hits.map(Self.json), "query_ms": ms])
            } else {
                printTable(hits)
            }
            if let montage {
                try ContactSheet.write(query: queryImage, matches: hits, to: URL(fileURLWithPath: montage))
                if !global.json { Output.note("contact sheet written to \(montage)") }
            }
        }
    }

    private static func json(_ h: SearchMatch) -> [String: Any] {
        ["rank": h.rank, "id": h.id, "distance": Double(h.distance), "path": h.path, "label": h.label ?? NSNull()]
    }

    private func printTable(_ hits: [SearchMatch]) {
        if hits.isEmpty { print("(no results)"); return }
        Output.table(header: ["rank", "distance", "id", "label", "path"],
                     rows: hits.map { [String($0.rank), String(format: "%.4f", $0.distance), String($0.id), $0.label ?? "-", $0.path] },
                     rightAligned: [0, 1, 2])
    }

    private func milliseconds(_ d: Duration) -> Double {
        let c = d.components
        let ms = Double(c.seconds) * 1000 + Double(c.attoseconds) / 1e15
        return (ms * 1000).rounded() / 1000
    }
}
