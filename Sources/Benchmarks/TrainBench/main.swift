// radb-bench-train — runs the training experiments behind RESULTS.md ("CAM vs baseline losses",
// "Default model"): one loss on one dataset with one budget, printing progress on stderr and a
// result line (JSON) on stdout.
//
//   radb-bench-train head   --train BASE --test BASE [--few-shot K] [options]   cached backbone features
//   radb-bench-train fmnist [options]                                          Fashion-MNIST pixels, MLP from scratch
//   radb-bench-train features --model FILE --root DIR --out BASE [--limit-per-class K]   cache backbone features
//   radb-bench-train transfer --model FILE (--train BASE --test BASE | --halves BASE)  a trained head on unseen classes
//   radb-bench-train scratch (--fmnist 1 | --root DIR) --size S [options]        ResNetSmall from scratch (mode b)
//   radb-bench-train eval --model FILE (--fmnist 1 | --root DIR) [--threads N] [--embeddings BASE]
//                                                                              re-evaluate a model saved by scratch --save
//   radb-bench-train speed --root DIR [--batch B] [--steps N]                   training images/s of ResNetSmall at 32 px
//   radb-bench-train raw    --train BASE --test BASE                           raw features, no training
//
// options: --loss cam|ce|contrastive|triplet|centre  --epochs N  --dim D  --hidden W[,W]  --batch B
//          --lr X  --wd X  --margin M  --min-norm P  --classes-per-batch P  --seed S  --out FILE
//          --backbone FILE (copied into --out)  --limit N (train rows, fmnist)  --warmup EPOCHS
//          scratch/speed: --threads N (batch slices per layer, BLAS single-threaded)  --crop-pad P  --flip 0|1
//          scratch: --save FILE (trained ResNetSmall + anchors as safetensors, ScratchModelFile)
import Dispatch
import Foundation
import RADBNeural
import RADBTraining

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("radb-bench-train: \(message)\n".utf8))
    exit(2)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let mode = arguments.first else { fail("usage: radb-bench-train head|fmnist|raw [options] (see the top of main.swift)") }
/// `--name value` pairs after the mode.
let options: [String: String] = {
    let args = Array(arguments.dropFirst())
    var parsed: [String: String] = [:]
    var i = 0
    while i < args.count {
        guard args[i].hasPrefix("--"), i + 1 < args.count else { fail("unexpected argument \(args[i])") }
        parsed[String(args[i].dropFirst(2))] = args[i + 1]
        i += 2
    }
    return parsed
}()
func option<T: LosslessStringConvertible>(_ name: String, _ fallback: T) -> T {
    guard let raw = options[name] else { return fallback }
    guard let v = T(raw) else { fail("--\(name) \(raw) is not a valid value") }
    return v
}

var config = TrainerConfiguration()
config.loss = LossKind(rawValue: options["loss"] ?? "cam") ?? { fail("unknown --loss \(options["loss"]!)") }()
config.epochs = option("epochs", 30)
config.embeddingDimension = option("dim", 128)
config.hiddenWidths = (options["hidden"] ?? "").split(separator: ",").compactMap { Int($0) }
config.batchSize = option("batch", 256)
config.learningRate = option("lr", Float(1e-3))
config.weightDecay = option("wd", Float(1e-4))
config.cam.margin = option("margin", Float(1))
config.cam.minimumNorm = option("min-norm", Float(1))
config.contrastiveMargin = option("margin", Float(1))
config.tripletMargin = option("margin", Float(1))
config.seed = option("seed", UInt64(0))
config.classesPerBatch = option("classes-per-batch", [.contrastive, .triplet].contains(config.loss) ? 16 : 0)
config.curveQueries = option("curve-queries", 500)
config.warmupEpochs = option("warmup", 1)

