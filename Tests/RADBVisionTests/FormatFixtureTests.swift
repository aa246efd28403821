import Foundation
import RADBVision
import XCTest

/// HEIC, AVIF, TIFF, GIF, BMP and camera RAW files made by real encoders
/// (Tools/make_format_fixtures.py, commands in Fixtures/formats/COMMANDS.txt) decode to the
/// pixels other software decodes them to (Fixtures/formats/reference/*.png: Pillow 13,
/// pillow-heif, rawpy), within the tolerance stated per file.
final class FormatFixtureTests: XCTestCase {
    static let folder = Fixtures.repositoryRoot.appendingPathComponent("Fixtures/formats")

    /// The largest per-channel difference allowed, and the largest mean absolute difference,
    /// with why.
    struct Tolerance {
        var max: Int
        var mean: Double
    }

    /// Same bits decoded by two libraries: alpha compositing and 16→8 rounding may differ by one.
    static let exact = Tolerance(max: 1, mean: 0.2)

    static let cases: [(file: String, format: ImageFormat, tolerance: Tolerance)] = [
        ("cat.heic", .heif, Tolerance(max: 2, mean: 0.2)),        // libheif 1.15 vs pillow-heif's 1.23: YCbCr→RGB rounding
        ("cat_alpha.heic", .heif, Tolerance(max: 2, mean: 0.2)),
        ("cat.avif", .avif, Tolerance(max: 2, mean: 0.3)),        // libheif + dav1d vs Pillow's libavif: YCbCr→RGB rounding
        ("cat_alpha.avif", .avif, Tolerance(max: 2, mean: 0.3)),
        ("cat_rgb8_lzw.tif", .tiff, exact),
        ("cat_rgb16_deflate.tif", .tiff, exact),
        ("cat_grey8.tif", .tiff, exact),
        ("cat_grey16_lzw.tif", .tiff, exact),
        ("cat_cmyk8.tif", .tiff, Tolerance(max: 1, mean: 0.5)),  // CMYK→RGB: (255−c)(255−k)/255, rounded differently
        ("cat_jpeg.tif", .tiff, Tolerance(max: 2, mean: 0.3)),    // two builds of libjpeg
        ("cat_packbits.tif", .tiff, exact),
        ("cat_rgba.tif", .tiff, Tolerance(max: 1, mean: 0.2)),    // libtiff premultiplies, Pillow does not
        ("cat_two_pages.tif", .tiff, exact),
        ("cat_orientation_6.tif", .tiff, exact),
        ("cat.gif", .gif, exact),
        ("cat_animated.gif", .gif, exact),
        ("cat_24.bmp", .bmp, exact),
        ("cat_8.bmp", .bmp, exact),
        ("cat_rle8.bmp", .bmp, exact),
        ("cat_4.bmp", .bmp, exact),
        ("cat_1.bmp", .bmp, exact),
        ("cat_565.bmp", .bmp, Tolerance(max: 1, mean: 0.6)),      // 5/6-bit channels scaled to 8 bits by two formulas
        ("cat_rgba.bmp", .bmp, exact),
        ("raw_mosaic.dng", .raw, Tolerance(max: 2, mean: 0.1)),   // libraw 0.20 vs rawpy's LibRaw 0.22
        ("orientation_exif6_no_irot.heic", .heif, Tolerance(max: 2, mean: 0.3)), // EXIF orientation ignored, as pillow-heif does
        ("orientation_irot_and_exif6.heic", .heif, Tolerance(max: 2, mean: 0.3)), // irot applied once
    ]

    func load(_ name: String) throws -> Image {
        try ImageDecoder.decode(contentsOf: Self.folder.appendingPathComponent(name))
    }

    func difference(_ a: Image, _ b: Image) -> (max: Int, mean: Double) {
        var largest = 0, total = 0
        for y in 0..<a.height {
            for x in 0..<a.width {
                let p = a.pixel(x: x, y: y), q = b.pixel(x: x, y: y)
                for (u, v) in [(p.red, q.red), (p.green, q.green), (p.blue, q.blue)] {
                    let d = abs(Int(u) - Int(v))
                    largest = Swift.max(largest, d)
                    total += d
                }
            }
        }
        return (largest, Double(total) / Double(3 * a.width * a.height))
    }

