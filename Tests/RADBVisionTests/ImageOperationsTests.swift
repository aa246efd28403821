import Foundation
import RADBVision
import XCTest

/// Tensor normalisation, PNG encoding and compositing.
final class ImageOperationsTests: XCTestCase {
    // MARK: - Normalisation

    func testNormalizedWritesNHWCWithPerChannelScaleAndOffset() throws {
        var image = Image(width: 2, height: 1, filledWith: RGB(0, 128, 255))
        image.setPixel(x: 1, y: 0, to: RGB(255, 0, 51))
        let t = try image.normalized(scale: [2.0 / 255, 1.0 / 255, 1], offset: [-1, 0, 0.5])
        XCTAssertEqual(t.count, 6)
        let expected: [Float] = [-1, 128.0 / 255, 255.5, 1, 0, 51.5]
        for (a, b) in zip(t, expected) { XCTAssertEqual(a, b, accuracy: 1e-5) }
    }

    func testNormalizedIntoABatchSlot() throws {
        let image = Image(width: 3, height: 2, filledWith: RGB(255, 255, 255))
        var batch = [Float](repeating: -7, count: 2 * image.tensorElementCount)
        try batch.withUnsafeMutableBufferPointer { buffer in
            let second = UnsafeMutableBufferPointer(rebasing: buffer[image.tensorElementCount...])
            try image.normalized(into: second, scale: [1 / 255.0, 1 / 255.0, 1 / 255.0], offset: [0, 0, 0])
        }
        XCTAssertEqual(Array(batch[..<18]), [Float](repeating: -7, count: 18), "first slot untouched")
        XCTAssertEqual(Array(batch[18...]), [Float](repeating: 1, count: 18))
    }

    func testNormalizedRejectsBadArguments() {
        let image = Image(width: 2, height: 2)
        XCTAssertThrowsError(try image.normalized(scale: [1, 1], offset: [0, 0, 0]))
        XCTAssertThrowsError(try image.normalized(scale: [1, .nan, 1], offset: [0, 0, 0]))
        XCTAssertThrowsError(try image.normalized(scale: [1, 1, 1], offset: [0, .infinity, 0]))
        var small = [Float](repeating: 0, count: 11)
        XCTAssertThrowsError(try small.withUnsafeMutableBufferPointer {
            try image.normalized(into: $0, scale: [1, 1, 1], offset: [0, 0, 0])
        }) { error in
            guard case .invalidArgument(let message)? = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("12"), message)
        }
    }

    // MARK: - PNG encoding

    func testPNGRoundTripIsBitIdentical() throws {
        var state: UInt32 = 12345
        let pixels = (0..<(97 * 41 * 3)).map { _ -> UInt8 in
            state = state &* 1664525 &+ 1013904223
            return UInt8(truncatingIfNeeded: state >> 24)
        }
        let image = Image(width: 97, height: 41, pixels: pixels)!
        let png = try PNGEncoder.encode(image)
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(try ImageDecoder.decode(png, name: "roundtrip.png"), image)
        // A flat picture compresses.
        XCTAssertLessThan(try PNGEncoder.encode(Image(width: 500, height: 500)).count, 5_000)
    }

    func testPNGWriteToFileAndBack() throws {
        let dir = try makeTemporaryDirectory(self)
        let decoded = try ImageDecoder.decode(contentsOf: Fixtures.image("jpeg_baseline.jpg"))
        let url = dir.appendingPathComponent("sheet.png")
        try PNGEncoder.write(decoded, to: url)
        XCTAssertEqual(try ImageDecoder.decode(contentsOf: url), decoded)
        XCTAssertThrowsError(try PNGEncoder.write(decoded, to: dir.appendingPathComponent("missing/sheet.png"))) { error in
            guard case .unwritable? = error as? ImageError else { return XCTFail("\(error)") }
        }
    }

    // MARK: - Compositing

    func testPasteClipsAtEveryEdge() {
        let tile = Image(width: 3, height: 3, filledWith: Fixtures.red)
        var canvas = Image(width: 5, height: 4, filledWith: .white)
        canvas.paste(tile, x: -1, y: -1) // top-left 2x2 visible
        canvas.paste(tile, x: 4, y: 3)   // bottom-right 1x1 visible
        canvas.paste(tile, x: 10, y: 0)  // entirely outside
        var reds = 0
        for y in 0..<4 { for x in 0..<5 where canvas.pixel(x: x, y: y) == Fixtures.red { reds += 1 } }
        XCTAssertEqual(reds, 5)
        XCTAssertEqual(canvas.pixel(x: 1, y: 1), Fixtures.red)
        XCTAssertEqual(canvas.pixel(x: 2, y: 2), .white)
        XCTAssertEqual(canvas.pixel(x: 4, y: 3), Fixtures.red)
    }

    func testFillPaintsOnlyTheClippedRectangle() {
        var canvas = Image(width: 6, height: 6, filledWith: .black)
        canvas.fill(x: 4, y: -2, width: 10, height: 4, color: Fixtures.blue)
        for y in 0..<6 {
            for x in 0..<6 {
                XCTAssertEqual(canvas.pixel(x: x, y: y), (x >= 4 && y < 2) ? Fixtures.blue : .black, "(\(x), \(y))")
            }
        }
    }

    func testImageInitializerRejectsMismatchedSizes() {
        XCTAssertNil(Image(width: 2, height: 2, pixels: [0, 0, 0]))
        XCTAssertNil(Image(width: 0, height: 1, pixels: []))
        XCTAssertNil(Image(width: -1, height: -1, pixels: [0, 0, 0]))
        XCTAssertNotNil(Image(width: 1, height: 1, pixels: [1, 2, 3]))
    }
}
