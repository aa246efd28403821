import Foundation
import RADBVision
import XCTest

/// Resampling quality against first principles and a naive reference; cropping helpers.
final class ResizeTests: XCTestCase {
    /// A deterministic pseudo-random picture.
    func noise(width: Int, height: Int, seed: UInt64) -> Image {
        var state = seed
        let bytes = (0..<(width * height * 3)).map { _ -> UInt8 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        return Image(width: width, height: height, pixels: bytes)!
    }

    /// The separable antialiased triangle filter written the slow, obvious way in Double:
    /// out(x, y) = Σ_j Σ_i wy(y, j) · wx(x, i) · in(i, j).
    func referenceResize(_ image: Image, width: Int, height: Int) -> [Double] {
        func weights(_ inCount: Int, _ outCount: Int) -> [[Double]] {
            let scale = Double(inCount) / Double(outCount)
            let filterScale = max(scale, 1)
            return (0..<outCount).map { o in
                let center = (Double(o) + 0.5) * scale
                var w = (0..<inCount).map { i in max(0, 1 - abs((Double(i) + 0.5 - center) / filterScale)) }
                let total = w.reduce(0, +)
                w = w.map { $0 / total }
                return w
            }
        }
        let wx = weights(image.width, width), wy = weights(image.height, height)
        var out = [Double](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 {
                    var acc = 0.0
                    for j in 0..<image.height where wy[y][j] != 0 {
                        for i in 0..<image.width where wx[x][i] != 0 {
                            acc += wy[y][j] * wx[x][i] * Double(image.pixels[(j * image.width + i) * 3 + c])
                        }
                    }
                    out[(y * width + x) * 3 + c] = acc
                }
            }
        }
        return out
    }

    func testMatchesTheNaiveReferenceForShrinkGrowAndMixed() {
        let source = noise(width: 37, height: 29, seed: 7)
        for (w, h) in [(9, 7), (80, 61), (12, 50), (37, 10), (5, 29), (1, 1)] {
            let fast = source.resized(width: w, height: h)
            let reference = referenceResize(source, width: w, height: h)
            XCTAssertEqual(fast.size, ImageSize(width: w, height: h))
            var worst = 0.0
            for (a, b) in zip(fast.pixels, reference) { worst = max(worst, abs(Double(a) - b)) }
            XCTAssertLessThanOrEqual(worst, 0.51, "\(w)x\(h): max deviation from the reference \(worst)")
        }
    }

    func testCheckerboardShrinksToMeanGrey() {
        // A one-pixel black/white checkerboard has no representable detail at 1/8 size: an
        // antialiasing filter must give mid grey everywhere, where point sampling gives black or white.
        let n = 256
        let bytes = (0..<(n * n)).flatMap { i -> [UInt8] in
            let v: UInt8 = ((i % n) + (i / n)) % 2 == 0 ? 0 : 255
            return [v, v, v]
        }
        let board = Image(width: n, height: n, pixels: bytes)!
        let small = board.resized(width: 32, height: 32)
        for v in small.pixels { XCTAssertTrue((126...129).contains(v), "pixel \(v) is not mid grey") }
        // Large enough to take the two-thread path as well.
        let big = Image(width: 2048, height: 2048, pixels: (0..<(2048 * 2048)).flatMap { i -> [UInt8] in
            let v: UInt8 = ((i % 2048) + (i / 2048)) % 2 == 0 ? 0 : 255
            return [v, v, v]
        })!
        for v in big.resized(width: 224, height: 224).pixels { XCTAssertTrue((126...129).contains(v)) }
    }

    func testConstantPictureStaysConstantWhenScaled() {
        let flat = Image(width: 17, height: 11, filledWith: RGB(12, 200, 99))
        for (w, h) in [(224, 224), (3, 2), (17, 50), (400, 11)] {
            let out = flat.resized(width: w, height: h)
            for y in 0..<h { for x in 0..<w { XCTAssertEqual(out.pixel(x: x, y: y), RGB(12, 200, 99)) } }
        }
    }

    func testSameSizeIsIdentity() {
        let source = noise(width: 20, height: 10, seed: 3)
        XCTAssertEqual(source.resized(width: 20, height: 10), source)
    }

