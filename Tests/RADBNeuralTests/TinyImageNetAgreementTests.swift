import Foundation
import RADBCore
import XCTest
import RADBNeural
import RADBVision

/// MobileNetV2 on 1,000 Tiny ImageNet validation images (5 per class) against the reference
/// runtime's uint8 logits. The inputs are rebuilt from the JPEGs in .data with the fixture's
/// recipe (decode, exact integer bilinear 64→224), because ImageNet pixels may not be committed.
///
/// The bars, and why strict top-1 is not 95% here (RESULTS.md, "Embedder agreement"): these are
/// blurry 3.5× upscales on which the reference runtime changes its *own* top-1 for ~10% of the
/// images when every pixel moves by one grey level (recorded in the fixture). So the test
/// requires strict agreement within 3 points of that self-agreement, ≥ 95% agreement where the
/// reference's top-1 leads by ≥ 4 quantisation steps (0.4 logits; 76% of the images), radb's
/// top-1 inside the reference's top-5 for ≥ 99%, and mean cosine ≥ 0.98.
final class TinyImageNetAgreementTests: XCTestCase {
    struct Manifest: Decodable {
        struct SelfAgreement: Decodable { var one_grey_level_top1_agreement: Double }
        var files: [String]
        var count: Int
        var v2_logits_scale: Float
        var v2_logits_zero_point: Int
        var v2_top1: [Int]
        var pixels_fnv1a64: [String]
        var reference_self_agreement: SelfAgreement
    }

    func testTinyImageNetValAgreementNeedsSharedData() throws {
        guard FileManager.default.fileExists(atPath: Repo.tinyVal.path) else {
            throw XCTSkip("needs the shared Tiny ImageNet data: run `bash Tools/unpack-datasets.sh` (\(Repo.tinyVal.path) is absent)")
        }
        let m = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: Repo.fixtures.appendingPathComponent("tiny_imagenet_val.json")))
        let model = try MobileNet(contentsOf: Repo.v2)
        let ref = try Repo.bytes("tiny_imagenet_val_v2_logits_u8.bin")
        XCTAssertEqual(ref.count, m.count * 1001)

        // Per batch of 100: decode + upscale in parallel, then one batched forward.
        var hashMismatches = 0
        let lock = NSLock()
        var strict = 0, decisive = 0, decisiveAgree = 0, inTop5 = 0
        var cosines = [Double]()
        let batch = 100, size = 224 * 224 * 3
        for start in stride(from: 0, to: m.count, by: batch) {
            let n = min(batch, m.count - start)
            var x = Tensor(shape: [n, 224, 224, 3])
            x.storage.withUnsafeMutableBufferPointer { buffer in
                let base = buffer.baseAddress!
                // Iteration j writes image j's input rows; the counter is under `lock`.
                Parallel.forEachDisjoint(n) { j in
                    let i = start + j
                    guard let image = try? ImageDecoder.decode(contentsOf: Repo.tinyVal.appendingPathComponent(m.files[i])) else {
                        lock.lock(); hashMismatches += 1; lock.unlock(); return
                    }
                    if Naive.fnv1a64(image.pixels) != m.pixels_fnv1a64[i] { lock.lock(); hashMismatches += 1; lock.unlock() }
                    let up = Naive.upscaleExact(image.pixels, width: image.width, height: image.height)
                    let dst = base + j * size
                    for k in 0..<size { dst[k] = Float(up[k]) * model.record.inputScale + model.record.inputOffset }
                }
            }
            let logits = try XCTUnwrap(try model.forward(x).logits)
            for j in 0..<n {
                let i = start + j
                let mine = logits.storage[j * 1001..<(j + 1) * 1001]
                let q = ref[i * 1001..<(i + 1) * 1001]
                let theirs = q.map { (Float($0) - Float(m.v2_logits_zero_point)) * m.v2_logits_scale }
                cosines.append(cosine(mine, theirs[...]))
                let top = argmax(mine)
                if top == m.v2_top1[i] { strict += 1 }
                let sorted = q.sorted(by: >)
                if Int(sorted[0]) - Int(sorted[1]) >= 4 {
                    decisive += 1
                    if top == m.v2_top1[i] { decisiveAgree += 1 }
                }
                if Int(q[q.startIndex + top]) >= Int(sorted[4]) { inTop5 += 1 }
            }
        }
        XCTAssertEqual(hashMismatches, 0, "RADBVision decoded \(hashMismatches) images differently from Pillow")
        let strictRate = Double(strict) / Double(m.count)
        let decisiveRate = Double(decisiveAgree) / Double(decisive)
        let meanCosine = cosines.reduce(0, +) / Double(cosines.count)
        let selfAgreement = m.reference_self_agreement.one_grey_level_top1_agreement
        print("tiny-imagenet val n=\(m.count): strict top-1 \(strictRate), decisive (margin ≥ 4 steps, n=\(decisive)) \(decisiveRate), "
              + "in reference top-5 \(Double(inTop5) / Double(m.count)), mean cosine \(meanCosine), min \(cosines.min()!), "
              + "reference self-agreement at ±1 grey level \(selfAgreement)")
        XCTAssertGreaterThanOrEqual(meanCosine, 0.98)
        XCTAssertGreaterThanOrEqual(strictRate, selfAgreement - 0.03)
        XCTAssertGreaterThanOrEqual(decisiveRate, 0.95)
        XCTAssertGreaterThanOrEqual(Double(inTop5) / Double(m.count), 0.99)
    }
}
