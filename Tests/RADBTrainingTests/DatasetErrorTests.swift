import Foundation
import RADBNeural
import RADBTraining
import RADBVision
import XCTest

/// Folder-per-class datasets built from real image files in a temporary directory.
final class DatasetErrorTests: XCTestCase {
    var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("radb-dataset-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// Writes a real PNG: a 20×12 image of one colour with a diagonal line.
    func writeImage(_ relative: String, colour: RGB) throws {
        var image = Image(width: 20, height: 12, filledWith: colour)
        for i in 0..<12 { image.setPixel(x: i, y: i, to: .white) }
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try PNGEncoder.write(image, to: url)
    }

    func testEmptyClassFolderIsAnErrorNamingTheFolder() throws {
        try writeImage("cats/a.png", colour: RGB(200, 0, 0))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("dogs"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try ImageFolderDataset(root: root)) { error in
            XCTAssertEqual(error as? DatasetError, .emptyClassFolder(path: root.appendingPathComponent("dogs").path))
            XCTAssertTrue("\(error)".contains("dogs") && "\(error)".contains("no images"))
        }
    }

    func testOneClassOnlyIsAnError() throws {
        try writeImage("cats/a.png", colour: RGB(200, 0, 0))
        try writeImage("cats/b.png", colour: RGB(190, 0, 0))
        XCTAssertThrowsError(try ImageFolderDataset(root: root)) { error in
            XCTAssertEqual(error as? DatasetError, .tooFewClasses(path: root.path, found: 1))
        }
        XCTAssertThrowsError(try ImageFolderDataset(root: root.appendingPathComponent("missing"))) { error in
            guard case .notFound = error as? DatasetError else { return XCTFail("\(error)") }
        }
    }

    func testUnreadableImagesAreSkippedAndReported() throws {
        try writeImage("cats/a.png", colour: RGB(200, 0, 0))
        try writeImage("cats/b.png", colour: RGB(180, 10, 0))
        try writeImage("dogs/c.png", colour: RGB(0, 0, 200))
        try Data("this is not an image".utf8).write(to: root.appendingPathComponent("dogs/notes.jpg"))
        // A PNG cut in half.
        let whole = try Data(contentsOf: root.appendingPathComponent("cats/a.png"))
        try whole.prefix(whole.count / 2).write(to: root.appendingPathComponent("cats/truncated.png"))
        try Data().write(to: root.appendingPathComponent("dogs/empty.webp"))

        let data = try ImageFolderDataset(root: root)
        XCTAssertEqual(data.classNames, ["cats", "dogs"])
        XCTAssertEqual(data.files.count, 6)
        let (set, skipped) = try data.pixels(size: 8)
        XCTAssertEqual(set.count, 3)
        XCTAssertEqual(set.labels, [0, 0, 1])
        XCTAssertEqual(set.dimension, 8 * 8 * 3)
        XCTAssertEqual(Set(skipped.map(\.path)), ["cats/truncated.png", "dogs/empty.webp", "dogs/notes.jpg"])
        XCTAssertTrue(skipped.allSatisfy { !$0.reason.isEmpty })
        // The red class is red and the blue class blue after decoding and resizing.
        XCTAssertGreaterThan(set.features.storage[0], set.features.storage[2])
        let blue = 2 * 8 * 8 * 3
        XCTAssertGreaterThan(set.features.storage[blue + 2], set.features.storage[blue])
    }

    func testAllImagesUnreadableIsAnError() throws {
        try FileManager.default.createDirectory(at: root.appendingPathComponent("a"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("b"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: root.appendingPathComponent("a/1.jpg"))
        try Data("y".utf8).write(to: root.appendingPathComponent("b/2.png"))
        XCTAssertThrowsError(try ImageFolderDataset(root: root).pixels(size: 8)) { error in
            XCTAssertEqual(error as? DatasetError, .noReadableImages(path: root.path, skipped: 2))
        }
    }

    func testNonFiniteFeaturesAreRejectedAtTheDoor() {
        XCTAssertThrowsError(try LabeledFeatures(features: Tensor(shape: [2, 2], storage: [0, 1, .nan, 2]),
                                                 labels: [0, 1], classNames: ["a", "b"], origin: "x.f32")) { error in
            XCTAssertEqual(error as? DatasetError, .nonFinite(path: "x.f32", row: 1))
        }
        XCTAssertThrowsError(try LabeledFeatures(features: Tensor(shape: [2, 2], storage: [0, 1, 1, 2]),
                                                 labels: [0, 5], classNames: ["a", "b"]))
    }

    func testFeatureCacheRoundTripAndTruncationError() throws {
        let set = try LabeledFeatures(features: Tensor(shape: [3, 2], storage: [1, 2, 3, 4, 5, 6]), labels: [0, 1, 1],
                                      classNames: ["a", "b"], paths: ["a/1", "b/2", "b/3"])
        let base = root.appendingPathComponent("cache/x").path
        try FeatureCache.save(set, base: base, source: "test")
        let back = try FeatureCache.load(base: base)
        XCTAssertEqual(back.features, set.features)
        XCTAssertEqual(back.labels, set.labels)
        XCTAssertEqual(back.paths ?? [], ["a/1", "b/2", "b/3"])
        try Data([0, 0, 0]).write(to: URL(fileURLWithPath: base + ".f32"))
        XCTAssertThrowsError(try FeatureCache.load(base: base)) { error in
            guard case .malformed = error as? DatasetError else { return XCTFail("\(error)") }
        }
    }
}