    func testHorizontalGradientStaysMonotonic() {
        let w = 300
        let ramp = Image(width: w, height: 4, pixels: (0..<(w * 4)).flatMap { i -> [UInt8] in
            let v = UInt8((i % w) * 255 / (w - 1)); return [v, v, v]
        })!
        let out = ramp.resized(width: 77, height: 4)
        for x in 1..<77 { XCTAssertGreaterThanOrEqual(out.pixel(x: x, y: 2).red, out.pixel(x: x - 1, y: 2).red) }
    }

    // MARK: - Shorter side and crops

    func testResizedShorterSideKeepsAspectRatioLikeTorchvision() {
        let landscape = Image(width: 640, height: 480)
        XCTAssertEqual(landscape.resizedShorterSide(to: 256).size, ImageSize(width: 341, height: 256))
        let portrait = Image(width: 512, height: 929)
        XCTAssertEqual(portrait.resizedShorterSide(to: 256).size, ImageSize(width: 256, height: 464))
    }

    func testCenterCropTakesTheMiddle() {
        var image = Image(width: 10, height: 6, filledWith: .black)
        image.fill(x: 3, y: 1, width: 4, height: 4, color: Fixtures.red)
        let crop = image.centerCropped(width: 4, height: 4)
        XCTAssertEqual(crop, Image(width: 4, height: 4, filledWith: Fixtures.red))
        // Larger than the picture: padded, picture centred.
        let padded = Image(width: 2, height: 2, filledWith: .white).centerCropped(width: 4, height: 4)
        XCTAssertEqual(padded.pixel(x: 0, y: 0), .black)
        XCTAssertEqual(padded.pixel(x: 1, y: 1), .white)
        XCTAssertEqual(padded.pixel(x: 2, y: 2), .white)
        XCTAssertEqual(padded.pixel(x: 3, y: 3), .black)
    }

    func testMobileNetPreprocessingOfARealPhoto_needsSharedData() throws {
        guard let folder = Fixtures.sharedPhotos else {
            throw XCTSkip("../shared/models/imagenet-mobilenet/photos is absent; skipping")
        }
        let url = folder.appendingPathComponent("kite_and_cold.jpg")
        let reduced = try ImageDecoder.decode(contentsOf: url, targetSizeHint: ImageSize(width: 256, height: 256))
        XCTAssertEqual(reduced.size, ImageSize(width: 676, height: 450), "1352x900 decodes at 1/2 for a 256 target")
        let input = reduced.resizedShorterSide(to: 256).centerCropped(width: 224, height: 224)
        XCTAssertEqual(input.size, ImageSize(width: 224, height: 224))
        // The full-resolution path gives nearly the same picture.
        let full = try ImageDecoder.decode(contentsOf: url).resizedShorterSide(to: 256).centerCropped(width: 224, height: 224)
        var total = 0
        for (a, b) in zip(input.pixels, full.pixels) { total += abs(Int(a) - Int(b)) }
        XCTAssertLessThan(Double(total) / Double(input.pixels.count), 2.0, "mean absolute difference")
    }
}

/// Cross-implementation check: the same filter as Pillow's `resize(size, BILINEAR)`.
final class PillowResizeAgreementTests: XCTestCase {
    func testMatchesPillowBilinearWithinOneGreyLevel() throws {
        // Fixtures/images/resize_pillow_WxH.png were written by Pillow (Tools/make_image_fixtures.py).
        let source = try ImageDecoder.decode(contentsOf: Fixtures.image("resize_source.png"))
        for (w, h) in [(40, 30), (150, 120), (97, 20), (13, 61)] {
            let pillow = try ImageDecoder.decode(contentsOf: Fixtures.image("resize_pillow_\(w)x\(h).png"))
            let ours = source.resized(width: w, height: h)
            XCTAssertEqual(ours.size, pillow.size)
            var worst = 0, total = 0
            for (a, b) in zip(ours.pixels, pillow.pixels) {
                let d = abs(Int(a) - Int(b)); worst = max(worst, d); total += d
            }
            XCTAssertLessThanOrEqual(worst, 1, "\(w)x\(h): largest difference from Pillow")
            XCTAssertLessThan(Double(total) / Double(ours.pixels.count), 0.5, "\(w)x\(h): mean difference from Pillow")
        }
    }
}
