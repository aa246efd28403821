import RADBNeural

/// A labelled set of fixed-length vectors: cached backbone features, flattened pixels, or
/// embeddings. It is what head training consumes and what evaluation ranks.
public struct LabeledFeatures: Sendable {
    /// [count, dimension]
    public var features: Tensor
    /// count labels in 0..<classNames.count
    public var labels: [Int]
    public var classNames: [String]
    /// Optional source path of each row (relative to the dataset root), for reports.
    public var paths: [String]?

    public var count: Int { labels.count }
    public var dimension: Int { features.shape[1] }

    /// Validates shape, label range and finiteness so bad vectors never reach training.
    public init(features: Tensor, labels: [Int], classNames: [String], paths: [String]? = nil,
                origin: String = "features") throws {
        guard features.rank == 2, features.shape[0] == labels.count else {
            throw DatasetError.malformed(path: origin, reason: "\(labels.count) labels for features of shape \(features.shape).")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= classNames.count }) {
            throw DatasetError.malformed(path: origin, reason: "label \(bad) outside the \(classNames.count) classes.")
        }
        let d = features.shape[1]
        if let badIndex = features.storage.firstIndex(where: { !$0.isFinite }) {
            throw DatasetError.nonFinite(path: origin, row: badIndex / max(d, 1))
        }
        self.features = features
        self.labels = labels
        self.classNames = classNames
        self.paths = paths
    }

    /// The rows at `indices`, in that order.
    public func subset(_ indices: [Int]) -> LabeledFeatures {
        let d = dimension
        var storage = [Float]()
        storage.reserveCapacity(indices.count * d)
        for i in indices { storage += features.storage[(i * d)..<((i + 1) * d)] }
        var copy = self
        copy.features = Tensor(shape: [indices.count, d], storage: storage)
        copy.labels = indices.map { labels[$0] }
        copy.paths = paths.map { p in indices.map { p[$0] } }
        return copy
    }

    /// Row indices grouped by class, each group in dataset order.
    public var indicesByClass: [[Int]] {
        var groups = [[Int]](repeating: [], count: classNames.count)
        for (i, y) in labels.enumerated() { groups[y].append(i) }
        return groups
    }

    // MARK: - Splits

    /// A seeded stratified split: `testFraction` of every class goes to the second set.
    public func split(testFraction: Double, seed: UInt64) -> (train: LabeledFeatures, test: LabeledFeatures) {
        var rng = SeededGenerator(seed: seed)
        var train = [Int](), test = [Int]()
        for group in indicesByClass {
            let shuffled = group.shuffled(using: &rng)
            let nTest = Int((Double(group.count) * testFraction).rounded())
            test += shuffled.prefix(nTest)
            train += shuffled.dropFirst(nTest)
        }
        return (subset(train.sorted()), subset(test.sorted()))
    }

    /// Few-shot: at most `k` rows per class, chosen with a seeded shuffle.
    public func fewShot(perClass k: Int, seed: UInt64) -> LabeledFeatures {
        var rng = SeededGenerator(seed: seed)
        let picked = indicesByClass.flatMap { $0.shuffled(using: &rng).prefix(k) }
        return subset(picked.sorted())
    }
}
