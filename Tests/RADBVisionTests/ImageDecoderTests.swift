import Foundation
import RADBVision
import RADBCore
import XCTest

/// Every supported kind of real file decodes to the right size and colours.
final class ImageDecoderTests: XCTestCase {
    let rgbw = [Fixtures.red, Fixtures.green, Fixtures.blue, Fixtures.white]

    func decode(_ name: String, hint: ImageSize? = nil) throws -> Image {
        try ImageDecoder.decode(contentsOf: Fixtures.image(name), targetSizeHint: hint)
    }

    // MARK: - JPEG

    func testBaselineJPEG() throws {
        assertQuadrants(try decode("jpeg_baseline.jpg"), rgbw, tolerance: 12, "baseline JPEG")
    }

    func testProgressiveJPEG() throws {
        assertQuadrants(try decode("jpeg_progressive.jpg"), rgbw, tolerance: 12, "progressive JPEG")
    }

    func testGreyscaleJPEGIsExpandedToRGB() throws {
        let levels: [UInt8] = [40, 100, 160, 220]
        assertQuadrants(try decode("jpeg_grey.jpg"), levels.map { RGB($0, $0, $0) }, tolerance: 3, "greyscale JPEG")
    }

    func testAdobeCMYKJPEGIsConvertedToRGB() throws {
        assertQuadrants(try decode("jpeg_cmyk.jpg"), rgbw, tolerance: 12, "CMYK JPEG")
    }

    func testLargeJPEGDecodesAtReducedDCTScaleThatStillCoversTheTarget() throws {
        let full = try decode("jpeg_large_1024x768.jpg")
        XCTAssertEqual(full.size, ImageSize(width: 1024, height: 768))
        // 1/4 would give 256x192 (< 224 high), so 1/2 is the largest reduction that covers 224x224.
        let half = try decode("jpeg_large_1024x768.jpg", hint: ImageSize(width: 224, height: 224))
        XCTAssertEqual(half.size, ImageSize(width: 512, height: 384))
        XCTAssertEqual(try decode("jpeg_large_1024x768.jpg", hint: ImageSize(width: 100, height: 90)).size,
                       ImageSize(width: 128, height: 96))
        XCTAssertEqual(try decode("jpeg_large_1024x768.jpg", hint: ImageSize(width: 2000, height: 2000)).size,
                       full.size, "a hint larger than the picture decodes at full size")
        // The reduced decode shows the same picture.
        for (x, y, colour) in [(128, 96, Fixtures.red), (384, 96, Fixtures.green), (128, 288, Fixtures.blue),
                               (384, 288, Fixtures.white)] {
            XCTAssertLessThanOrEqual(half.pixel(x: x, y: y).maxChannelDistance(to: colour), 12)
        }
    }

    // MARK: - PNG

    func testRGB8PNGIsExact() throws {
        assertQuadrants(try decode("png_rgb8.png"), rgbw, tolerance: 0, "8-bit RGB PNG")
    }

    func testRGB16PNGIsReducedTo8Bits() throws {
        assertQuadrants(try decode("png_rgb16.png"),
                        [RGB(64, 0, 0), RGB(0, 128, 0), RGB(0, 0, 192), RGB(64, 128, 192)],
                        tolerance: 0, "16-bit RGB PNG")
    }

    func testPalettePNG() throws {
        assertQuadrants(try decode("png_palette.png"), rgbw, tolerance: 0, "palette PNG")
    }

    func testGreyPNGs() throws {
        let levels: [UInt8] = [40, 100, 160, 220]
        assertQuadrants(try decode("png_grey.png"), levels.map { RGB($0, $0, $0) }, tolerance: 0, "grey PNG")
        // 16-bit grey 300 and 60000 of 65535 → 1 and 233 of 255.
        let grey16 = try decode("png_grey16.png")
        assertQuadrants(grey16, [RGB(1, 1, 1), RGB(233, 233, 233), RGB(1, 1, 1), RGB(233, 233, 233)],
                        tolerance: 1, "16-bit grey PNG")
    }

    func testAlphaIsCompositedOverWhite() throws {
        // Opaque red, fully transparent black, half-transparent blue (alpha 128), opaque white.
        let expected = [Fixtures.red, Fixtures.white, RGB(127, 127, 255), Fixtures.white]
        assertQuadrants(try decode("png_rgba.png"), expected, tolerance: 1, "RGBA PNG")
        // Grey+alpha: opaque 0, transparent, 100 at alpha 128 → 177, opaque 200.
        assertQuadrants(try decode("png_grey_alpha.png"),
                        [RGB(0, 0, 0), Fixtures.white, RGB(177, 177, 177), RGB(200, 200, 200)],
                        tolerance: 1, "grey+alpha PNG")
    }

    // MARK: - WebP

    func testLossyWebP() throws {
        assertQuadrants(try decode("webp_lossy.webp"), rgbw, tolerance: 20, "lossy WebP")
    }

    func testLosslessWebPIsExact() throws {
        assertQuadrants(try decode("webp_lossless.webp"), rgbw, tolerance: 0, "lossless WebP")
    }

