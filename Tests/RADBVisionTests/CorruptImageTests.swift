import Foundation
import RADBVision
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Hostile and broken inputs give typed errors that name the file; none may crash.
final class CorruptImageTests: XCTestCase {
    func decodeError(_ name: String, maxPixels: Int = ImageDecoder.defaultMaxPixels,
                     file: StaticString = #filePath, line: UInt = #line) -> ImageError? {
        do {
            _ = try ImageDecoder.decode(contentsOf: Fixtures.image(name), maxPixels: maxPixels)
            XCTFail("\(name) decoded without an error", file: file, line: line)
            return nil
        } catch let error as ImageError {
            XCTAssertEqual(error.source, Fixtures.image(name).path, file: file, line: line)
            XCTAssertTrue(error.description.contains(name), "message names the file: \(error)", file: file, line: line)
            return error
        } catch {
            XCTFail("\(name): untyped error \(error)", file: file, line: line)
            return nil
        }
    }

    func testTruncatedJPEG() {
        guard case .truncated(_, .jpeg, let detail)? = decodeError("corrupt_truncated.jpg") else {
            return XCTFail("expected .truncated(JPEG)")
        }
        XCTAssertTrue(detail.lowercased().contains("premature end"), detail)
    }

    func testPNGWithBadCRC() {
        guard case .corrupt(_, .png, let detail)? = decodeError("corrupt_bad_crc.png") else {
            return XCTFail("expected .corrupt(PNG)")
        }
        XCTAssertTrue(detail.contains("CRC"), detail)
    }

    func testEmptyFile() {
        guard case .empty? = decodeError("empty.jpg") else { return XCTFail("expected .empty") }
    }

    func testTextFileNamedJPG() {
        guard case .notAnImage(_, let leading)? = decodeError("text.jpg") else { return XCTFail("expected .notAnImage") }
        XCTAssertEqual(leading, "54 68 69 73 20 69 73 20") // "This is "
    }

    func testUnsupportedFormatIsNamed() {
        // An MP4 video's ftyp box: recognised, named, refused.
        let mp4: [UInt8] = [0, 0, 0, 0x18] + Array("ftypisom".utf8) + [0, 0, 2, 0] + Array("isomiso2".utf8)
        XCTAssertThrowsError(try ImageDecoder.decode(mp4, name: "clip.heic")) { error in
            guard case .unsupportedFormat("clip.heic", let format)? = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertTrue(format.contains("video"), format)
        }
        // The GIF once kept here as an unsupported format now decodes (first frame).
        XCTAssertEqual(try ImageDecoder.decode(contentsOf: Fixtures.image("unsupported.gif")).size, ImageSize(width: 64, height: 32))
    }

    func testMissingFileAndDirectory() {
        let missing = Fixtures.image("no-such-file.jpg")
        XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: missing)) { error in
            guard case .unreadable(let source, let reason)? = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertEqual(source, missing.path)
            XCTAssertTrue(reason.contains("No such file"), reason)
        }
        XCTAssertThrowsError(try ImageDecoder.decode(contentsOf: Fixtures.image(""))) { error in
            guard case .unreadable(_, let reason)? = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("directory"), reason)
        }
    }

    // MARK: - Decompression bombs

    /// Peak resident memory of this process in bytes.
    func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    func testBombHeadersAreRefusedBeforeAllocating() {
        let before = peakResidentBytes()
        let start = Date()
        // A 68-byte PNG claiming 100000x100000 (30 GB as RGB), a JPEG claiming 65000x65000 (12.7 GB)
        // and a WebP claiming 16383x16383 (805 MB).
        guard case .tooLarge(_, 100_000, 100_000, ImageDecoder.defaultMaxPixels)? = decodeError("bomb_100000x100000.png") else {
            return XCTFail("expected .tooLarge for the PNG bomb")
        }
        guard case .tooLarge(_, 65_000, 65_000, _)? = decodeError("bomb_65000x65000.jpg") else {
            return XCTFail("expected .tooLarge for the JPEG bomb")
        }
        guard case .tooLarge(_, 16_383, 16_383, _)? = decodeError("bomb_16383x16383.webp") else {
            return XCTFail("expected .tooLarge for the WebP bomb")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.5, "refusal reads only the header")
        // Had either decoder allocated and touched its pixel buffer, the peak would have grown by gigabytes.
        XCTAssertLessThan(peakResidentBytes() - before, 64 << 20)
    }

    func testPixelLimitAppliesToEveryFormat() {
        // 64x32 = 2048 pixels: a limit of 2047 refuses each format, 2048 admits it.
        for name in ["jpeg_baseline.jpg", "png_rgb8.png", "webp_lossy.webp"] {
            guard case .tooLarge(_, 64, 32, 2047)? = decodeError(name, maxPixels: 2047) else {
                XCTFail("\(name): expected .tooLarge"); continue
            }
            XCTAssertNoThrow(try ImageDecoder.decode(contentsOf: Fixtures.image(name), maxPixels: 2048))
        }
    }

    // MARK: - Fuzzing with the real fixtures

    func testEveryPrefixAndBitFlipOfTheFixturesFailsCleanly() throws {
        // Truncations at every length and single-byte corruptions must end in an Image or an
        // ImageError, never a crash or another error type.
        for name in ["jpeg_baseline.jpg", "jpeg_progressive.jpg", "png_rgba.png", "webp_lossy.webp",
                     "webp_lossless.webp", "jpeg_orientation_5.jpg"] {
            let bytes = [UInt8](try Data(contentsOf: Fixtures.image(name)))
            var outcomes = (images: 0, errors: 0)
            func attempt(_ data: [UInt8]) {
                do { _ = try ImageDecoder.decode(data, name: name); outcomes.images += 1 }
                catch is ImageError { outcomes.errors += 1 }
                catch { XCTFail("\(name): untyped error \(error)") }
            }
            for length in 0..<bytes.count { attempt(Array(bytes[..<length])) }
            var rng = SystemRandomNumberGenerator()
            for _ in 0..<300 {
                var flipped = bytes
                flipped[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                attempt(flipped)
            }
            XCTAssertGreaterThan(outcomes.errors, bytes.count / 2, "\(name): most prefixes must be refused")
        }
    }

    func testErrorMessagesSayWhatToDo() {
        let error = ImageError.tooLarge(source: "/photos/a.jpg", width: 100_000, height: 100_000, maxPixels: 10)
        XCTAssertTrue(error.description.hasPrefix("/photos/a.jpg: "))
        XCTAssertTrue(error.description.contains("raise maxPixels"))
        XCTAssertEqual(error.localizedDescription, error.description)
    }
}
