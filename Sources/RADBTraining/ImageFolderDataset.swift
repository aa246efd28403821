import Dispatch
import Foundation
import RADBCore
import RADBEmbedding
import RADBNeural
import RADBVision

/// A labelled image collection laid out one folder per class (`root/<class>/<image>`), the
/// input format of `radb train`. Any format RADBVision decodes is accepted; the decoder, not
/// the file extension, decides what is an image.
///
///     let data = try ImageFolderDataset(root: URL(fileURLWithPath: "photos/"))
///     let (features, skipped) = try data.backboneFeatures(model: mobileNet)
///
/// Throws `DatasetError.notFound`, `.emptyClassFolder` (a class folder without files) and
/// `.tooFewClasses` (fewer than two class folders). Unreadable images are not errors: they are
/// skipped and returned in the `skipped` list so the caller can report them.
public struct ImageFolderDataset: Sendable {
    public let root: URL
    /// Sorted folder names; label i is classNames[i].
    public let classNames: [String]
    /// Every candidate file (path relative to `root`) with its label, in class then name order.
    public let files: [(path: String, label: Int)]

    public init(root: URL) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: root.path, isDirectory: &isDir), isDir.boolValue else {
            throw DatasetError.notFound(path: root.path)
        }
        let entries = try fm.contentsOfDirectory(atPath: root.path).filter { !$0.hasPrefix(".") }.sorted()
        let classes = entries.filter { name in
            var d: ObjCBool = false
            return fm.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &d) && d.boolValue
        }
        guard classes.count >= 2 else { throw DatasetError.tooFewClasses(path: root.path, found: classes.count) }
        var files = [(String, Int)]()
        for (label, name) in classes.enumerated() {
            let folder = root.appendingPathComponent(name)
            let images = try fm.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix(".") }.sorted().filter { f in
                var d: ObjCBool = false
                return fm.fileExists(atPath: folder.appendingPathComponent(f).path, isDirectory: &d) && !d.boolValue
            }
            guard !images.isEmpty else { throw DatasetError.emptyClassFolder(path: folder.path) }
            files += images.map { ("\(name)/\($0)", label) }
        }
        self.root = root
        self.classNames = classes
        self.files = files
    }

    /// The first `k` files of every class (in name order), e.g. to bound feature extraction.
    public func limited(perClass k: Int) -> ImageFolderDataset {
        var seen = [Int](repeating: 0, count: classNames.count)
        let kept = files.filter { f in seen[f.label] += 1; return seen[f.label] <= k }
        return ImageFolderDataset(root: root, classNames: classNames, files: kept)
    }

    init(root: URL, classNames: [String], files: [(path: String, label: Int)]) {
        self.root = root
        self.classNames = classNames
        self.files = files
    }

    /// For a root holding `train/` and `test/` (or `val/`) folders: both splits, with the
    /// test split's classes required to be the training classes.
    public static func trainTest(root: URL) throws -> (train: ImageFolderDataset, test: ImageFolderDataset)? {
        let fm = FileManager.default
        let train = root.appendingPathComponent("train")
        guard let testName = ["test", "val"].first(where: { fm.fileExists(atPath: root.appendingPathComponent($0).path) }),
              fm.fileExists(atPath: train.path) else { return nil }
        let a = try ImageFolderDataset(root: train), b = try ImageFolderDataset(root: root.appendingPathComponent(testName))
        guard a.classNames == b.classNames else {
            throw DatasetError.malformed(path: root.path, reason: "train/ and \(testName)/ have different class folders. Use the same class names in both.")
        }
        return (a, b)
    }

    /// An image that could not be used, and why.
    public struct SkippedImage: Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    // MARK: - Decoding

    /// Decodes every image, resizes its shorter side to `shorterSide` (default `size`) and
    /// centre-crops to size×size, returning per-file pixels — in parallel over both cores.
    /// Decodes `range` (both cores) and appends each readable image's normalised pixels, label
    /// and path; unreadable files go to `skipped` with the reason.
    private func appendNormalized(_ range: Range<Int>, size: Int, shorterSide: Int?, scale: [Float], offset: [Float],
                                  to pixels: inout [Float], labels: inout [Int], paths: inout [String],
                                  skipped: inout [SkippedImage]) throws {
        for (k, result) in decodeAll(range, size: size, shorterSide: shorterSide).enumerated() {
            let file = files[range.lowerBound + k]
            switch result {
            case let .success(image):
                pixels += try image.normalized(scale: scale, offset: offset)
                labels.append(file.label)
                paths.append(file.path)
            case let .failure(error):
                skipped.append(SkippedImage(path: file.path, reason: "\(error)"))
            }
        }
    }

    func decodeAll(_ indices: Range<Int>, size: Int, shorterSide: Int? = nil) -> [Result<Image, ImageError>] {
        let side = shorterSide ?? size
        let out = UnsafeMutableBufferPointer<Result<Image, ImageError>?>.allocate(capacity: indices.count)
        out.initialize(repeating: nil)
        defer { out.deallocate() }
        let lo = indices.lowerBound
        // Iteration k writes out[k] only.
        Parallel.forEachDisjoint(indices.count) { k in
            let url = root.appendingPathComponent(files[lo + k].path)
            do {
                let image = try ImageDecoder.decode(contentsOf: url, targetSizeHint: ImageSize(width: side, height: side))
                out[k] = .success(image.resizedShorterSideCenterCropped(side: side, crop: size))
            } catch let error as ImageError {
                out[k] = .failure(error)
            } catch {
                out[k] = .failure(.unreadable(source: url.path, reason: "\(error)"))
            }
        }
        return out.map { $0! }
    }

    /// Pixels of every readable image at size×size, scaled by `scale`/`offset` (per channel,
    /// as `Image.normalized`), as rows [count, size·size·3] (NHWC per row) — the input of
    /// end-to-end training. Unreadable images are skipped and listed.
    public func pixels(size: Int, scale: [Float] = [1 / 255, 1 / 255, 1 / 255], offset: [Float] = [0, 0, 0]) throws
        -> (set: LabeledFeatures, skipped: [SkippedImage]) {
        var storage = [Float](), labels = [Int](), paths = [String](), skipped = [SkippedImage]()
        let chunk = 1024
        for start in stride(from: 0, to: files.count, by: chunk) {
            let range = start..<min(start + chunk, files.count)
            try appendNormalized(range, size: size, shorterSide: nil, scale: scale, offset: offset,
                                 to: &storage, labels: &labels, paths: &paths, skipped: &skipped)
        }
        guard !labels.isEmpty else { throw DatasetError.noReadableImages(path: root.path, skipped: skipped.count) }
        let set = try LabeledFeatures(features: Tensor(shape: [labels.count, size * size * 3], storage: storage),
                                      labels: labels, classNames: classNames, paths: paths, origin: root.path)
        return (set, skipped)
    }

    /// Pooled backbone features of every readable image, through radb's one embedding pipeline
    /// (`FeaturePipeline`: the model record's resize, crop and normalisation, decoding of batch
    /// k+1 beside inference of batch k), in batches of `batchSize`. `progress(done, total)` is
    /// called after each batch. Unreadable images are skipped and listed.
    public func backboneFeatures(model: MobileNet, batchSize: Int = 64,
                                 progress: ((Int, Int) -> Void)? = nil) throws -> (set: LabeledFeatures, skipped: [SkippedImage]) {
        var storage = [Float](), labels = [Int](), paths = [String](), skipped = [SkippedImage]()
        let pipeline = FeaturePipeline(model: model)
        try pipeline.run(files.map { .file(root.appendingPathComponent($0.path)) }, batchSize: batchSize) { range, batch, features in
            for (j, i) in range.enumerated() {
                if let error = batch.failures[j] {
                    skipped.append(SkippedImage(path: files[i].path, reason: "\(error)"))
                } else if let row = features[j] {
                    storage += row
                    labels.append(files[i].label)
                    paths.append(files[i].path)
                } else {
                    skipped.append(SkippedImage(path: files[i].path, reason: "the network produced non-finite features"))
                }
            }
            progress?(range.upperBound, files.count)
            return true
        }
        guard !labels.isEmpty else { throw DatasetError.noReadableImages(path: root.path, skipped: skipped.count) }
        let set = try LabeledFeatures(features: Tensor(shape: [labels.count, model.featureDim], storage: storage),
                                      labels: labels, classNames: classNames, paths: paths, origin: root.path)
        return (set, skipped)
    }
}