    func testWebPAlphaIsCompositedOverWhite() throws {
        assertQuadrants(try decode("webp_alpha.webp"),
                        [Fixtures.red, Fixtures.white, RGB(127, 127, 255), Fixtures.white],
                        tolerance: 1, "WebP with alpha")
    }

    // MARK: - Sources and format detection

    func testFormatComesFromBytesNotTheFileName() throws {
        // PNG bytes in a file called .jpg decode as PNG.
        let image = try decode("png_named.jpg")
        XCTAssertEqual(image, try decode("png_rgb8.png"))
        let bytes = try Data(contentsOf: Fixtures.image("png_named.jpg"))
        XCTAssertEqual(try bytes.withUnsafeBytes { try ImageDecoder.format(of: $0) }, .png)
    }

    func testInMemoryDecodingMatchesFileDecoding() throws {
        for name in ["jpeg_baseline.jpg", "png_rgba.png", "webp_lossy.webp", "jpeg_orientation_6.jpg"] {
            let data = try Data(contentsOf: Fixtures.image(name))
            let fromFile = try decode(name)
            XCTAssertEqual(try ImageDecoder.decode(data, name: name), fromFile, name)
            XCTAssertEqual(try ImageDecoder.decode([UInt8](data), name: name), fromFile, name)
        }
    }

    func testConcurrentDecodingGivesTheSameResults() throws {
        let names = ["jpeg_baseline.jpg", "jpeg_cmyk.jpg", "png_palette.png", "webp_lossless.webp",
                     "jpeg_orientation_8.jpg", "png_rgb16.png"]
        let expected = try names.map { try decode($0) }
        let results = UnsafeMutableBufferPointer<Image?>.allocate(capacity: 60)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        let slots = DisjointRows(results.baseAddress!) // iteration i writes slot i only
        Parallel.forEach(60) { i in
            slots[i] = try? ImageDecoder.decode(contentsOf: Fixtures.image(names[i % names.count]))
        }
        for i in 0..<60 { XCTAssertEqual(results[i], expected[i % names.count], names[i % names.count]) }
    }

    // MARK: - Real photos (shared data)

    func testDecodesTheSharedPhotos_needsSharedData() throws {
        guard let folder = Fixtures.sharedPhotos else {
            throw XCTSkip("../shared/models/imagenet-mobilenet/photos is absent; skipping the real-photo check")
        }
        // Sizes and mean colours as Pillow reports them (exif_transpose, convert("RGB")).
        let expected: [(String, Int, Int, [Double])] = [
            ("bird.png", 512, 343, [90.6, 98.2, 60.2]), ("cat.png", 512, 341, [156.8, 103.1, 81.0]),
            ("cat_720p.jpg", 1280, 720, [156.8, 103.2, 81.0]), ("dragonfly.png", 512, 418, [131.9, 120.1, 109.0]),
            ("grace_hopper.png", 512, 600, [82.6, 72.4, 86.4]), ("hot_dog.jpg", 512, 384, [55.2, 59.5, 41.1]),
            ("kite_and_cold.jpg", 1352, 900, [210.2, 197.8, 185.8]), ("owl.jpg", 512, 384, [95.9, 111.2, 72.9]),
            ("parrot.jpg", 512, 929, [147.6, 130.9, 117.2]),
        ]
        for (name, w, h, mean) in expected {
            let image = try ImageDecoder.decode(contentsOf: folder.appendingPathComponent(name))
            XCTAssertEqual(image.size, ImageSize(width: w, height: h), name)
            var sums = [0.0, 0.0, 0.0]
            for (i, v) in image.pixels.enumerated() { sums[i % 3] += Double(v) }
            for c in 0..<3 {
                XCTAssertEqual(sums[c] / Double(w * h), mean[c], accuracy: 0.5, "\(name) channel \(c) mean")
            }
        }
    }
}

/// CMYK conversion for both conventions (plain inks, and Adobe's inverted inks).
final class CMYKConversionTests: XCTestCase {
    func convert(_ cmyk: [UInt8], inverted: Bool) -> [UInt8] {
        var rgb = [UInt8](repeating: 0, count: cmyk.count / 4 * 3)
        cmyk.withUnsafeBufferPointer { src in
            rgb.withUnsafeMutableBufferPointer { JPEGDecoder.convertCMYK(src, to: $0, inverted: inverted) }
        }
        return rgb
    }

    func testPlainAndAdobeInvertedInks() {
        // Red = no cyan, full magenta and yellow, no black; 50 % grey = K at half.
        XCTAssertEqual(convert([0, 255, 255, 0, 0, 0, 0, 128, 0, 0, 0, 255], inverted: false),
                       [255, 0, 0, 127, 127, 127, 0, 0, 0])
        XCTAssertEqual(convert([255, 0, 0, 255, 255, 255, 255, 127, 255, 255, 255, 0], inverted: true),
                       [255, 0, 0, 127, 127, 127, 0, 0, 0])
        // Ink and black multiply: 50 % cyan over 50 % black.
        XCTAssertEqual(convert([128, 0, 0, 128], inverted: false), [63, 127, 127]) // 127·127/255 = 63.25
    }
}