let started = DispatchTime.now().uptimeNanoseconds
if mode == "features" {
    guard let model = options["model"], let root = options["root"], let out = options["out"] else {
        fail("features needs --model, --root and --out")
    }
    do {
        let net = try MobileNet(contentsOf: URL(fileURLWithPath: model))
        var data = try ImageFolderDataset(root: URL(fileURLWithPath: root))
        if let k = options["limit-per-class"].flatMap(Int.init) { data = data.limited(perClass: k) }
        let (set, skipped) = try data.backboneFeatures(model: net, batchSize: 64) { done, total in
            if done % 1024 < 64 || done == total {
                let s = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
                FileHandle.standardError.write(Data("\(root): \(done)/\(total) images, \(Int(Double(done) / s)) img/s\n".utf8))
            }
        }
        for s in skipped { FileHandle.standardError.write(Data("skipped \(s)\n".utf8)) }
        try FeatureCache.save(set, base: out, source: "radb MobileNet \(model)")
        print("{\"count\": \(set.count), \"skipped\": \(skipped.count), \"seconds\": \(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)}")
    } catch { fail("\(error)") }
    exit(0)
}
if mode == "speed" {
    // Training throughput of ResNetSmall (forward + CAM loss + backward + optimiser step) on real
    // 32×32 images; Tools/bench_train.py runs the same network in PyTorch for comparison.
    do {
        guard let root = options["root"] else { fail("speed needs --root (e.g. .data/cifar10/train)") }
        let batch = option("batch", 128), steps = option("steps", 5), lanes = option("threads", 1)
        // --threads N > 1: N batch slices per layer via concurrentPerform, BLAS single-threaded.
        if lanes > 1 { BLASThreads.set(1) }
        let workspace = ResNetSmall.TrainingWorkspace(lanes: lanes)
        let images = try ImageFolderDataset(root: URL(fileURLWithPath: root)).limited(perClass: batch / 10 + 1).pixels(size: 32).set
        let trainer = ScratchTrainer(configuration: config, imageSize: 32, channels: 3)
        var (net, loss, optimizer, _) = trainer.makeModel(classes: images.classNames.count)
        let sub = images.subset(Array(0..<batch))
        let x = Tensor(shape: [batch, 32, 32, 3], storage: sub.features.storage)
        _ = ScratchTrainer.step(net: &net, loss: &loss, optimizer: &optimizer, x: x, labels: sub.labels, learningRate: 0.01, workspace: workspace)
        // CPU time as well as wall time: on a shared machine the process's CPU seconds per image
        // measure the implementation, the wall clock also measures the neighbours.
        func cpuSeconds() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        let cpu0 = cpuSeconds()
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<steps {
            _ = ScratchTrainer.step(net: &net, loss: &loss, optimizer: &optimizer, x: x, labels: sub.labels, learningRate: 0.01,
                                    workspace: workspace)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let cpu = cpuSeconds() - cpu0
        print("{\"impl\": \"radb\", \"batch\": \(batch), \"steps\": \(steps), \"threads\": \(lanes), \"images_per_second\": \(Double(batch * steps) / seconds), \"images_per_cpu_second\": \(Double(batch * steps) / cpu)}")
    } catch { fail("\(error)") }
    exit(0)
}
if mode == "scratch" {
    do {
        let size = option("size", 28)
        let train: LabeledFeatures, test: LabeledFeatures, channels: Int
        if options["fmnist"] != nil {
            train = try FashionMNIST.load(split: "train", limit: options["limit"].flatMap(Int.init))
            test = try FashionMNIST.load(split: "t10k")
            channels = 1
        } else {
            guard let root = options["root"], let split = try ImageFolderDataset.trainTest(root: URL(fileURLWithPath: root)) else {
                fail("scratch needs --fmnist 1 or --root DIR with train/ and test/")
            }
            var tr = split.train
            if let k = options["limit-per-class"].flatMap(Int.init) { tr = tr.limited(perClass: k) }
            train = try tr.pixels(size: size).set
            test = try split.test.pixels(size: size).set
            channels = 3
        }
        var trainer = ScratchTrainer(configuration: config, imageSize: size, channels: channels)
        trainer.cropPadding = option("crop-pad", 4)
        trainer.horizontalFlip = option("flip", 1) != 0
        trainer.lanes = option("threads", 1)
        let run = try trainer.train(train: train, test: test)
        let r = run.report!
        FileHandle.standardError.write(Data("\(r)\n".utf8))
        let line: [String: Any] = ["mode": "scratch", "loss": config.loss.rawValue, "mAP": r.meanAveragePrecision,
                                   "P@10": r.precisionAt10, "P@100": r.precisionAt100, "anchor_accuracy": r.anchorAccuracy ?? 0,
                                   "two_stage_mAP": r.twoStage!.meanAveragePrecision,
                                   "two_stage_recall@100": r.twoStage!.recallOfExactTopK,
                                   "distance_reduction": r.twoStage!.distanceReduction, "two_stage_speedup": r.twoStage!.speedup,
                                   "wall_seconds": Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9]
        print(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self))
        // Saved after the result line is printed, so a write error cannot lose the figures.
        if let path = options["save"] {
            // The trained network + anchors, with the run's settings and figures as metadata.
            var meta = ["loss": config.loss.rawValue, "epochs": String(config.epochs),
                        "training": String(decoding: try JSONEncoder().encode(config), as: UTF8.self),
                        "evaluation": String(decoding: try JSONEncoder().encode(r), as: UTF8.self)]
            meta["losses_per_epoch"] = run.history.map { String($0.loss) }.joined(separator: ",")
            meta["seconds_per_epoch"] = run.history.map { String($0.seconds) }.joined(separator: ",")
            try ScratchModelFile.write(run.net, anchors: run.anchors, imageSize: size, classNames: train.classNames,
                                       metadata: meta, to: URL(fileURLWithPath: path))
            FileHandle.standardError.write(Data("saved \(path)\n".utf8))
        }
    } catch { fail("\(error)") }
    exit(0)
}
if mode == "eval" {
    // Re-evaluates a ResNetSmall saved by `scratch --save` (same data, same evaluator), timing the
    // evaluator on its own; --embeddings BASE also writes the database/query embeddings as
    // feature caches (BASE-train, BASE-test) so `raw` mode can rank them with any binary.
    do {
        guard let model = options["model"] else { fail("eval needs --model FILE (written by scratch --save)") }
        let saved = try ScratchModelFile.read(from: URL(fileURLWithPath: model))
        let size = saved.imageSize, lanes = option("threads", ProcessInfo.processInfo.activeProcessorCount)
        let train: LabeledFeatures, test: LabeledFeatures
        if options["fmnist"] != nil {
            (train, test) = (try FashionMNIST.load(split: "train"), try FashionMNIST.load(split: "t10k"))
        } else {
            guard let root = options["root"], let split = try ImageFolderDataset.trainTest(root: URL(fileURLWithPath: root)) else {
                fail("eval needs --fmnist 1 or --root DIR with train/ and test/")
            }
            (train, test) = (try split.train.pixels(size: size).set, try split.test.pixels(size: size).set)
        }
        var cfg = TrainerConfiguration()
        cfg.embeddingDimension = saved.anchors.shape[1]
        let embedder = ScratchTrainer(configuration: cfg, imageSize: size, channels: saved.net.stem.inChannels)
        let db = try embedder.embed(saved.net, train), q = try embedder.embed(saved.net, test)
        if let base = options["embeddings"] {
            try FeatureCache.save(db, base: base + "-train", source: "ResNetSmall \(model)")
            try FeatureCache.save(q, base: base + "-test", source: "ResNetSmall \(model)")
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = RetrievalEvaluator.evaluate(database: db, queries: q, anchors: saved.anchors, lanes: lanes)
        let evalSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        FileHandle.standardError.write(Data("\(r)\n".utf8))
        let line: [String: Any] = ["mode": "eval", "model": model, "mAP": r.meanAveragePrecision,
                                   "P@10": r.precisionAt10, "P@100": r.precisionAt100, "anchor_accuracy": r.anchorAccuracy ?? 0,
                                   "two_stage_mAP": r.twoStage!.meanAveragePrecision,
                                   "two_stage_recall@100": r.twoStage!.recallOfExactTopK,
                                   "distance_reduction": r.twoStage!.distanceReduction, "threads": lanes,
                                   "evaluate_seconds": evalSeconds,
                                   "wall_seconds": Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9]
        print(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self))
    } catch { fail("\(error)") }
    exit(0)
}
if mode == "transfer" {
    // Generalisation: embed an unseen labelled collection with a trained head and rank it,
    // routing through the model's own anchors (which belong to other classes), against the
    // raw backbone features with class-mean anchors.
    do {
        guard let model = options["model"] else { fail("transfer needs --model") }
        let db: LabeledFeatures, q: LabeledFeatures
        if let halves = options["halves"] {
            (db, q) = try FeatureCache.load(base: halves).split(testFraction: 0.5, seed: 7)
        } else {
            guard let a = options["train"], let b = options["test"] else { fail("transfer needs --halves or --train/--test") }
            (db, q) = (try FeatureCache.load(base: a), try FeatureCache.load(base: b))
        }
        let (head, anchors, _) = try TrainedHead.readHead(from: URL(fileURLWithPath: model))
        let e = { (s: LabeledFeatures) in try LabeledFeatures(features: head.embed(s.features), labels: s.labels, classNames: s.classNames) }
        let trained = RetrievalEvaluator.evaluate(database: try e(db), queries: try e(q), anchors: anchors, anchorsAreClasses: false)
        let raw = options["skip-raw"] != nil ? nil : RetrievalEvaluator.evaluate(database: db, queries: q)
        FileHandle.standardError.write(Data("head: \(trained)\nraw: \(raw.map { "\($0)" } ?? "skipped")\n".utf8))
        var line: [String: Any] = ["mode": "transfer", "model": model, "mAP": trained.meanAveragePrecision,
                                   "P@100": trained.precisionAt100, "P@10": trained.precisionAt10,
                                   "two_stage_mAP": trained.twoStage!.meanAveragePrecision,
                                   "two_stage_recall@100": trained.twoStage!.recallOfExactTopK,
                                   "distance_reduction": trained.twoStage!.distanceReduction]
        if let raw { line["raw_mAP"] = raw.meanAveragePrecision; line["raw_P@100"] = raw.precisionAt100 }
        print(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self))
    } catch { fail("\(error)") }
    exit(0)
}
do {
    let train: LabeledFeatures, test: LabeledFeatures
    switch mode {
    case "head", "raw":
        guard let trainBase = options["train"], let testBase = options["test"] else { fail("--train and --test are required") }
        var t = try FeatureCache.load(base: trainBase)
        if let k = options["few-shot"].flatMap(Int.init) { t = t.fewShot(perClass: k, seed: config.seed) }
        train = t
        test = try FeatureCache.load(base: testBase)
    case "fmnist":
        train = try FashionMNIST.load(split: "train", limit: options["limit"].flatMap(Int.init))
        test = try FashionMNIST.load(split: "t10k")
    default:
        fail("unknown mode \(mode)")
    }
    FileHandle.standardError.write(Data("\(mode): train \(train.count)×\(train.dimension), test \(test.count), \(train.classNames.count) classes\n".utf8))
    var line: [String: Any] = ["mode": mode, "train": train.count, "test": test.count]
    let report: EvaluationReport
    if mode == "raw" {
        report = RetrievalEvaluator.evaluate(database: train, queries: test, anchors: RetrievalEvaluator.classMeans(of: train))
    } else {
        let result: TrainedHead
        if let out = options["out"] {
            result = try Trainer(configuration: config).train(train: train, test: test, output: URL(fileURLWithPath: out),
                                                              backbone: options["backbone"].map { URL(fileURLWithPath: $0) })
        } else {
            result = try Trainer(configuration: config).train(train: train, test: test)
        }
        FileHandle.standardError.write(Data((result.summary + "\n").utf8))
        report = result.report!
        line["loss"] = config.loss.rawValue
        line["epochs"] = config.epochs
        line["train_seconds"] = result.seconds
    }
    line["mAP"] = report.meanAveragePrecision
    line["P@10"] = report.precisionAt10
    line["P@100"] = report.precisionAt100
    line["anchor_accuracy"] = report.anchorAccuracy ?? 0
    if let t = report.twoStage {
        line["two_stage_mAP"] = t.meanAveragePrecision
        line["two_stage_recall@100"] = t.recallOfExactTopK
        line["distance_reduction"] = t.distanceReduction
        line["two_stage_speedup"] = t.speedup
    }
    line["wall_seconds"] = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    if mode == "raw" { FileHandle.standardError.write(Data((report.description + "\n").utf8)) }
    print(String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self))
} catch {
    fail("\(error)")
}
