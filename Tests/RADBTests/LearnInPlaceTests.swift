import Foundation
import XCTest
import RADB

/// Learning in place (`Database.learn`, `radb learn`): a head and class anchors trained on the
/// database's own labelled items from the features ingest kept, switched in as one generation.
final class LearnInPlaceTests: XCTestCase {
    private var cli: CLIHarness!
    private let photos = CLIHarness.repositoryRoot.appendingPathComponent("Fixtures/photos")

    override func setUpWithError() throws { cli = try CLIHarness() }
    override func tearDown() { cli.cleanUp() }

    /// The nine sample photos sorted into label folders: cats (2), birds (3), other (4).
    private func labelledPhotos() throws -> URL {
        let root = cli.workdir.appendingPathComponent("labelled")
        let groups = ["cats": ["cat.png", "cat_720p.jpg"], "birds": ["bird.png", "owl.jpg", "parrot.jpg"],
                      "other": ["dragonfly.png", "grace_hopper.png", "hot_dog.jpg", "kite_and_cold.jpg"]]
        for (label, names) in groups {
            let dir = root.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for name in names { try FileManager.default.copyItem(at: photos.appendingPathComponent(name), to: dir.appendingPathComponent(name)) }
        }
        return root
    }

    /// `count` CIFAR-10 images per class from `split` (train or test), one folder per class.
    private func cifar(_ split: String, perClass: Int, into name: String) throws -> URL {
        let source = CLIHarness.repositoryRoot.appendingPathComponent(".data/cifar10/\(split)")
        guard let classes = try? FileManager.default.contentsOfDirectory(atPath: source.path).sorted(), classes.count == 10 else {
            throw XCTSkip("needs the shared CIFAR-10 data: run `bash Tools/unpack-datasets.sh` (../shared absent?)")
        }
        let root = cli.workdir.appendingPathComponent(name)
        for c in classes {
            let dest = root.appendingPathComponent(c)
            try FileManager.default.createDirectory(at: dest, withIntermediateDirectories: true)
            for f in try FileManager.default.contentsOfDirectory(atPath: source.appendingPathComponent(c).path).sorted().prefix(perClass) {
                try FileManager.default.copyItem(at: source.appendingPathComponent(c).appendingPathComponent(f), to: dest.appendingPathComponent(f))
            }
        }
        return root
    }

    // MARK: - The good path

    /// Ingest labelled CIFAR-10 images, learn in place, and measure with `eval --db`: the learned
    /// head retrieves better than the built-in model on held-out images of the same classes, the
    /// database checks clean, every item keeps its id, and a stored image is found at distance 0.
    func testLearnInPlaceImprovesRetrievalWithSharedCIFAR() throws {
        let train = try cifar("train", perClass: 40, into: "train")
        let test = try cifar("test", perClass: 15, into: "test")
        let db = cli.workdir.appendingPathComponent("cifar.db").path
        let ingest = try cli.run(["ingest", "--db", db, "--label-from-folder", train.path, "--json"])
        XCTAssertEqual(ingest.status, 0, ingest.stderr)
        let before = try cli.run(["eval", "--db", db, "--queries", test.path, "--json"])
        XCTAssertEqual(before.status, 0, before.stderr)
        let mapBefore = try XCTUnwrap(try before.json()["mAP"] as? Double)

        let learn = try cli.run(["learn", "--db", db, "--json"])
        XCTAssertEqual(learn.status, 0, learn.stderr)
        let report = try learn.json()
        XCTAssertEqual(report["trained_on"] as? Int, 340, "15 % of each label is held out to measure the head")
        XCTAssertNotNil(report["validation_mAP"] as? Double)
        XCTAssertEqual(report["classes"] as? Int, 10)
        XCTAssertEqual(report["reembedded"] as? Int, 400)

        let after = try cli.run(["eval", "--db", db, "--queries", test.path, "--json"])
        XCTAssertEqual(after.status, 0, after.stderr)
        let mapAfter = try XCTUnwrap(try after.json()["mAP"] as? Double)
        print("eval --db on 150 CIFAR-10 test images: mAP \(mapBefore) before learn, \(mapAfter) after")
        XCTAssertGreaterThan(mapAfter, mapBefore + 0.05, "learning on the collection's own labels must help retrieval on its classes")
        XCTAssertNotNil(try after.json()["two_stage_mAP"] as? Double, "learned class anchors give the two-stage figures")

        XCTAssertEqual(try cli.run(["check", "--db", db]).stdout.trimmingCharacters(in: .whitespacesAndNewlines), "ok")
        let stats = try cli.run(["stats", "--db", db, "--json"]).json()
        XCTAssertEqual(stats["items"] as? Int, 400)
        XCTAssertEqual(stats["anchors"] as? Int, 10)
        XCTAssertEqual(stats["model"] as? String, report["model"] as? String)
        // A stored image queried with the learned model finds itself at distance 0: re-embedding
        // from the stored features equals embedding the file again.
        let image = train.appendingPathComponent("cat").path
        let first = try FileManager.default.contentsOfDirectory(atPath: image).sorted()[0]
        let search = try cli.run(["search", "--db", db, "\(image)/\(first)", "-k", "3", "--exact", "--json"])
        XCTAssertEqual(search.status, 0, search.stderr)
        let results = try XCTUnwrap(try search.json()["results"] as? [[String: Any]])
        XCTAssertEqual(results.first?["distance"] as? Double, 0)
        XCTAssertEqual(results.first?["label"] as? String, "cat")
        // New images ingested after learning are embedded with the learned head.
        let more = try cli.run(["ingest", "--db", db, photos.path, "--json"])
        XCTAssertEqual(more.status, 0, more.stderr)
        XCTAssertEqual(try cli.run(["check", "--db", db]).status, 0)
    }

