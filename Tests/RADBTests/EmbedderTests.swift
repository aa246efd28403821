import Foundation
import XCTest
import RADB
import RADBNeural
import RADBTraining
import RADBVision

/// The Embedder end to end: packaged model, real photos, per-file errors, heads, identity.
final class EmbedderTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let photos = root.deletingLastPathComponent().appendingPathComponent("shared/models/imagenet-mobilenet/photos")
    static let labels = root.deletingLastPathComponent().appendingPathComponent("shared/models/imagenet-mobilenet/imagenet_labels.txt")

    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("radb-embedder-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func requirePhotos() throws {
        guard FileManager.default.fileExists(atPath: Self.photos.path) else {
            throw XCTSkip("needs the shared photos at \(Self.photos.path) (../shared is absent)")
        }
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var d = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) { d += Double(x * y); na += Double(x * x); nb += Double(y * y) }
        return d / (na * nb).squareRoot()
    }

    func testBackboneIsPackagedWithStableIdentity() throws {
        let embedder = try Embedder(modelURL: XCTUnwrap(Embedder.backboneModelURL))
        XCTAssertEqual(embedder.dimension, 1280)
        XCTAssertEqual(embedder.inputSize, 224)
        XCTAssertEqual(embedder.model.architecture, .mobileNetV2)
        XCTAssertEqual(embedder.modelIdentity.count, 64)
        let bytes = [UInt8](try Data(contentsOf: embedder.modelURL))
        XCTAssertEqual(embedder.modelIdentity, SHA256.hex(bytes))
        XCTAssertEqual(try Embedder(modelURL: embedder.modelURL).modelIdentity, embedder.modelIdentity)
        // The V1 file is another model: another identity and dimension.
        let v1 = try Embedder(modelURL: embedder.modelURL.deletingLastPathComponent()
            .appendingPathComponent("mobilenet_v1_1.0_224_embedding.safetensors"))
        XCTAssertEqual(v1.dimension, 1024)
        XCTAssertNotEqual(v1.modelIdentity, embedder.modelIdentity)
    }

    /// A photo's vector is bit-identical whether it is embedded alone, in a batch of nine, in
    /// another order or another batch size: a query of a stored image finds it at distance 0 on
    /// any machine (issue 12: the vectors used to depend on the batch's GEMM shapes).
    func testVectorsDoNotDependOnTheBatch() throws {
        let folder = Self.root.appendingPathComponent("Fixtures/photos")
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { ["jpg", "png"].contains($0.pathExtension) }.sorted { $0.path < $1.path }
        XCTAssertGreaterThanOrEqual(files.count, 9)
        let embedder = try Embedder()
        let together = try embedder.embed(files: files).map { try $0.get() }
        for (i, file) in files.enumerated() {
            XCTAssertEqual(try embedder.embed(file: file), together[i], "\(file.lastPathComponent) alone")
        }
        let reversed = try embedder.embed(files: files.reversed(), batchSize: 4).map { try $0.get() }
        XCTAssertEqual(Array(reversed.reversed()), together, "reversed, batches of 4")
        let ones = try embedder.embed(files: files, batchSize: 1).map { try $0.get() }
        XCTAssertEqual(ones, together, "batches of 1")
    }

    /// The whitening runs in fixed 16-row GEMM tiles: a row's vector is bit-identical alone, at
    /// any slot of a tile, in a short last tile, and beside a row of non-finite features.
    func testVectorsFromFeaturesDoNotDependOnTheirNeighbours() throws {
        let embedder = try Embedder()
        var rng = SeededGenerator(seed: 7)
        let d = embedder.model.featureDim
        let rows = (0..<37).map { _ in (0..<d).map { _ in Float.random(in: 0...6, using: &rng) } }
        let batch = embedder.vectors(fromFeatures: rows)
        for (i, row) in rows.enumerated() {
            XCTAssertEqual(embedder.vector(fromFeatures: row), batch[i], "row \(i) alone vs in a batch of 37")
        }
        let shifted = embedder.vectors(fromFeatures: Array(rows[5...]) + [rows[0]])
        XCTAssertEqual(Array(shifted[..<32]), Array(batch[5...]), "other slots of the tiles")
        XCTAssertEqual(shifted[32], batch[0])
        var poisoned = rows
        poisoned[3][0] = .nan
        let withNaN = embedder.vectors(fromFeatures: poisoned)
        XCTAssertNil(withNaN[3])
        XCTAssertEqual(withNaN.enumerated().filter { $0.offset != 3 }.map(\.element), batch.enumerated().filter { $0.offset != 3 }.map(\.element))
        XCTAssertNil(embedder.vectors(fromFeatures: [[1, 2, 3]])[0], "a row of the wrong width")
    }

    func testPhotosEmbedAndTheCatIsACatNeedsSharedPhotos() throws {
        try requirePhotos()
        let embedder = try Embedder(modelURL: XCTUnwrap(Embedder.backboneModelURL))
        let names = ["cat.png", "cat_720p.jpg", "hot_dog.jpg", "parrot.jpg", "grace_hopper.png", "owl.jpg"]
        let results = try embedder.embed(files: names.map { Self.photos.appendingPathComponent($0) }, batchSize: 4)
        let vectors = try results.map { try $0.get() }
        XCTAssertTrue(vectors.allSatisfy { $0.count == 1280 && $0.allSatisfy(\.isFinite) })
        // The two cat photos are closer to each other than to a hot dog or a parrot.
        let cats = Self.cosine(vectors[0], vectors[1])
        XCTAssertGreaterThan(cats, Self.cosine(vectors[0], vectors[2]))
        XCTAssertGreaterThan(cats, Self.cosine(vectors[0], vectors[3]))
        // Through the packaged classifier, the cat's embedding is a cat class.
        let (w, b) = try XCTUnwrap(embedder.model.classifier)
        let labels = try String(contentsOf: Self.labels, encoding: .utf8).split(separator: "\n").map(String.init)
        for (i, expected) in [(0, "cat"), (1, "cat"), (2, "hot"), (3, "macaw")] {
            var best = 0, bestValue = -Float.infinity
            for o in 0..<w.shape[0] {
                var z = b.storage[o]
                for j in 0..<1280 { z += w.storage[o * 1280 + j] * vectors[i][j] }
                if z > bestValue { bestValue = z; best = o }
            }
            XCTAssertTrue(labels[best].lowercased().contains(expected), "\(names[i]) → \(labels[best])")
        }
        // Batch and single-file paths agree, and so does the in-memory image path.
        let single = try embedder.embed(file: Self.photos.appendingPathComponent("hot_dog.jpg"))
        XCTAssertGreaterThan(Self.cosine(single, vectors[2]), 0.9999)
        let png = try ImageDecoder.decode(contentsOf: Self.photos.appendingPathComponent("cat.png"))
        XCTAssertGreaterThan(Self.cosine(try embedder.embed(image: png), vectors[0]), 0.9999)
        // Files are decoded at a reduced JPEG DCT scale when that still covers the crop; a full
        // decode of the same JPEG gives a nearly identical vector.
        let full = try ImageDecoder.decode(contentsOf: Self.photos.appendingPathComponent("parrot.jpg"))
        XCTAssertGreaterThan(Self.cosine(try embedder.embed(image: full), vectors[3]), 0.99)
    }

    func testBadFilesGivePerFileErrorsAndNeverStopTheBatchNeedsSharedPhotos() throws {
        try requirePhotos()
        let dir = try tempDir()
        let text = dir.appendingPathComponent("notes.jpg")
        try Data("this is not a picture".utf8).write(to: text)
        let empty = dir.appendingPathComponent("empty.png")
        try Data().write(to: empty)
        let truncated = dir.appendingPathComponent("truncated.jpg")
        let jpeg = try Data(contentsOf: Self.photos.appendingPathComponent("hot_dog.jpg"))
        try jpeg.prefix(200).write(to: truncated)
        let missing = dir.appendingPathComponent("missing.jpg")
        let good = Self.photos.appendingPathComponent("cat.png")
        let embedder = try Embedder(modelURL: XCTUnwrap(Embedder.backboneModelURL))
        var progress: [Int] = []
        let results = try embedder.embed(files: [text, good, empty, truncated, missing, good], batchSize: 2,
                                         progress: { done, total in XCTAssertEqual(total, 6); progress.append(done) })
        XCTAssertEqual(progress, [2, 4, 6])
        for i in [0, 2, 3, 4] {
            guard case let .failure(.unreadableImage(path, reason)) = results[i] else { return XCTFail("item \(i): \(results[i])") }
            XCTAssertTrue(path.hasSuffix([text, good, empty, truncated, missing, good][i].lastPathComponent))
            XCTAssertFalse(reason.isEmpty)
        }
        let a = try results[1].get(), b = try results[5].get()
        XCTAssertEqual(a, b)
        // Cancellation is reported, not ignored.
        XCTAssertThrowsError(try embedder.embed(files: [good, good], batchSize: 1, isCancelled: { true })) {
            XCTAssertEqual($0 as? EmbedderError, .cancelled)
        }
    }

    /// The whole pipeline (RADBVision decode + resize + crop, then the engine) against the
    /// reference runtime's top-1 on the nine photos, whose reference inputs were preprocessed by
    /// Pillow (Fixtures/reference/photos.json).
    func testPipelineMatchesReferenceTop1OnPhotosNeedsSharedPhotos() throws {
        try requirePhotos()
        struct Manifest: Decodable { var files: [String]; var v2_top1: [Int] }
        let fixtures = Self.root.appendingPathComponent("Fixtures/reference")
        let m = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: fixtures.appendingPathComponent("photos.json")))
        let embedder = try Embedder(modelURL: XCTUnwrap(Embedder.backboneModelURL))
        let vectors = try embedder.embed(files: m.files.map { Self.photos.appendingPathComponent($0) }).map { try $0.get() }
        // The same network on Pillow's preprocessing of the same photos.
        let pixels = [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("photos_224_u8.bin")))
        let r = embedder.model.record
        let pillow = try embedder.model.forward(Tensor(shape: [m.files.count, 224, 224, 3],
                                                       storage: pixels.map { Float($0) * r.inputScale + r.inputOffset }), logits: false).features
        let (w, b) = try XCTUnwrap(embedder.model.classifier)
        for (i, name) in m.files.enumerated() {
            let reference = Array(pillow.storage[i * 1280..<(i + 1) * 1280])
            XCTAssertGreaterThan(Self.cosine(vectors[i], reference), 0.95, name)
            var best = 0, bestValue = -Float.infinity
            for o in 0..<w.shape[0] {
                var z = b.storage[o]
                for j in 0..<1280 { z += w.storage[o * 1280 + j] * vectors[i][j] }
                if z > bestValue { bestValue = z; best = o }
            }
            XCTAssertEqual(best, m.v2_top1[i], "\(name): pipeline top-1 \(best), reference \(m.v2_top1[i]); cosine to Pillow-preprocessed \(Self.cosine(vectors[i], reference))")
        }
    }

    /// A model file with a trained two-layer head (`head.0`, ReLU, `head.2`) and anchors.
    func testHeadIsAppliedToBackboneFeatures() throws {
        let base = try Embedder(modelURL: XCTUnwrap(Embedder.backboneModelURL))
        let file = try SafeTensorsFile(contentsOf: base.modelURL)
        var tensors: [(name: String, tensor: Tensor, dtype: SafeTensorsDType)] = try file.tensorNames.map { ($0, try file.tensor($0), .f32) }
        var rng = SystemRandomNumberGenerator()
        let w0 = Tensor.randomNormal(shape: [16, 1280], std: 0.05, using: &rng), b0 = Tensor(shape: [16], repeating: 0.1)
        let w2 = Tensor.randomNormal(shape: [3, 16], std: 0.5, using: &rng), b2 = Tensor(shape: [3], storage: [1, -1, 0])
        tensors += [("head.0.weight", w0, .f32), ("head.0.bias", b0, .f32), ("head.2.weight", w2, .f32), ("head.2.bias", b2, .f32),
                    ("anchors", Tensor(shape: [2, 3], repeating: 1), .f32)]
        var meta = file.metadata
        meta["head"] = "mlp"
        meta["embedding_dim"] = "3"
        meta["class_names"] = #"["cat","dog"]"#
        let url = try tempDir().appendingPathComponent("cam.safetensors")
        try SafeTensorsFile.write(tensors, metadata: meta, to: url)

        let embedder = try Embedder(modelURL: url)
        XCTAssertEqual(embedder.dimension, 3)
        XCTAssertNotEqual(embedder.modelIdentity, base.modelIdentity)
        var image = Image(width: 300, height: 200, filledWith: RGB(200, 120, 40))
        for x in 0..<150 { for y in 0..<100 { image.setPixel(x: x, y: y, to: RGB(10, 200, 90)) } }
        let features = try base.embed(image: image)
        var hidden = [Float](repeating: 0, count: 16)
        for o in 0..<16 {
            var z = b0.storage[o]
            for j in 0..<1280 { z += w0.storage[o * 1280 + j] * features[j] }
            hidden[o] = max(z, 0)
        }
        let expected = (0..<3).map { o in (0..<16).reduce(b2.storage[o]) { $0 + w2.storage[o * 16 + $1] * hidden[$1] } }
        let got = try embedder.embed(image: image)
        for (g, e) in zip(got, expected) { XCTAssertEqual(g, e, accuracy: 1e-3 * max(1, abs(e))) }

        // A record that disagrees with the tensors is refused with a message naming the file.
        meta["embedding_dim"] = "7"
        try SafeTensorsFile.write(tensors, metadata: meta, to: url)
        XCTAssertThrowsError(try Embedder(modelURL: url)) {
            guard case let .badModel(path, reason)? = $0 as? EmbedderError else { return XCTFail("\($0)") }
            XCTAssertEqual(path, url.path)
            XCTAssertTrue(reason.contains("embedding_dim"))
        }
    }

    func testUnreadableModelFilesAreTypedErrors() throws {
        let dir = try tempDir()
        let junk = dir.appendingPathComponent("junk.safetensors")
        try Data("garbage garbage garbage".utf8).write(to: junk)
        for url in [junk, dir.appendingPathComponent("absent.safetensors")] {
            XCTAssertThrowsError(try Embedder(modelURL: url)) {
                guard case .badModel(let path, _)? = $0 as? EmbedderError else { return XCTFail("\($0)") }
                XCTAssertEqual(path, url.path)
            }
        }
    }
}
