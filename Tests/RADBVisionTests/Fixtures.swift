import Foundation
import RADBVision
import XCTest

/// Locations of the committed fixtures and of the shared data, found from this file's path.
enum Fixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func image(_ name: String) -> URL {
        repositoryRoot.appendingPathComponent("Fixtures/images").appendingPathComponent(name)
    }

    /// ../shared/models/imagenet-mobilenet/photos next to the repository (nil when absent).
    static var sharedPhotos: URL? {
        let url = repositoryRoot.deletingLastPathComponent()
            .appendingPathComponent("shared/models/imagenet-mobilenet/photos")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    static let red = RGB(255, 0, 0), green = RGB(0, 255, 0), blue = RGB(0, 0, 255), white = RGB.white
}

/// Checks the centres of the four quadrants of a 64×32 fixture against expected colours.
func assertQuadrants(_ image: Image, _ expected: [RGB], tolerance: Int, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(image.width, 64, "\(what) width", file: file, line: line)
    XCTAssertEqual(image.height, 32, "\(what) height", file: file, line: line)
    guard image.width == 64, image.height == 32 else { return }
    let centres = [(16, 8), (48, 8), (16, 24), (48, 24)]
    for (i, (x, y)) in centres.enumerated() {
        let got = image.pixel(x: x, y: y)
        XCTAssertLessThanOrEqual(got.maxChannelDistance(to: expected[i]), tolerance,
                                 "\(what): quadrant \(i) at (\(x), \(y)) is \(got), expected \(expected[i])",
                                 file: file, line: line)
    }
}

/// A fresh temporary directory for one test, removed at the end of the test.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("radb-vision-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}