    /// The library path on the nine sample photos (no shared data needed): learn switches the
    /// database to the learned model, stored items stay found at distance 0, reopening keeps it.
    func testLibraryLearnSwitchesTheModelAndKeepsEveryItem() throws {
        let url = cli.workdir.appendingPathComponent("photos.db")
        let db = try Database.create(at: url)
        let report = try db.ingest([try labelledPhotos()], options: IngestOptions(labelFromFolder: true))
        XCTAssertEqual(report.added, 9)
        let oldModel = try db.stats().model
        let learned = try db.learn(LearnOptions(epochs: 5))
        XCTAssertEqual(learned.classes, ["birds", "cats", "other"])
        XCTAssertEqual(learned.reembedded, 9)
        XCTAssertNotEqual(learned.modelIdentity, oldModel)
        XCTAssertEqual(try db.check(), [])
        let owl = url.deletingLastPathComponent().appendingPathComponent("labelled/birds/owl.jpg")
        XCTAssertEqual(try db.search(image: owl, options: SearchOptions(k: 1, probe: .exact)).first?.distance, 0)

        let reopened = try Database.open(at: url, mode: .readOnly)
        XCTAssertEqual(try reopened.stats().model, learned.modelIdentity)
        XCTAssertEqual(reopened.embedder?.modelIdentity, learned.modelIdentity)
        XCTAssertEqual(try reopened.search(image: owl, options: SearchOptions(k: 1, probe: .exact)).first?.distance, 0)
    }

    // MARK: - Retired generations

