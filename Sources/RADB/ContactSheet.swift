import Foundation
import RADBVision

/// A PNG contact sheet of a query and its results: what a person would rather look at than read.
///
/// The query comes first (framed in blue), then the results in rank order, each a square
/// thumbnail with "#rank d=distance" and its label underneath. Results whose file can no longer
/// be read are drawn as a grey tile with "MISSING", so the sheet always has k + 1 cells.
public enum ContactSheet {
    static let cell = 160
    static let caption = 30
    static let margin = 8

    /// Renders the sheet as an image.
    public static func render(query: URL?, matches: [SearchMatch], columns: Int = 6) -> Image {
        let tiles = 1 + matches.count
        let cols = max(1, min(columns, tiles))
        let rows = (tiles + cols - 1) / cols
        let width = margin + cols * (cell + margin)
        let height = margin + rows * (cell + caption + margin)
        var sheet = Image(width: width, height: height, filledWith: RGB(245, 245, 245))
        for t in 0..<tiles {
            let x = margin + (t % cols) * (cell + margin)
            let y = margin + (t / cols) * (cell + caption + margin)
            let url: URL?
            let lines: [String]
            if t == 0 {
                url = query
                lines = ["QUERY", query?.lastPathComponent ?? ""]
                sheet.fill(x: x - 3, y: y - 3, width: cell + 6, height: cell + 6, color: RGB(40, 90, 200))
            } else {
                let m = matches[t - 1]
                url = URL(fileURLWithPath: m.path)
                lines = [String(format: "#%d D=%.3f", m.rank, m.distance), m.label ?? URL(fileURLWithPath: m.path).lastPathComponent]
            }
            sheet.fill(x: x, y: y, width: cell, height: cell, color: RGB(200, 200, 200))
            if let url, let image = try? ImageDecoder.decode(contentsOf: url) {
                let scale = Double(cell) / Double(max(image.width, image.height))
                let w = max(1, Int((Double(image.width) * scale).rounded()))
                let h = max(1, Int((Double(image.height) * scale).rounded()))
                sheet.paste(image.resized(width: w, height: h), x: x + (cell - w) / 2, y: y + (cell - h) / 2)
            } else if t > 0 || query != nil {
                sheet.drawText("MISSING", x: x + 10, y: y + cell / 2 - 4, color: RGB(90, 90, 90))
            }
            for (i, line) in lines.enumerated() {
                let maxChars = cell / BitmapFont.advance
                let text = line.count > maxChars ? String(line.prefix(maxChars - 1)) + "." : line
                sheet.drawText(text, x: x, y: y + cell + 4 + i * 12, color: RGB(20, 20, 20))
            }
        }
        return sheet
    }

    /// Renders and writes the sheet as PNG.
    public static func write(query: URL?, matches: [SearchMatch], to url: URL) throws {
        do { try PNGEncoder.write(render(query: query, matches: matches), to: url) } catch {
            throw DatabaseError.underlying("\(url.path): cannot write the contact sheet (\(error))")
        }
    }
}
