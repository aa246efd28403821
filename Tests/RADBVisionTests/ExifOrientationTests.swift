import Foundation
import RADBVision
import XCTest

/// EXIF orientation: every value 1–8, both TIFF byte orders, and the PNG/WebP containers.
final class ExifOrientationTests: XCTestCase {
    let upright = [Fixtures.red, Fixtures.green, Fixtures.blue, Fixtures.white]

    func testAllEightOrientationsComeOutUpright() throws {
        // Each file stores the 64x32 quadrant picture transformed by the inverse of its tag, so all
        // must decode to the same upright picture. Odd tags are big-endian (MM), even little-endian (II).
        for o in 1...8 {
            let url = Fixtures.image("jpeg_orientation_\(o).jpg")
            let image = try ImageDecoder.decode(contentsOf: url)
            assertQuadrants(image, upright, tolerance: 12, "orientation \(o)")
        }
    }

    func testPNGExifOrientationMapsEveryPixel() throws {
        // The stored picture is 32x64 (turned); the PNG container is lossless, so the upright
        // result must equal the plain 64x32 picture pixel for pixel, not just at the centres.
        let rotated = try ImageDecoder.decode(contentsOf: Fixtures.image("png_exif_orientation_6.png"))
        let plain = try ImageDecoder.decode(contentsOf: Fixtures.image("png_rgb8.png"))
        XCTAssertEqual(rotated, plain)
    }

    func testWebPExifOrientation() throws {
        let rotated = try ImageDecoder.decode(contentsOf: Fixtures.image("webp_exif_orientation_6.webp"))
        XCTAssertEqual(rotated, try ImageDecoder.decode(contentsOf: Fixtures.image("webp_lossless.webp")))
    }

    func testOrientationTransformsMatchTheirDefinitions() {
        // A 3x2 picture with distinct pixels; compare with the EXIF definitions written out by hand.
        let stored = Image(width: 3, height: 2, pixels: (0..<6).flatMap { [UInt8($0), 0, 0] })!
        func reds(_ image: Image) -> [[UInt8]] {
            (0..<image.height).map { y in (0..<image.width).map { x in image.pixel(x: x, y: y).red } }
        }
        // stored: [0 1 2]
        //         [3 4 5]
        XCTAssertEqual(reds(stored.applyingOrientation(.up)), [[0, 1, 2], [3, 4, 5]])
        XCTAssertEqual(reds(stored.applyingOrientation(.upMirrored)), [[2, 1, 0], [5, 4, 3]])
        XCTAssertEqual(reds(stored.applyingOrientation(.down)), [[5, 4, 3], [2, 1, 0]])
        XCTAssertEqual(reds(stored.applyingOrientation(.downMirrored)), [[3, 4, 5], [0, 1, 2]])
        XCTAssertEqual(reds(stored.applyingOrientation(.leftMirrored)), [[0, 3], [1, 4], [2, 5]])
        XCTAssertEqual(reds(stored.applyingOrientation(.right)), [[3, 0], [4, 1], [5, 2]])
        XCTAssertEqual(reds(stored.applyingOrientation(.rightMirrored)), [[5, 2], [4, 1], [3, 0]])
        XCTAssertEqual(reds(stored.applyingOrientation(.left)), [[2, 5], [1, 4], [0, 3]])
    }

    func testDamagedExifIsIgnoredNotFatal() throws {
        // Cut the IFD of a tagged file short: the picture still decodes, as stored (no rotation).
        var bytes = [UInt8](try Data(contentsOf: Fixtures.image("jpeg_orientation_6.jpg")))
        guard let exif = bytes.firstRange(of: Array("Exif".utf8)) else { return XCTFail("fixture has no Exif") }
        // Point IFD0 far outside the segment (offset field at TIFF header + 4).
        let tiff = exif.lowerBound + 6
        for i in 0..<4 { bytes[tiff + 4 + i] = 0x7F }
        let image = try ImageDecoder.decode(bytes, name: "damaged-exif.jpg")
        XCTAssertEqual(image.size, ImageSize(width: 32, height: 64))
    }

    func testReducedScaleHonoursTheUprightTarget() throws {
        // A 32x64 stored picture shown as 64x32: a hint of 60x20 allows no reduction
        // (1/2 would be 32 wide), a hint of 30x10 allows 1/2.
        let url = Fixtures.image("jpeg_orientation_6.jpg")
        XCTAssertEqual(try ImageDecoder.decode(contentsOf: url, targetSizeHint: ImageSize(width: 60, height: 20)).size,
                       ImageSize(width: 64, height: 32))
        XCTAssertEqual(try ImageDecoder.decode(contentsOf: url, targetSizeHint: ImageSize(width: 30, height: 10)).size,
                       ImageSize(width: 32, height: 16))
    }
}
