import Foundation
import RADB
import XCTest

/// A photo library as people have it (issue 19): HEIC, AVIF, TIFF, GIF, BMP and RAW files next to
/// a PNG, a damaged file, a video and a text note, ingested through the binary.
final class CLIFormatsTests: XCTestCase {
    private var cli: CLIHarness!

    override func setUpWithError() throws { cli = try CLIHarness() }
    override func tearDownWithError() throws { cli.cleanUp() }

    func testAMixedFolderIngestsEveryImageAndReportsEveryOtherFile() throws {
        let formats = CLIHarness.repositoryRoot.appendingPathComponent("Fixtures/formats")
        let folder = cli.workdir.appendingPathComponent("library")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let images = ["cat.heic", "cat.avif", "cat_rgb16_deflate.tif", "cat_animated.gif", "cat_rle8.bmp", "raw_mosaic.dng"]
        for name in images {
            try FileManager.default.copyItem(at: formats.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        try FileManager.default.copyItem(at: CLIHarness.repositoryRoot.appendingPathComponent("Fixtures/photos/cat.png"),
                                         to: folder.appendingPathComponent("cat.png"))
        // Named by content, not extension: a HEIC saved as .jpg is read as HEIC.
        try FileManager.default.copyItem(at: formats.appendingPathComponent("cat_alpha.heic"), to: folder.appendingPathComponent("phone.jpg"))
        let heic = try Data(contentsOf: formats.appendingPathComponent("cat.heic"))
        try heic.prefix(200).write(to: folder.appendingPathComponent("cut.heic"))
        try Data("shopping list\n".utf8).write(to: folder.appendingPathComponent("notes.txt"))
        try Data([0, 0, 0, 0x18] + Array("ftypisom".utf8) + [0, 0, 2, 0] + Array("isomiso2".utf8)).write(to: folder.appendingPathComponent("clip.mov"))

        let ingest = try cli.run(["ingest", "library", "--db", "p.db"])
        XCTAssertEqual(ingest.status, 2, "a failed file makes the run partial: \(ingest.stderr)")
        XCTAssertTrue(ingest.stdout.contains("added 8, unchanged 0, failed 1, skipped 2 (not images)"), ingest.stdout)
        let cut = folder.appendingPathComponent("cut.heic").path
        XCTAssertTrue(ingest.stderr.contains("failed: \(cut): the HEIC/HEIF data is truncated"), ingest.stderr)
        XCTAssertEqual(ingest.stderr.components(separatedBy: cut).count - 1, 1, "the path is named once: \(ingest.stderr)")
        XCTAssertTrue(ingest.stderr.contains("skipped: \(folder.appendingPathComponent("notes.txt").path): not an image"), ingest.stderr)
        XCTAssertTrue(ingest.stderr.contains("skipped: \(folder.appendingPathComponent("clip.mov").path): unsupported format: video"), ingest.stderr)

        // --json lists the same files, and the images are all stored.
        let again = try cli.run(["ingest", "library", "--db", "p.db", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(json["unchanged"] as? Int, 8)
        let failed = json["failed"] as! [[String: String]]
        XCTAssertEqual(failed.map { $0["path"] }, [cut])
        XCTAssertFalse(failed[0]["error"]!.contains(cut), "the reason does not repeat the path")
        let skipped = json["skipped"] as! [[String: String]]
        XCTAssertEqual(Set(skipped.compactMap { $0["path"] }), [folder.appendingPathComponent("notes.txt").path,
                                                                   folder.appendingPathComponent("clip.mov").path])

        // A HEIC query finds its own file first.
        let search = try cli.run(["search", "library/cat.heic", "--db", "p.db", "--json"])
        XCTAssertEqual(search.status, 0, search.stderr)
        let results = try JSONSerialization.jsonObject(with: Data(search.stdout.utf8))
        let first = ((results as? [String: Any])?["results"] as? [[String: Any]])?.first ?? (results as? [[String: Any]])?.first
        XCTAssertEqual((first?["path"] as? String).map { URL(fileURLWithPath: $0).lastPathComponent }, "cat.heic", search.stdout)
    }

    func testAFolderOfNonImagesSaysWhatItSkipped() throws {
        let folder = cli.workdir.appendingPathComponent("docs")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("hello\n".utf8).write(to: folder.appendingPathComponent("readme.txt"))
        let ingest = try cli.run(["ingest", "docs", "--db", "p.db"])
        XCTAssertNotEqual(ingest.status, 0)
        XCTAssertTrue(ingest.stderr.contains("no images found"), ingest.stderr)
        XCTAssertTrue(ingest.stderr.contains("HEIC/HEIF, AVIF, TIFF, GIF, BMP and camera RAW"), ingest.stderr)
        XCTAssertTrue(ingest.stderr.contains("readme.txt: not an image"), ingest.stderr)
    }
}
