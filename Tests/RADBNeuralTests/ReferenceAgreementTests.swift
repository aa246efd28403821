import Foundation
import XCTest
import RADBNeural

/// The float engine against the reference runtime (ai-edge-litert, uint8 kernels) on the
/// fixture written by Tools/tflite_reference.py.
final class ReferenceAgreementTests: XCTestCase {
    struct Manifest: Decodable {
        var files: [String]
        var count: Int
        var v2_logits_scale: Float
        var v2_logits_zero_point: Int
        var v1_embedding_scale: Float
        var v1_embedding_zero_point: Int
        var v2_top1: [Int]
        var pixels_fnv1a64: [String]?
    }

    static func manifest(_ set: String) throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: Repo.fixtures.appendingPathComponent("\(set).json")))
    }

    static func dequantised(_ name: String, scale: Float, zero: Int) throws -> [Float] {
        try Repo.bytes(name).map { (Float($0) - Float(zero)) * scale }
    }

    /// uint8 pixels [N, 224, 224, 3] → model input with the record's scale/offset.
    static func normalise(_ pixels: [UInt8], count: Int, record: ModelRecord) -> Tensor {
        Tensor(shape: [count, 224, 224, 3], storage: pixels.map { Float($0) * record.inputScale + record.inputOffset })
    }

    func testPhotosAgreeWithReferenceAndCatIsACat() throws {
        let m = try Self.manifest("photos")
        let model = try MobileNet(contentsOf: Repo.v2)
        XCTAssertEqual(model.record.inputScale, 0.0078125)
        XCTAssertEqual(model.record.inputOffset, -1)
        let input = Self.normalise(try Repo.bytes("photos_224_u8.bin"), count: m.count, record: model.record)
        let out = try model.forward(input)
        let logits = try XCTUnwrap(out.logits)
        XCTAssertEqual(logits.shape, [m.count, 1001])
        let ref = try Self.dequantised("photos_v2_logits_u8.bin", scale: m.v2_logits_scale, zero: m.v2_logits_zero_point)
        // Class names only make failure messages readable; without ../shared the indices serve.
        let labelFile = Repo.shared.appendingPathComponent("models/imagenet-mobilenet/imagenet_labels.txt")
        let names = (try? String(contentsOf: labelFile, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        let labels = names.count == 1001 ? names : (0..<1001).map { "class \($0)" }
        var cosines = [Double]()
        for i in 0..<m.count {
            let mine = logits.storage[i * 1001..<(i + 1) * 1001]
            let theirs = ref[i * 1001..<(i + 1) * 1001]
            cosines.append(cosine(mine, theirs))
            XCTAssertEqual(argmax(mine), m.v2_top1[i], "\(m.files[i]): radb top-1 \(labels[argmax(mine)]) vs reference \(labels[m.v2_top1[i]])")
        }
        let mean = cosines.reduce(0, +) / Double(cosines.count)
        print("photos: mean cosine \(mean), min \(cosines.min()!)")
        XCTAssertGreaterThanOrEqual(mean, 0.98)
        let cat = try XCTUnwrap(m.files.firstIndex(of: "cat.png"))
        let catClass = argmax(logits.storage[cat * 1001..<(cat + 1) * 1001])
        // 282…286 are ImageNet's domestic cats (tabby … Egyptian cat) in the 1001-class indexing.
        XCTAssertTrue((282...286).contains(catClass), "cat.png classified as \(labels[catClass])")
    }

    func testPhotosV1EmbeddingAgreesWithReference() throws {
        let m = try Self.manifest("photos")
        let model = try MobileNet(contentsOf: Repo.v1)
        XCTAssertEqual(model.featureDim, 1024)
        XCTAssertNil(model.classifier)
        let input = Self.normalise(try Repo.bytes("photos_224_u8.bin"), count: m.count, record: model.record)
        let out = try model.forward(input)
        XCTAssertNil(out.logits)
        let ref = try Self.dequantised("photos_v1_embedding_u8.bin", scale: m.v1_embedding_scale, zero: m.v1_embedding_zero_point)
        for i in 0..<m.count {
            let c = cosine(out.features.storage[i * 1024..<(i + 1) * 1024], ref[i * 1024..<(i + 1) * 1024])
            XCTAssertGreaterThan(c, 0.98, m.files[i])
        }
    }
}
