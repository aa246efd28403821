import Foundation
import RADBNeural

/// What `radb train` on a folder produced.
public struct FolderTrainingResult: Sendable {
    public var trained: TrainedHead
    /// The model file written (backbone + head + anchors).
    public var model: URL
    /// Images that could not be decoded, with the reason — reported, not fatal.
    public var skipped: [ImageFolderDataset.SkippedImage]
    public var trainCount: Int
    public var testCount: Int
}

extension Trainer {
    /// Head mode end to end, the default of `radb train`: folder of labelled images → model file.
    ///
    /// `folder` is either `folder/<class>/…` (split into train/test with `testFraction`, seeded by
    /// the configuration's seed) or `folder/{train,test|val}/<class>/…`. Backbone features are
    /// computed once with the model file `backbone` and cached as
    /// `<cacheDirectory>/<folder name>-<split>-<model hash>.f32/.json`, so re-training with other
    /// settings costs only the head's epochs. `fewShot` keeps k training images per class.
    ///
    ///     let result = try Trainer(configuration: .headTraining).train(
    ///         folder: URL(fileURLWithPath: "photos"), backbone: modelURL,
    ///         output: URL(fileURLWithPath: "photos.safetensors"))
    ///
    /// Throws `DatasetError` (missing/empty class folder, one class, no readable image),
    /// `SafeTensorsError`/`ModelError` for a bad backbone, `TrainingError` for bad settings.
    public func train(folder: URL, backbone: URL, output: URL, cacheDirectory: URL? = nil, testFraction: Double = 0.2,
                      fewShot: Int? = nil,
                      progress: (@Sendable (TrainingProgress) -> Void)? = Trainer.printProgress,
                      extractionProgress: ((String, Int, Int) -> Void)? = nil,
                      isCancelled: (@Sendable () -> Bool)? = nil) throws -> FolderTrainingResult {
        try configuration.validate()
        let model = try MobileNet(contentsOf: backbone)
        let modelHash = try Trainer.fileHash(backbone)
        let cache = cacheDirectory ?? folder.deletingLastPathComponent().appendingPathComponent(".radb-features")
        var skipped = [ImageFolderDataset.SkippedImage]()

        func features(_ data: ImageFolderDataset, split: String) throws -> LabeledFeatures {
            let base = cache.appendingPathComponent("\(folder.lastPathComponent)-\(split)-\(modelHash)").path
            if let cached = try? FeatureCache.load(base: base), cached.count > 0 { return cached }
            let (set, bad) = try data.backboneFeatures(model: model) { done, total in extractionProgress?(split, done, total) }
            skipped += bad.map { .init(path: "\(split == "all" ? "" : split + "/")\($0.path)", reason: $0.reason) }
            try FeatureCache.save(set, base: base, source: "radb \(backbone.lastPathComponent) \(modelHash)")
            return set
        }

        var train: LabeledFeatures, test: LabeledFeatures
        if let pair = try ImageFolderDataset.trainTest(root: folder) {
            train = try features(pair.train, split: "train")
            test = try features(pair.test, split: "test")
        } else {
            (train, test) = try features(try ImageFolderDataset(root: folder), split: "all")
                .split(testFraction: testFraction, seed: configuration.seed)
        }
        if let k = fewShot { train = train.fewShot(perClass: k, seed: configuration.seed) }
        let trained = try self.train(train: train, test: test.count > 0 ? test : nil, output: output, backbone: backbone,
                                     progress: progress, isCancelled: isCancelled)
        return FolderTrainingResult(trained: trained, model: output, skipped: skipped, trainCount: train.count, testCount: test.count)
    }

    /// A short content hash (FNV-1a, 64 bit) naming the feature cache of a backbone file.
    static func fileHash(_ url: URL) throws -> String {
        let data = try Data(contentsOf: url, options: .mappedIfSafe)
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        data.withUnsafeBytes { for b in $0 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 } }
        return String(h, radix: 16)
    }
}
