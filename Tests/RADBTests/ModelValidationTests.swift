import Foundation
import RADB
import RADBNeural
import XCTest

/// `radb init --model` refuses a model file that would crash or fail every later embed
/// (issue 12, defect 7): every metadata field and tensor shape is bounded at load, and a
/// trial embed is the final check.
final class ModelValidationTests: XCTestCase {
    private var cli: CLIHarness!

    override func setUpWithError() throws { cli = try CLIHarness() }
    override func tearDownWithError() throws { cli.cleanUp() }

    /// The packaged backbone, rewritten with `edit` applied to its tensors and metadata.
    private func hostileModel(_ name: String,
                              edit: (inout [(name: String, tensor: Tensor, dtype: SafeTensorsDType)], inout [String: String]) -> Void) throws -> String {
        let base = try XCTUnwrap(Embedder.backboneModelURL, "the packaged backbone model is missing")
        let file = try SafeTensorsFile(contentsOf: base)
        var tensors: [(name: String, tensor: Tensor, dtype: SafeTensorsDType)] = try file.tensorNames.map { ($0, try file.tensor($0), .f32) }
        var meta = file.metadata
        edit(&tensors, &meta)
        let url = cli.workdir.appendingPathComponent(name)
        try SafeTensorsFile.write(tensors, metadata: meta, to: url)
        return url.path
    }

    private func replace(_ tensors: inout [(name: String, tensor: Tensor, dtype: SafeTensorsDType)], _ name: String, with t: Tensor) {
        guard let i = tensors.firstIndex(where: { $0.name == name }) else { return XCTFail("no tensor \(name)") }
        tensors[i].tensor = t
    }

    func testInitRefusesModelsThatCannotEmbed() throws {
        let hostile: [(file: String, expect: String, edit: (inout [(name: String, tensor: Tensor, dtype: SafeTensorsDType)], inout [String: String]) -> Void)] = [
            ("huge-resize.safetensors", "resize_shorter_side", { _, meta in meta["resize_shorter_side"] = "60000" }),
            ("text-resize.safetensors", "resize_shorter_side", { _, meta in meta["resize_shorter_side"] = "big" }),
            ("zero-kernel.safetensors", "features.0.0.weight", { tensors, _ in
                self.replace(&tensors, "features.0.0.weight", with: Tensor(shape: [32, 3, 0, 0], storage: []))
            }),
            ("wide-kernel.safetensors", "features.18.0.weight", { tensors, _ in
                self.replace(&tensors, "features.18.0.weight", with: Tensor(shape: [1280, 320, 2, 2], repeating: 0.01))
            }),
            ("nan-weights.safetensors", "NaN", { tensors, _ in
                self.replace(&tensors, "features.0.0.weight", with: Tensor(shape: [32, 3, 3, 3], repeating: .nan))
            }),
            ("bad-epsilon.safetensors", "bn_epsilon", { _, meta in meta["bn_epsilon"] = "-1" }),
        ]
        for h in hostile {
            let model = try hostileModel(h.file, edit: h.edit)
            let db = h.file + ".db"
            let r = try cli.run(["init", "--model", model, "--db", db])
            XCTAssertEqual(r.status, 1, "\(h.file) was accepted: \(r.stdout) \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(h.file), "\(h.file): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(h.expect), "\(h.file): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: cli.workdir.appendingPathComponent(db).path))
        }
        // The unchanged model still passes, and embeds.
        let good = try hostileModel("good.safetensors") { _, _ in }
        let r = try cli.run(["init", "--model", good, "--db", "good.db"])
        XCTAssertEqual(r.status, 0, r.stderr)
    }
}
