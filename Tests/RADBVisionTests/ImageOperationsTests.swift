import Foundation
import RADBVision
import XCTest

/// Tensor normalisation, PNG encoding and compositing.
final class ImageOperationsTests: XCTestCase {
    // MARK: - Network input crop

    /// Within the aspect-ratio bound the crop is the plain resize-then-crop, bit for bit; a long
    /// thin strip is cut about its centre first (so it never becomes a huge intermediate, see
    /// `CLIHostileInputTests.testLongThinStripsAreEmbeddedWithinMemory`).
    func testResizedShorterSideCenterCroppedBoundsTheIntermediate() {
        var photo = Image(width: 300, height: 97, filledWith: RGB(10, 200, 30))
        for x in 0..<300 { photo.setPixel(x: x, y: x % 97, to: RGB(UInt8(x % 256), 0, 255)) }
        let plain = photo.resizedShorterSide(to: 64).centerCropped(width: 56, height: 56)
        let bounded = photo.resizedShorterSideCenterCropped(side: 64, crop: 56)
        XCTAssertEqual(bounded, plain)

        var strip = Image(width: 1_000, height: 3, filledWith: RGB(0, 0, 0))
        for x in 0..<1_000 { strip.setPixel(x: x, y: 1, to: RGB(UInt8(x % 256), 9, 9)) }
        let cut = strip.cropped(x: (1_000 - 96) / 2, y: 0, width: 96, height: 3)
        let expected = cut.resizedShorterSide(to: 64).centerCropped(width: 56, height: 56)
        XCTAssertEqual(strip.resizedShorterSideCenterCropped(side: 64, crop: 56), expected)
        let tall = Image(width: 1, height: 40_000, filledWith: RGB(1, 2, 3)).resizedShorterSideCenterCropped(side: 224, crop: 224)
        XCTAssertEqual(tall.pixel(x: 100, y: 100), RGB(1, 2, 3))
    }

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

/// The built-in caption font.
final class BitmapFontTests: XCTestCase {
    func testDrawsGlyphPixelsWhereTheDrawingHasInk() {
        var canvas = Image(width: 11, height: 7, filledWith: .white)
        canvas.drawText("1l", x: 0, y: 0, color: .black) // "l" is drawn as "L"
        // "1": ..#.. / .##.. / ..#.. ... / .###.  "L": column 0 inked on all rows, bottom row full.
        XCTAssertEqual(canvas.pixel(x: 2, y: 0), .black)
        XCTAssertEqual(canvas.pixel(x: 0, y: 0), .white)
        XCTAssertEqual(canvas.pixel(x: 1, y: 1), .black)
        XCTAssertEqual(canvas.pixel(x: 5, y: 3), .white, "spacing column")
        for row in 0..<7 { XCTAssertEqual(canvas.pixel(x: 6, y: row), .black) }
        for column in 6..<11 { XCTAssertEqual(canvas.pixel(x: column, y: 6), .black) }
        XCTAssertEqual(canvas.pixel(x: 10, y: 5), .white)
        XCTAssertEqual(BitmapFont.width(of: "1l"), 11)
        XCTAssertEqual(BitmapFont.width(of: "1l", scale: 2), 22)
    }

    func testScaledAndClippedTextNeverWritesOutside() {
        var canvas = Image(width: 20, height: 10, filledWith: .black)
        canvas.drawText("HELLO world 42%?", x: -7, y: 4, color: .white, scale: 3)
        let inked = stride(from: 0, to: canvas.pixels.count, by: 3).filter { canvas.pixels[$0] == 255 }.count
        XCTAssertGreaterThan(inked, 0)
        XCTAssertEqual(canvas.width, 20)
        XCTAssertEqual(canvas.pixels.count, 20 * 10 * 3)
    }

    func testEveryGlyphHasSevenRowsOfFiveColumns() {
        for (character, rows) in BitmapFont.glyphs {
            XCTAssertEqual(rows.count, 7, "\(character)")
            XCTAssertTrue(rows.allSatisfy { $0 < 32 }, "\(character)")
        }
        XCTAssertEqual(BitmapFont.rows(for: "~"), BitmapFont.rows(for: "?"))
    }
}

/// The pieces together, as the contact-sheet feature will use them.
final class ContactSheetTests: XCTestCase {
    func testContactSheetOfFixturesRoundTripsThroughPNG() throws {
        let names = ["jpeg_baseline.jpg", "png_rgba.png", "webp_lossy.webp", "jpeg_orientation_6.jpg"]
        var sheet = Image(width: 4 * 72 + 8, height: 60, filledWith: RGB(40, 40, 40))
        for (i, name) in names.enumerated() {
            let thumb = try ImageDecoder.decode(contentsOf: Fixtures.image(name)).resized(width: 64, height: 32)
            sheet.paste(thumb, x: 8 + i * 72, y: 8)
            sheet.drawText("\(i + 1)", x: 8 + i * 72, y: 46, color: .white)
        }
        // Each thumbnail's top-left quadrant is red; its caption's digit is drawn below it.
        for i in 0..<names.count {
            XCTAssertLessThanOrEqual(sheet.pixel(x: 8 + i * 72 + 16, y: 8 + 8).maxChannelDistance(to: Fixtures.red), 20)
        }
        XCTAssertEqual(sheet.pixel(x: 8 + 2, y: 46), .white, "top of the \"1\"")
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("sheet.png")
        try PNGEncoder.write(sheet, to: url)
        XCTAssertEqual(try ImageDecoder.decode(contentsOf: url), sheet)
        if let keep = ProcessInfo.processInfo.environment["RADB_KEEP_CONTACT_SHEET"] {
            try PNGEncoder.write(sheet, to: URL(fileURLWithPath: keep))
        }
    }
}