    /// Each learn writes `models/<id>.safetensors` (~11 MB): once its switch commits, the file of
    /// the generation it retired and the leftovers of interrupted learns (a staging file of a
    /// dead process, a published model never switched to) are deleted, so the folder holds the
    /// current model only. Readers opened before — one that had loaded the retired model, one
    /// that had not — search the new generation; a missing file of the current generation is
    /// still reported as damage.
    func testLearnRemovesTheModelFilesOfRetiredGenerations() throws {
        let url = cli.workdir.appendingPathComponent("retire.db")
        let db = try Database.create(at: url)
        _ = try db.ingest([try labelledPhotos()], options: IngestOptions(labelFromFolder: true))
        let models = url.appendingPathComponent("models")
        func files() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: models.path).sorted() }
        let owl = cli.workdir.appendingPathComponent("labelled/birds/owl.jpg")
        let exact = SearchOptions(k: 1, probe: .exact)

        let first = try db.learn(LearnOptions(epochs: 3, seed: 1))
        XCTAssertEqual(try files(), ["\(first.modelIdentity).safetensors"])
        let warm = try Database.open(at: url, mode: .readOnly)
        XCTAssertEqual(try warm.search(image: owl, options: exact).first?.distance, 0)   // loads the first model
        let cold = try Database.open(at: url, mode: .readOnly)                           // loads nothing yet

        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let leftovers = [".learning-\(dead.processIdentifier).safetensors", "\(String(repeating: "ab", count: 32)).safetensors"]
        for name in leftovers { try Data("left by a killed learn".utf8).write(to: models.appendingPathComponent(name)) }
        let alive = ".learning-1.safetensors"   // a learn whose process still runs (pid 1 always does): kept
        try Data("staging".utf8).write(to: models.appendingPathComponent(alive))

        let second = try db.learn(LearnOptions(epochs: 3, seed: 2))
        XCTAssertNotEqual(second.modelIdentity, first.modelIdentity)
        XCTAssertEqual(try files(), [alive, "\(second.modelIdentity).safetensors"].sorted(),
                       "the retired generation's model and the leftovers of dead learns are deleted")
        try FileManager.default.removeItem(at: models.appendingPathComponent(alive))
        XCTAssertEqual(try db.check(), [])
        for reader in [warm, cold] {
            XCTAssertEqual(try reader.search(image: owl, options: exact).first?.distance, 0)
            XCTAssertEqual(reader.embedder?.modelIdentity, second.modelIdentity)
        }

        try FileManager.default.removeItem(at: models.appendingPathComponent("\(second.modelIdentity).safetensors"))
        let damaged = try Database.open(at: url, mode: .readOnly)
        XCTAssertThrowsError(try damaged.search(image: owl, options: exact)) {
            XCTAssertTrue("\($0)".contains("missing; restore the database from a backup"), "\($0)")
        }
    }

    /// The race the deletion opens, forced: a reader has taken its snapshot of a generation
    /// and is about to load that generation's model when another process learns, retires it
    /// and deletes its file. The search runs again on the new generation and finds the item.
    func testASearchWhoseModelIsRetiredBeforeItLoadsRunsOnTheNewGeneration() throws {
        let url = cli.workdir.appendingPathComponent("race.db")
        let db = try Database.create(at: url)
        _ = try db.ingest([try labelledPhotos()], options: IngestOptions(labelFromFolder: true))
        let first = try db.learn(LearnOptions(epochs: 2, seed: 1))
        let reader = try Database.open(at: url, mode: .readOnly)
        var learnedMeanwhile: String?
        var learnError = ""
        Database.beforeLoadingLearnedModelForTesting = { [cli] head in
            guard head == first.modelIdentity, learnedMeanwhile == nil, learnError.isEmpty else { return }
            do {
                let learn = try cli!.run(["learn", "--db", url.path, "--epochs", "2", "--seed", "2", "--json"])
                learnError = learn.status == 0 ? "" : learn.stderr
                learnedMeanwhile = try learn.json()["model"] as? String
            } catch { learnError = "\(error)" }
        }
        defer { Database.beforeLoadingLearnedModelForTesting = nil }
        let owl = cli.workdir.appendingPathComponent("labelled/birds/owl.jpg")
        let hit = try reader.search(image: owl, options: SearchOptions(k: 1, probe: .exact))
        XCTAssertEqual(learnError, "")
        let second = try XCTUnwrap(learnedMeanwhile, "the hook ran the learn while the search held its snapshot")
        XCTAssertNotEqual(second, first.modelIdentity)
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.appendingPathComponent("models/\(first.modelIdentity).safetensors").path))
        XCTAssertEqual(hit.first?.distance, 0, "the query was embedded with the new generation's model")
        XCTAssertEqual(reader.embedder?.modelIdentity, second)
    }

    /// Searches in other processes (each loading its snapshot's model from its file) while
    /// learns retire generations and delete their files: every search succeeds, and the
    /// folder ends with the current model only.
    func testSearchesInOtherProcessesBesideLearnsNeverMissAModel() throws {
        let db = cli.workdir.appendingPathComponent("beside.db").path
        let labelled = try labelledPhotos()
        XCTAssertEqual(try cli.run(["ingest", "--db", db, "--label-from-folder", labelled.path]).status, 0)
        let owl = labelled.appendingPathComponent("birds/owl.jpg").path
        var searches = 0
        for seed in 0..<4 {
            let (learn, _, _) = try cli.start(["learn", "--db", db, "--epochs", "2", "--seed", "\(seed)"])
            repeat {
                let found = try cli.run(["search", "--db", db, owl, "-k", "1", "--json"])
                XCTAssertEqual(found.status, 0, "seed \(seed): \(found.stderr)")
                searches += 1
            } while learn.isRunning
            learn.waitUntilExit()
            XCTAssertEqual(learn.terminationStatus, 0)
        }
        let model = try XCTUnwrap(try cli.run(["stats", "--db", db, "--json"]).json()["model"] as? String)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(db)/models"), ["\(model).safetensors"])
        XCTAssertEqual(try cli.run(["check", "--db", db]).status, 0)
        print("\(searches) searches beside 4 learns, none failed")
    }

    // MARK: - Bad input

    func testLearningNeedsTwoLabelsOfTwoItemsAndStoredFeatures() throws {
        // One label only.
        let one = try Database.create(at: cli.workdir.appendingPathComponent("one.db"))
        let photosCopy = cli.workdir.appendingPathComponent("only")
        try FileManager.default.createDirectory(at: photosCopy, withIntermediateDirectories: true)
        for name in ["cat.png", "owl.jpg"] { try FileManager.default.copyItem(at: photos.appendingPathComponent(name), to: photosCopy.appendingPathComponent(name)) }
        _ = try one.ingest([photosCopy], options: IngestOptions(labelFromFolder: true))
        XCTAssertThrowsError(try one.learn()) { XCTAssertTrue("\($0)".contains("at least two labels"), "\($0)") }
        XCTAssertEqual(try one.check(), [])

        // A label with a single item.
        let labelled = try labelledPhotos()
        try FileManager.default.createDirectory(at: labelled.appendingPathComponent("kites"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: labelled.appendingPathComponent("other/kite_and_cold.jpg"),
                                         to: labelled.appendingPathComponent("kites/kite_and_cold.jpg"))
        let single = try Database.create(at: cli.workdir.appendingPathComponent("single.db"))
        _ = try single.ingest([labelled], options: IngestOptions(labelFromFolder: true))
        let modelBefore = try single.stats().model
        XCTAssertThrowsError(try single.learn()) { XCTAssertTrue("\($0)".contains("'kites' has a single item"), "\($0)") }
        XCTAssertEqual(try single.stats().model, modelBefore, "a refused learn changes nothing")

        // A database that keeps no features: the message says how to get them.
        let bare = try Database.create(at: cli.workdir.appendingPathComponent("bare.db"), keepFeatures: false)
        try FileManager.default.removeItem(at: labelled.appendingPathComponent("kites"))
        _ = try bare.ingest([labelled], options: IngestOptions(labelFromFolder: true))
        XCTAssertThrowsError(try bare.learn()) { XCTAssertTrue("\($0)".contains("keeps no backbone features"), "\($0)") }
        XCTAssertEqual(try bare.check(), [])

        // The CLI says the same in one line and exits 1; a read-only eval of a non-image folder is clear too.
        let cliResult = try cli.run(["learn", "--db", cli.workdir.appendingPathComponent("single.db").path])
        XCTAssertEqual(cliResult.status, 1)
        XCTAssertTrue(cliResult.stderr.contains("single item"), cliResult.stderr)
        let junk = cli.workdir.appendingPathComponent("junk")
        for label in ["cats", "birds"] {
            try FileManager.default.createDirectory(at: junk.appendingPathComponent(label), withIntermediateDirectories: true)
            try Data("not an image".utf8).write(to: junk.appendingPathComponent("\(label)/a.jpg"))
        }
        let eval = try cli.run(["eval", "--db", cli.workdir.appendingPathComponent("single.db").path, "--queries", junk.path])
        XCTAssertEqual(eval.status, 1)
        XCTAssertTrue(eval.stderr.contains("no readable query image"), eval.stderr)
    }

    /// A disk that fills up while learning: a clear error, the database unchanged and checking
    /// clean, and the same command succeeds once there is room.
    func testFullDiskDuringLearnChangesNothing() throws {
        let db = cli.workdir.appendingPathComponent("full.db").path
        XCTAssertEqual(try cli.run(["ingest", "--db", db, "--label-from-folder", try labelledPhotos().path]).status, 0)
        let model = try cli.run(["stats", "--db", db, "--json"]).json()["model"] as? String
        var largest = 0
        for case let f as URL in FileManager.default.enumerator(at: URL(fileURLWithPath: db), includingPropertiesForKeys: [.fileSizeKey])!
        where f.pathExtension != "safetensors" {
            largest = max(largest, (try? f.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0) ?? 0)
        }
        let full = try cli.runLimitingFileSize(kilobytes: largest / 1024 + 4, ["learn", "--db", db, "--epochs", "3"])
        XCTAssertEqual(full.status, 1, full.stdout)
        XCTAssertTrue(full.stderr.contains("radb: error:") && !full.stderr.contains("Fatal error"), full.stderr)
        XCTAssertTrue(full.stderr.contains("file size limit") || full.stderr.contains("disk is full"), full.stderr)
        XCTAssertEqual(try cli.run(["check", "--db", db]).status, 0)
        XCTAssertEqual(try cli.run(["stats", "--db", db, "--json"]).json()["model"] as? String, model, "nothing switched")
        let again = try cli.run(["learn", "--db", db, "--epochs", "3"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertNotEqual(try cli.run(["stats", "--db", db, "--json"]).json()["model"] as? String, model)
    }

    // MARK: - Crash safety

    /// `kill -9` at random moments of `radb learn`: every round leaves one whole generation (the
    /// old model or the learned one), `check` clean, and every item found by an exact search.
    func testKillDuringLearnLeavesOneWholeGenerationWithSharedCIFAR() throws {
        let train = try cifar("train", perClass: 20, into: "train")
        let db = cli.workdir.appendingPathComponent("kill.db").path
        XCTAssertEqual(try cli.run(["ingest", "--db", db, "--label-from-folder", train.path]).status, 0)
        let original = try XCTUnwrap(try cli.run(["stats", "--db", db, "--json"]).json()["model"] as? String)
        var models = Set([original])
        var previous: String
        var switched = 0
        // Time one whole learn, so the kills below fall anywhere in it, the switch included.
        let started = Date()
        XCTAssertEqual(try cli.run(["learn", "--db", db, "--epochs", "40", "--seed", "99"]).status, 0)
        let duration = Date().timeIntervalSince(started)
        previous = try XCTUnwrap(try cli.run(["stats", "--db", db, "--json"]).json()["model"] as? String)
        models.insert(previous)
        var generator = SystemRandomNumberGenerator()
        for round in 0..<8 {
            let (process, _, _) = try cli.start(["learn", "--db", db, "--epochs", "40", "--seed", "\(round)"])
            usleep(UInt32(Double.random(in: 0.1...1.1, using: &generator) * duration * 1e6))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let check = try cli.run(["check", "--db", db])
            XCTAssertEqual(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "ok", "round \(round): \(check.stdout) \(check.stderr)")
            let stats = try cli.run(["stats", "--db", db, "--json"]).json()
            XCTAssertEqual(stats["items"] as? Int, 200, "round \(round)")
            // The model is the previous generation's or the one this round learned (killed after
            // its switch) — whole either way: its file is there and searches use it.
            let model = try XCTUnwrap(stats["model"] as? String)
            if model != previous {
                XCTAssertFalse(models.contains(model), "round \(round): a generation learned earlier came back")
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(db)/models/\(model).safetensors"), "round \(round)")
                switched += 1
            }
            models.insert(model)
            previous = model
            for id in [1, 100, 200] {
                let found = try cli.run(["search", "--db", db, "--id", "\(id)", "-k", "1", "--exact", "--json"])
                XCTAssertEqual(found.status, 0, found.stderr)
                XCTAssertEqual(try XCTUnwrap(try found.json()["results"] as? [[String: Any]]).first?["id"] as? Int, id, "round \(round)")
            }
        }
        print("kill -9 during learn: \(switched) of 8 rounds were killed after their switch, the rest before")
        // A learn that is left alone completes.
        let finished = try cli.run(["learn", "--db", db, "--epochs", "5", "--json"])
        XCTAssertEqual(finished.status, 0, finished.stderr)
        XCTAssertEqual(try cli.run(["check", "--db", db]).status, 0)
        // ... and removes every model file the killed rounds left but its own.
        let current = try XCTUnwrap(try finished.json()["model"] as? String)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(db)/models"), ["\(current).safetensors"])
    }
}
