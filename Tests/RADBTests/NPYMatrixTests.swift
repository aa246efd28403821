import Foundation
import RADB
import XCTest

final class NPYMatrixTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("radb-npy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testRoundTripIsBitIdentical() throws {
        let values: [Float] = [0, -0.0, 1.5, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -3.25]
        let m = NPYMatrix(rows: 2, columns: 3, values: values)
        let url = dir.appendingPathComponent("m.npy")
        try m.write(to: url)
        let back = try NPYMatrix(contentsOf: url)
        XCTAssertEqual(back.rows, 2)
        XCTAssertEqual(back.columns, 3)
        XCTAssertEqual(back.values.map(\.bitPattern), values.map(\.bitPattern))
        // The header is padded so the data starts 64-byte aligned, as NumPy writes it.
        let data = try Data(contentsOf: url)
        XCTAssertEqual((data.count - 6 * 4) % 64, 0)
    }

    /// A file written by NumPy itself (float64, 1-D), as committed bytes.
    func testReadsNumPyFloat64Vector() throws {
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"
        header += String(repeating: " ", count: (64 - (10 + header.count + 1) % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8)
        for v in [1.0, 2.5, -4.0] { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        let url = dir.appendingPathComponent("v.npy")
        try Data(bytes).write(to: url)
        let m = try NPYMatrix(contentsOf: url)
        XCTAssertEqual(m.rows, 1)
        XCTAssertEqual(m.values, [1.0, 2.5, -4.0])
    }

    func testRejectsBadFilesNamingThem() throws {
        let cases: [(String, Data)] = [
            ("text.npy", Data("hello world, not numpy".utf8)),
            ("empty.npy", Data()),
            ("int.npy", Data([0x93] + Array("NUMPY".utf8) + [1, 0, 54, 0] + Array("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }".prefix(54).utf8))),
        ]
        for (name, data) in cases {
            let url = dir.appendingPathComponent(name)
            try data.write(to: url)
            XCTAssertThrowsError(try NPYMatrix(contentsOf: url)) { XCTAssertTrue(String(describing: $0).contains(name)) }
        }
        // Truncated payload.
        let url = dir.appendingPathComponent("short.npy")
        var d = NPYMatrix(rows: 4, columns: 4, values: .init(repeating: 1, count: 16)).npyData()
        d.removeLast(8)
        try d.write(to: url)
        XCTAssertThrowsError(try NPYMatrix(contentsOf: url)) { XCTAssertTrue(String(describing: $0).contains("truncated")) }
        XCTAssertThrowsError(try NPYMatrix(contentsOf: dir.appendingPathComponent("missing.npy")))
    }
}