    func testFixturesMatchTheReferenceDecodes() throws {
        for (file, format, tolerance) in Self.cases {
            let bytes = try Data(contentsOf: Self.folder.appendingPathComponent(file))
            XCTAssertEqual(try ImageDecoder.decodingCost(of: bytes, name: file).format, format, file)
            let image = try load(file)
            let reference = try load("reference/\(file).png")
            XCTAssertEqual(image.size, reference.size, file)
            XCTAssertEqual(try ImageDecoder.size(of: bytes, name: file), file.hasSuffix(".dng") ? ImageSize(width: 128, height: 86) : image.size, file)
            guard image.size == reference.size else { continue }
            let d = difference(image, reference)
            print("\(file): max \(d.max), mean \(String(format: "%.3f", d.mean))")
            XCTAssertLessThanOrEqual(d.max, tolerance.max, "\(file): largest channel difference")
            XCTAssertLessThanOrEqual(d.mean, tolerance.mean, "\(file): mean channel difference")
        }
    }

    // MARK: - Orientation

    func testHEIFOrientationIsAppliedOnce() throws {
        // irot turns the sideways-stored picture upright; the EXIF tag saying the same is not applied again.
        let upright = try ImageDecoder.decode(contentsOf: Fixtures.image("jpeg_orientation_6.jpg"))
        let heic = try load("orientation_irot_and_exif6.heic")
        XCTAssertEqual(heic.size, upright.size)
        if heic.size == upright.size { XCTAssertLessThanOrEqual(difference(heic, upright).mean, 4) }
        // Without irot the EXIF tag alone is ignored, as libheif and pillow-heif do.
        XCTAssertEqual(try load("orientation_exif6_no_irot.heic").size, ImageSize(width: 32, height: 64))
    }

    // MARK: - Camera raw

    func testRAWUsesTheEmbeddedPreviewWhenLargeEnough() throws {
        let small = try load("cat_small.png")
        let data = try Data(contentsOf: Self.folder.appendingPathComponent("raw_preview.dng"))
        let full = try ImageDecoder.decodeDescribed(data, name: "raw_preview.dng")
        XCTAssertEqual(full.format, .raw)
        XCTAssertEqual(full.rendering, "embedded preview")
        XCTAssertEqual(full.image.size, ImageSize(width: 128, height: 86))
        XCTAssertEqual(full.image.pixel(x: 21, y: 31), small.pixel(x: 10, y: 15))
        // A preview smaller than the size asked for: the sensor data is demosaiced at half size.
        let big = try ImageDecoder.decodeDescribed(data, name: "raw_preview.dng", targetSizeHint: ImageSize(width: 200, height: 200))
        XCTAssertEqual(big.rendering, "half-size demosaic")
        XCTAssertEqual(big.image.size, ImageSize(width: 64, height: 43))
        let mosaic = try ImageDecoder.decodeDescribed(try Data(contentsOf: Self.folder.appendingPathComponent("raw_mosaic.dng")))
        XCTAssertEqual(mosaic.rendering, "half-size demosaic")
        XCTAssertEqual(mosaic.image.size, small.size) // compared with rawpy's decode in testFixturesMatchTheReferenceDecodes
    }

