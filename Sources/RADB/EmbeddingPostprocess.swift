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
/// (`Tools/embedding_candidates.py`). The whitening runs in GEMMs of exactly `tileRows` rows (a
/// short tile padded with zeros): one shape whatever the batch, and a GEMM computes each output
/// row from its own input row only, so a vector never depends on which other images shared its
/// batch (tested bit for bit: `EmbedderTests`). One product per row instead would stream the
/// 6.5 MB matrix once per image (5 % of an ingest's CPU, BENCHMARKS.md "Ingest throughput").
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

    /// Rows per whitening GEMM (fixed: see the type's doc).
    static let tileRows = 16

    /// Applies the stage to `features` [n, d]; returns [n, outputWidth(d)].
    func apply(_ features: Tensor) -> Tensor {
        guard !isIdentity else { return features }
        let (n, d) = (features.shape[0], features.shape[1])
        let m = outputWidth(inputWidth: d)
        var out = Tensor(shape: [n, m])
        var rows = features.storage
        var row = [Float](repeating: 0, count: d)
        for i in 0..<n {
            for j in 0..<d { row[j] = rows[i * d + j] }
            if l2Features { Self.normalize(&row) }
            if let w = whitening { for j in 0..<d { row[j] -= w.mean[j] } }
            for j in 0..<d { rows[i * d + j] = row[j] }
        }
        out.storage.withUnsafeMutableBufferPointer { y in
            if let w = whitening {
                let t = Self.tileRows
                var tile = [Float](repeating: 0, count: t * d)
                var product = [Float](repeating: 0, count: t * m)
                for start in stride(from: 0, to: n, by: t) {
                    let count = min(t, n - start)
                    for j in 0..<(count * d) { tile[j] = rows[start * d + j] }
                    for j in (count * d)..<(t * d) { tile[j] = 0 }
                    // [t, d] × [d, m]: the same call whatever the batch.
                    w.weight.withUnsafeBufferPointer { wp in
                        tile.withUnsafeBufferPointer { tp in
                            product.withUnsafeMutableBufferPointer { pp in
                                sgemm(transB: true, m: t, n: m, k: d, a: tp.baseAddress!, lda: d,
                                      b: wp.baseAddress!, ldb: d, c: pp.baseAddress!, ldc: m)
                            }
                        }
                    }
                    for j in 0..<(count * m) { y[start * m + j] = product[j] }
                }
            } else {
                for j in 0..<(n * d) { y[j] = rows[j] }
            }
            if l2Output {
                for i in 0..<n {
                    var s: Float = 0
                    for o in 0..<m { s += y[i * m + o] * y[i * m + o] }
                    // A zero vector stays zero (it cannot be given a direction).
                    let inv = s > 0 ? 1 / s.squareRoot() : 0
                    for o in 0..<m { y[i * m + o] *= inv }
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
