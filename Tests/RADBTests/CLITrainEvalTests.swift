import Foundation
import XCTest

/// `radb train` → `radb eval` → `radb init --model` → ingest/search with the trained model,
/// on a small real subset of CIFAR-10, as a user would run them.
final class CLITrainEvalTests: XCTestCase {
    func testTrainEvalAndUseATrainedModelWithSharedCIFAR() throws {
        let cli = try CLIHarness()
        defer { cli.cleanUp() }
        let train = cli.workdir.appendingPathComponent("data/train")
        let test = cli.workdir.appendingPathComponent("data/test")
        guard try CLIHarness.copyCIFARSubset(count: 120, to: train) != nil else {
            throw XCTSkip("needs the shared CIFAR-10 data: run `bash Tools/unpack-datasets.sh`")
        }
        // Queries: a disjoint slice (the test split's later files) of the same classes.
        _ = try CLIHarness.copyCIFARSubset(count: 60, to: test)
        for cls in try FileManager.default.contentsOfDirectory(atPath: test.path) {
            for f in try FileManager.default.contentsOfDirectory(atPath: test.appendingPathComponent(cls).path)
            where FileManager.default.fileExists(atPath: train.appendingPathComponent(cls).appendingPathComponent(f).path) {
                try FileManager.default.removeItem(at: train.appendingPathComponent(cls).appendingPathComponent(f))
            }
        }
        // A corrupt image in a class folder is skipped and reported, not fatal.
        try Data("junk".utf8).write(to: train.appendingPathComponent("cat/broken.jpg"))
        let model = cli.workdir.appendingPathComponent("cifar.safetensors")
        let trained = try cli.run(["train", cli.workdir.appendingPathComponent("data").path, "--out", model.path,
                                   "--epochs", "15", "--dim", "32", "--json"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        XCTAssertTrue(trained.stderr.contains("broken.jpg"), trained.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: model.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: model.path + ".curve.svg"))
        let report = try trained.json()
        let mAP = try XCTUnwrap(report["mAP"] as? Double)
        XCTAssertGreaterThan(mAP, 0.2, "10 classes: chance mAP is about 0.1")

        let eval = try cli.run(["eval", "--model", model.path, "--database", train.path, "--queries", test.path, "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let e = try eval.json()
        for key in ["mAP", "P@10", "P@100", "anchor_accuracy", "two_stage_mAP"] { XCTAssertNotNil(e[key], key) }
        XCTAssertGreaterThan(e["anchor_accuracy"] as? Double ?? 0, 0.2)

        // The trained model drives a database: 10 anchors, 32-d vectors.
        let db = cli.workdir.appendingPathComponent("cifar.db").path
        XCTAssertEqual(try cli.run(["init", "--db", db, "--model", model.path]).status, 0)
        XCTAssertEqual(try cli.run(["ingest", "--db", db, test.path]).status, 0)
        let stats = try cli.run(["stats", "--db", db, "--json"]).json()
        XCTAssertEqual(stats["anchors"] as? Int, 10)
        XCTAssertEqual(stats["dimension"] as? Int, 32)

        let bad = try cli.run(["train", cli.workdir.appendingPathComponent("nothing-here").path, "--out", model.path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("nothing-here"), bad.stderr)
    }
}
