import Foundation
import RADB
import XCTest

final class ImageFileWalkerTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("radb-walk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("a/b"), withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testRecursiveSortedSniffedAndLoopFree() throws {
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0]
        let fm = FileManager.default
        try Data(png).write(to: dir.appendingPathComponent("a/z.png"))
        try Data(png).write(to: dir.appendingPathComponent("a/b/noext"))          // image by content
        try Data("not an image".utf8).write(to: dir.appendingPathComponent("a/fake.jpg"))  // listed: named as image
        try Data("notes".utf8).write(to: dir.appendingPathComponent("a/notes.txt"))       // skipped
        try Data(png).write(to: dir.appendingPathComponent("a/.hidden.png"))              // skipped
        try fm.createSymbolicLink(at: dir.appendingPathComponent("a/b/loop"), withDestinationURL: dir.appendingPathComponent("a"))
        try fm.createSymbolicLink(at: dir.appendingPathComponent("a/same.png"), withDestinationURL: dir.appendingPathComponent("a/z.png"))
        let files = try ImageFileWalker().files(under: [dir, dir.appendingPathComponent("a/z.png")])
        XCTAssertEqual(files.map { $0.path.replacingOccurrences(of: dir.path + "/", with: "") },
                       ["a/b/noext", "a/fake.jpg", "a/same.png"])  // the link is met first, z.png is the same file
    }

    func testMissingRootIsAnError() {
        XCTAssertThrowsError(try ImageFileWalker().files(under: [dir.appendingPathComponent("nope")])) {
            XCTAssertTrue(String(describing: $0).contains("nope"))
        }
    }
}
