import Foundation
import RADB
import RADBVision
import XCTest

/// Ingest decodes a batch within a memory budget read from the headers (issue 12, defect 3):
/// a small file declaring a huge picture is refused with a reason naming it, and files that are
/// fine alone but too big together are decoded in turns instead of all at once.
final class IngestMemoryBudgetTests: XCTestCase {
    private var work: URL!

    override func setUpWithError() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("radb-budget-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work.appendingPathComponent("in"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: work) }

    private func writePNG(_ name: String, side: Int, shade: UInt8) throws -> URL {
        var image = Image(width: side, height: side, filledWith: RGB(shade, 255 - shade, 90))
        for x in 0..<min(side, 40) { image.setPixel(x: x, y: x, to: RGB(0, 0, 0)) }
        let url = work.appendingPathComponent("in/\(name)")
        try PNGEncoder.write(image, to: url)
        return url
    }

    func testPicturesOverTheBudgetAreRefusedByNameAndTheRestDecodeInTurns() throws {
        // 1200² pixels cost 1200² × 7 ≈ 10.1 MB to decode; 600² ≈ 2.5 MB.
        let big = try writePNG("big.png", side: 1200, shade: 10)
        _ = try writePNG("a.png", side: 600, shade: 80)
        _ = try writePNG("b.png", side: 600, shade: 160)
        _ = try writePNG("c.png", side: 64, shade: 240)
        let db = try Database.create(at: work.appendingPathComponent("db.radb"))
        let report = try db.ingest([work.appendingPathComponent("in")],
                                   options: IngestOptions(decodeMemoryBudget: 4_000_000))
        XCTAssertEqual(report.added, 3, "\(report.failed)")
        XCTAssertEqual(report.failed.map(\.path), [big.path])
        let reason = try XCTUnwrap(report.failed.first?.reason)
        XCTAssertFalse(reason.contains(big.path), "the report names the file once, in `path`: \(reason)")
        XCTAssertTrue(reason.contains("1200x1200"), reason)
        XCTAssertTrue(reason.contains("budget"), reason)

        // With room for one big picture at a time, it is added; the vector is the same as
        // embedding the file alone.
        let again = try db.ingest([big], options: IngestOptions(decodeMemoryBudget: 12_000_000))
        XCTAssertEqual(again.added, 1, "\(again.failed)")
        XCTAssertEqual(try db.check(), [])
    }

    func testNewFormatsAreBudgetedFromTheirHeadersToo() throws {
        // A 64-byte BMP declaring 20000×20000 24-bit pixels (1.2 GB to decode) beside a real GIF.
        var bmp = [UInt8](repeating: 0, count: 64)
        bmp[0] = 0x42; bmp[1] = 0x4D; bmp[10] = 54; bmp[14] = 40; bmp[26] = 1; bmp[28] = 24
        for at in [18, 22] { for k in 0..<4 { bmp[at + k] = UInt8((20_000 >> (8 * k)) & 0xFF) } }
        let bomb = work.appendingPathComponent("in/bomb.bmp")
        try Data(bmp).write(to: bomb)
        let gif = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/formats/cat.gif")
        try FileManager.default.copyItem(at: gif, to: work.appendingPathComponent("in/cat.gif"))
        let db = try Database.create(at: work.appendingPathComponent("db.radb"))
        let report = try db.ingest([work.appendingPathComponent("in")])
        XCTAssertEqual(report.added, 1, "\(report.failed)")
        XCTAssertEqual(report.failed.map(\.path), [bomb.path])
        XCTAssertTrue(report.failed.first?.reason.contains("20000x20000") == true, "\(report.failed)")
        XCTAssertTrue(report.failed.first?.reason.contains("budget") == true, "\(report.failed)")
    }

    func testDecodingCostComesFromTheHeaderAlone() throws {
        // A PNG signature and IHDR declaring 14000×14000 (the bombs of the issue), nothing else.
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]
        bytes += Array("IHDR".utf8)
        for v in [UInt32(14_000), UInt32(14_000)] { bytes += withUnsafeBytes(of: v.bigEndian, Array.init) }
        bytes += [8, 2, 0, 0, 0, 0, 0, 0, 0]
        let cost = try ImageDecoder.decodingCost(of: Data(bytes), name: "bomb.png")
        XCTAssertEqual(cost.format, .png)
        XCTAssertEqual(cost.declaredSize, ImageSize(width: 14_000, height: 14_000))
        XCTAssertEqual(cost.peakBytes, 14_000 * 14_000 * 7)
        // A JPEG decodes at a reduced scale for a small target: it costs less than its full size.
        let jpeg = try Data(contentsOf: CLIHarness.repositoryRoot.appendingPathComponent("Fixtures/images/jpeg_large_1024x768.jpg"))
        let full = try ImageDecoder.decodingCost(of: jpeg, name: "large.jpg")
        let reduced = try ImageDecoder.decodingCost(of: jpeg, name: "large.jpg", targetSizeHint: ImageSize(width: 224, height: 224))
        XCTAssertEqual(full.peakBytes, 1024 * 768 * 7)
        XCTAssertLessThan(reduced.peakBytes, full.peakBytes)
    }
}