    func testRAWOrientationIsAppliedOnce() throws {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent("raw_preview_orientation_6.dng"))
        XCTAssertEqual(try ImageDecoder.size(of: data), ImageSize(width: 86, height: 128))
        let preview = try ImageDecoder.decodeDescribed(data)
        XCTAssertEqual(preview.rendering, "embedded preview")
        XCTAssertEqual(preview.image, try load("raw_preview.dng").applyingOrientation(.right))
        let demosaic = try ImageDecoder.decodeDescribed(data, targetSizeHint: ImageSize(width: 100, height: 100))
        XCTAssertEqual(demosaic.rendering, "half-size demosaic")
        XCTAssertEqual(demosaic.image.size, ImageSize(width: 43, height: 64))
    }

    // MARK: - Damaged and hostile files

    func testPrefixesAndBitFlipsFailCleanly() throws {
        // Truncations and single-byte corruptions end in an Image or an ImageError, never a crash,
        // a hang or another error type.
        let names = ["cat.heic", "cat.avif", "cat_rgb8_lzw.tif", "cat_jpeg.tif", "cat_two_pages.tif", "cat_animated.gif",
                     "cat_8.bmp", "cat_rle8.bmp", "cat_rgba.bmp", "raw_mosaic.dng"]
        var rng = SeededBytes(seed: 19)
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: Self.folder.appendingPathComponent(name)))
            var outcomes = (images: 0, errors: 0, prefixes: 0)
            func attempt(_ data: [UInt8], prefix: Bool) {
                do { _ = try ImageDecoder.decode(data, name: name); outcomes.images += 1 }
                catch let error as ImageError {
                    outcomes.errors += 1
                    if prefix { outcomes.prefixes += 1 }
                    XCTAssertEqual(error.source, name, "\(error)")
                }
                catch { XCTFail("\(name): untyped error \(error)") }
            }
            let step = max(1, bytes.count / 300)
            var lengths = 0
            for length in stride(from: 0, to: bytes.count, by: step) { attempt(Array(bytes[..<length]), prefix: true); lengths += 1 }
            for _ in 0..<150 {
                var flipped = bytes
                flipped[rng.next(below: bytes.count)] ^= UInt8(1 + rng.next(below: 255))
                attempt(flipped, prefix: false)
            }
            // Multi-picture files decode once their first picture is complete (a third of the way in).
            XCTAssertGreaterThan(outcomes.prefixes, lengths / 3, "\(name): prefixes that cut the picture must be refused")
        }
    }

    func testDeclaredSizesAreCheckedBeforeDecoding() throws {
        func expectTooLarge(_ bytes: [UInt8], _ name: String, maxPixels: Int = ImageDecoder.defaultMaxPixels,
                            file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try ImageDecoder.decode(bytes, name: name, maxPixels: maxPixels), file: file, line: line) { error in
                guard case .tooLarge(name, _, _, _)? = error as? ImageError else {
                    return XCTFail("\(name): expected .tooLarge, got \(error)", file: file, line: line)
                }
            }
        }
        // BMP and GIF headers declaring 50000×50000 and 65535×65535 pixels in a few bytes.
        var bmp = [UInt8](repeating: 0, count: 64)
        bmp[0] = 0x42; bmp[1] = 0x4D; bmp[10] = 54; bmp[14] = 40
        for (at, v) in [(18, 50_000), (22, 50_000)] { for k in 0..<4 { bmp[at + k] = UInt8((v >> (8 * k)) & 0xFF) } }
        bmp[26] = 1; bmp[28] = 24
        expectTooLarge(bmp, "bomb.bmp")
        XCTAssertEqual(try ImageDecoder.decodingCost(of: Data(bmp)).declaredSize, ImageSize(width: 50_000, height: 50_000))
        let gif: [UInt8] = Array("GIF89a".utf8) + [0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0, 0] + [UInt8](repeating: 0, count: 6)
            + [0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 2, 2, 0x4C, 0x01, 0, 0x3B]
        expectTooLarge(gif, "bomb.gif")
        // Every real fixture is refused under a small enough limit, before its pixels are decoded.
        for name in ["cat.heic", "cat.avif", "cat_rgb8_lzw.tif", "cat.gif", "cat_24.bmp", "raw_mosaic.dng"] {
            expectTooLarge([UInt8](try Data(contentsOf: Self.folder.appendingPathComponent(name))), name, maxPixels: 100)
        }
    }

    func testFormatIsFoundFromBytesNotNames() throws {
        for (file, format, _) in Self.cases {
            let bytes = try Data(contentsOf: Self.folder.appendingPathComponent(file))
            XCTAssertEqual(try ImageDecoder.decodeDescribed(bytes, name: "renamed.jpg").format, format, file)
        }
    }
}

/// A small deterministic generator (the damaged-file test must be reproducible).
struct SeededBytes {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 }
    mutating func next(below n: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(n))
    }
}
