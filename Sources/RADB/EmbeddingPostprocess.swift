import Foundation
import RADBNeural

/// What a model file asks the Embedder to do with the pooled backbone features before they become
/// the embedding (the retrieval recipe "L2 → centre → PCA-whiten → L2"):
///
///     f = pooled features [featureDim]
///     f = f / ‖f‖             if metadata l2_features = "1"
///     e = W · (f − mean)      if the file has whiten.mean [featureDim] and whiten.weight [out, featureDim]
///     e = e / ‖e‖             if metadata l2_output = "1"
///
/// `Tools/make_embedding_model.py` writes these from arrays fitted in numpy
/// (`Tools/embedding_candidates.py`). Each row is computed on its own (one BLAS call per row, never a
/// batched GEMM), so a vector never depends on which other images shared its batch.
struct EmbeddingPostprocess: Sendable {
    var l2Features = false
    var whitening: (mean: [Float], weight: [Float], rows: Int)?
    var l2Output = false

    /// True when the stage changes nothing (a plain backbone or head model).
    var isIdentity: Bool { !l2Features && whitening == nil && !l2Output }

    /// Width of the output for `inputWidth` pooled features.
    func outputWidth(inputWidth: Int) -> Int { whitening?.rows ?? inputWidth }

    /// Reads and validates the stage of `file` for features of width `featureDim`.
    /// Throws `EmbedderError.badModel` naming the file and the problem.
    init(file: SafeTensorsFile, featureDim: Int) throws {
        func flag(_ key: String) throws -> Bool {
            switch file.metadata[key] ?? "0" {
            case "0": return false
            case "1": return true
            case let other: throw EmbedderError.badModel(path: file.source, reason: "metadata \(key) is '\(other)', expected \"0\" or \"1\"")
            }
        }
        l2Features = try flag("l2_features")
        l2Output = try flag("l2_output")
        let hasMean = file.entry("whiten.mean") != nil, hasWeight = file.entry("whiten.weight") != nil
        guard hasMean == hasWeight else {
            throw EmbedderError.badModel(path: file.source, reason: "the whitening stage needs both whiten.mean and whiten.weight; the file has only \(hasMean ? "whiten.mean" : "whiten.weight")")
        }
        if hasMean {
            let mean = try file.tensor("whiten.mean"), weight = try file.tensor("whiten.weight")
            guard mean.shape == [featureDim] else {
                throw EmbedderError.badModel(path: file.source, reason: "whiten.mean is \(mean.shape), expected [\(featureDim)] (the pooled feature width)")
            }
            guard weight.rank == 2, weight.shape[0] >= 1, weight.shape[1] == featureDim else {
                throw EmbedderError.badModel(path: file.source, reason: "whiten.weight is \(weight.shape), expected [out, \(featureDim)]")
            }
            guard mean.storage.allSatisfy(\.isFinite), weight.storage.allSatisfy(\.isFinite) else {
                throw EmbedderError.badModel(path: file.source, reason: "whiten.mean / whiten.weight contain NaN or infinity")
            }
            whitening = (mean.storage, weight.storage, weight.shape[0])
        }
    }

    /// Applies the stage to `features` [n, d]; returns [n, outputWidth(d)].
    func apply(_ features: Tensor) -> Tensor {
        guard !isIdentity else { return features }
        let (n, d) = (features.shape[0], features.shape[1])
        let m = outputWidth(inputWidth: d)
        var out = Tensor(shape: [n, m])
        var row = [Float](repeating: 0, count: d)
        features.storage.withUnsafeBufferPointer { x in
            out.storage.withUnsafeMutableBufferPointer { y in
                for i in 0..<n {
                    for j in 0..<d { row[j] = x[i * d + j] }
                    if l2Features { Self.normalize(&row) }
                    if let w = whitening {
                        for j in 0..<d { row[j] -= w.mean[j] }
                        // One [1, d] × [d, m] product per row: the same call whatever the batch.
                        w.weight.withUnsafeBufferPointer { wp in
                            row.withUnsafeBufferPointer { rp in
                                sgemm(transB: true, m: 1, n: m, k: d, a: rp.baseAddress!, lda: d,
                                      b: wp.baseAddress!, ldb: d, c: y.baseAddress! + i * m, ldc: m)
                            }
                        }
                    } else {
                        for j in 0..<d { y[i * m + j] = row[j] }
                    }
                    if l2Output {
                        var s: Float = 0
                        for o in 0..<m { s += y[i * m + o] * y[i * m + o] }
                        // A zero vector stays zero (it cannot be given a direction).
                        let inv = s > 0 ? 1 / s.squareRoot() : 0
                        for o in 0..<m { y[i * m + o] *= inv }
                    }
                }
            }
        }
        return out
    }

    private static func normalize(_ v: inout [Float]) {
        var s: Float = 0
        for x in v { s += x * x }
        let inv = s > 0 ? 1 / s.squareRoot() : 0
        for j in v.indices { v[j] *= inv }
    }
}
