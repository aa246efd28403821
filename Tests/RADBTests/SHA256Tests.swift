import Foundation
import RADB
import XCTest

final class SHA256Tests: XCTestCase {
    func testKnownVectors() {
        XCTAssertEqual(SHA256.hex(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // One million 'a' exercises many blocks.
        XCTAssertEqual(SHA256.hex(Data(repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Every padding case (tails of 0…63 bytes, one or two final blocks), checked against coreutils.
    func testPaddingBoundariesAgreeWithSha256sum() throws {
        let sha256sum = URL(fileURLWithPath: "/usr/bin/sha256sum")
        guard FileManager.default.isExecutableFile(atPath: sha256sum.path) else { throw XCTSkip("sha256sum is not installed") }
        var state: UInt64 = 9
        for length in [1, 55, 56, 57, 63, 64, 65, 119, 120, 121, 127, 128, 129, 4099] {
            let bytes = Data((0..<length).map { _ -> UInt8 in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return UInt8(truncatingIfNeeded: state >> 33)
            })
            let p = Process()
            p.executableURL = sha256sum
            let input = Pipe(), output = Pipe()
            p.standardInput = input
            p.standardOutput = output
            try p.run()
            input.fileHandleForWriting.write(bytes)
            try input.fileHandleForWriting.close()
            let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(SHA256.hex(bytes), String(printed.prefix(64)), "length \(length)")
            XCTAssertEqual(SHA256.hex(bytes.dropFirst(1)), SHA256.hex(Data(bytes.dropFirst(1))), "a slice hashes like a copy")
        }
    }
}
