import Foundation
import XCTest
import RADBNeural

/// The safetensors container: round trips, the Python-written model files, and hostile bytes.
final class SafeTensorsTests: XCTestCase {
    var rng = SeededGenerator(seed: 3)

    func tempURL(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("radb-neural-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent(name)
    }

    func testRoundTripF32ExactAndF16Rounded() throws {
        let a = Tensor.randomNormal(shape: [3, 4, 5], std: 1, using: &rng)
        let b = Tensor(shape: [2], storage: [65504, -0.000061035156])  // largest half, smallest normal half
        let url = try tempURL("m.safetensors")
        try SafeTensorsFile.write([("a", a, .f32), ("b16", b, .f16), ("a16", a, .f16)],
                                  metadata: ["radb.format": "1", "note": "x"], to: url)
        let file = try SafeTensorsFile(contentsOf: url)
        XCTAssertEqual(file.tensorNames, ["a", "b16", "a16"])
        XCTAssertEqual(file.metadata["note"], "x")
        XCTAssertEqual(try file.tensor("a"), a)
        XCTAssertEqual(try file.tensor("b16").storage, b.storage)
        let a16 = try file.tensor("a16")
        for (x, y) in zip(a.storage, a16.storage) { XCTAssertEqual(x, y, accuracy: abs(x) / 1024 + 1e-7) }
        XCTAssertEqual(file.entry("a16")?.dtype, .f16)
        // The header length is a multiple of 8 so the data section is aligned.
        let bytes = try Data(contentsOf: url)
        XCTAssertEqual(Int(bytes[0]) % 8, 0)
    }

    func testReadsTheConvertedModelWrittenByPython() throws {
        let file = try SafeTensorsFile(contentsOf: Repo.v2)
        XCTAssertEqual(file.metadata["radb.format"], "1")
        XCTAssertEqual(file.metadata["architecture"], "mobilenet_v2")
        XCTAssertEqual(file.entry("features.0.0.weight")?.shape, [32, 3, 3, 3])
        XCTAssertEqual(file.entry("features.0.0.weight")?.dtype, .f16)
        XCTAssertEqual(file.entry("features.0.0.bias")?.dtype, .f32)
        XCTAssertEqual(file.entry("classifier.1.weight")?.shape, [1001, 1280])
        let record = try ModelRecord(metadata: file.metadata, source: file.source)
        XCTAssertEqual(record.inputSize, 224)
        XCTAssertEqual(record.embeddingDim, 1280)
        XCTAssertEqual(record.head, "none")
    }

    func testGarbageAndTruncatedFilesGiveTypedErrors() throws {
        let good = try [UInt8](Data(contentsOf: Repo.v1))
        func error(_ bytes: [UInt8]) -> SafeTensorsError? {
            do { _ = try SafeTensorsFile(bytes: bytes, source: "probe.safetensors"); return nil } catch let e as SafeTensorsError {
                XCTAssertTrue(e.description.contains("probe.safetensors"))
                return e
            } catch { XCTFail("untyped error \(error)"); return nil }
        }
        guard case .truncated? = error([]) else { return XCTFail("empty file") }
        guard case .truncated? = error(Array(good.prefix(5))) else { return XCTFail("5 bytes") }
        guard case .truncated? = error(Array(good.prefix(100))) else { return XCTFail("header cut") }
        guard case .truncated? = error(Array(good.dropLast(10))) else { return XCTFail("data cut") }
        guard case .badHeader? = error(Array("this is a text file, not weights".utf8)) else { return XCTFail("text") }
        guard case .badHeader? = error([255, 255, 255, 255, 255, 255, 255, 127] + Array(repeating: 0, count: 16)) else { return XCTFail("huge length") }
        func file(_ json: String, data: Int = 0) -> [UInt8] {
            let header = Array(json.utf8)
            var out = [UInt8]()
            var n = UInt64(header.count)
            for _ in 0..<8 { out.append(UInt8(n & 0xff)); n >>= 8 }
            return out + header + [UInt8](repeating: 0, count: data)
        }
        guard case .badHeader? = error(file("[1, 2]")) else { return XCTFail("array header") }
        guard case .unsupportedDType? = error(file(#"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, data: 8)) else { return XCTFail("dtype") }
        guard case .badTensor? = error(file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8)) else { return XCTFail("size") }
        guard case .badTensor? = error(file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: 4)) else { return XCTFail("negative") }
        guard case .badTensor? = error(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8)) else { return XCTFail("overlap") }
        guard case .badTensor? = error(file(#"{"a":{"dtype":"F32","shape":[99999999999,99999999999],"data_offsets":[0,4]}}"#, data: 4)) else { return XCTFail("overflow") }
        guard case .truncated? = error(file(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: 8)) else { return XCTFail("short data") }
        // NaN weights are refused when read.
        let nan = Tensor(shape: [2], storage: [1, .nan])
        let parsed = try SafeTensorsFile(bytes: try SafeTensorsFile.serialize([("w", nan, .f32)]), source: "nan.safetensors")
        XCTAssertThrowsError(try parsed.tensor("w")) { XCTAssertEqual($0 as? SafeTensorsError, .nonFinite(path: "nan.safetensors", tensor: "w")) }
        for (dtype, value) in [(SafeTensorsDType.f16, Float.infinity), (.f32, -Float.infinity), (.f16, Float.nan)] {
            let bad = Tensor(shape: [3], storage: [0, 2, value])
            let file = try SafeTensorsFile(bytes: try SafeTensorsFile.serialize([("w", bad, dtype)]), source: "bad.safetensors")
            XCTAssertThrowsError(try file.tensor("w"), "\(dtype) \(value)")
        }
        XCTAssertThrowsError(try parsed.tensor("missing")) { XCTAssertEqual($0 as? SafeTensorsError, .missingTensor(path: "nan.safetensors", tensor: "missing")) }
        // A hundred random corruptions of a real file never crash: they load or throw.
        var r = SeededGenerator(seed: 11)
        let small = try [UInt8](Data(contentsOf: Repo.v1)).prefix(20_000)
        for _ in 0..<100 {
            var bytes = Array(small)
            for _ in 0..<8 { bytes[Int.random(in: 0..<min(bytes.count, 12_000), using: &r)] = UInt8.random(in: 0...255, using: &r) }
            _ = try? SafeTensorsFile(bytes: bytes, source: "fuzz")
        }
    }

    func testModelRecordValidation() throws {
        let ok = ModelRecord(architecture: "mobilenet_v2", inputSize: 224, inputScale: 0.0078125, inputOffset: -1, embeddingDim: 1280)
        XCTAssertEqual(try ModelRecord(metadata: ok.metadata, source: "m"), ok)
        var bad = ok.metadata
        bad["radb.format"] = "9"
        XCTAssertThrowsError(try ModelRecord(metadata: bad, source: "m"))
        bad = ok.metadata
        bad["input_scale"] = "nan"
        XCTAssertThrowsError(try ModelRecord(metadata: bad, source: "m"))
        bad = ok.metadata
        bad.removeValue(forKey: "embedding_dim")
        XCTAssertThrowsError(try ModelRecord(metadata: bad, source: "m")) { XCTAssertTrue("\($0)".contains("embedding_dim")) }
    }
}
