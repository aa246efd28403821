import Foundation
import RADBCore

/// What one forward pass returns.
public struct MobileNetOutput: Sendable {
    /// Globally pooled backbone features (`MobileNet.pooling`), [N, featureDim] — the backbone embedding.
    public var features: Tensor
    /// Classifier logits, [N, classes], when the model has a classifier and they were requested.
    public var logits: Tensor?
}

extension MobileNet {
    // MARK: - Public entry point

    /// Runs the backbone (and classifier if `logits` and present) on a batch of normalised images.
    ///
    /// Every image's features are bit-identical whatever batch it comes in, whatever its
    /// neighbours and whatever `workers` is: each image runs through the network on its own, and
    /// every GEMM works on a fixed tile of `inferenceTileRows` output rows of that image (OpenBLAS
    /// picks kernels and blocking by matrix shape, so a shape that depended on the batch or on
    /// the lane count would change the low bits). BLAS runs single-threaded for the same reason.
    ///
    /// - Parameters:
    ///   - images: [N, H, W, 3] floats, already scaled with the record's `input_scale`/`input_offset`.
    ///   - workers: parallel lanes (default: active processor count). With N ≥ workers each lane
    ///     runs whole images; with fewer images the lanes share each layer's tiles of one image.
    /// - Throws: `ModelError.badInput` for a wrong shape or non-finite values.
    public func forward(_ images: Tensor, logits wantLogits: Bool = true,
                        workers: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> MobileNetOutput {
        guard images.rank == 4, images.shape[3] == 3, images.shape[1] >= 8, images.shape[2] >= 8 else {
            throw ModelError.badInput(reason: "images must be [N, H, W, 3] with H, W ≥ 8, got \(images.shape)")
        }
        guard images.storage.allSatisfy({ $0.isFinite }) else {
            throw ModelError.badInput(reason: "images contain NaN or infinity")
        }
        let (n, h, w) = (images.shape[0], images.shape[1], images.shape[2])
        var features = Tensor(shape: [n, featureDim])
        let lanes = max(1, min(workers, 64))
        BLASThreads.set(1)
        let (bufferCount, scratchCount) = requirements(h: h, w: w)
        images.storage.withUnsafeBufferPointer { xp in
            features.storage.withUnsafeMutableBufferPointer { fp in
                let x = SharedInput(xp.baseAddress!), f = DisjointRows(fp.baseAddress!)
                let imageSize = h * w * 3
                if n >= lanes && lanes > 1 {
                    // Whole images per lane; lanes pull the next image from a shared counter and
                    // write only that image's feature row.
                    let images = WorkCounter()
                    Parallel.forEach(lanes) { _ in
                        let arena = arenas.take(bufferCount: bufferCount, scratchCount: scratchCount, lanes: 1)
                        defer { arenas.give(arena) }
                        while true {
                            let i = images.claim()
                            guard i < n else { break }
                            runBackbone(image: x.base + i * imageSize, h: h, w: w, arena: arena, lanes: 1,
                                        pooled: f.base + i * featureDim)
                        }
                    }
                } else {
                    // Fewer images than lanes: the lanes share every layer of one image at a time.
                    let arena = arenas.take(bufferCount: bufferCount, scratchCount: scratchCount, lanes: lanes)
                    defer { arenas.give(arena) }
                    for i in 0..<n {
                        runBackbone(image: x.base + i * imageSize, h: h, w: w, arena: arena, lanes: lanes,
                                    pooled: f.base + i * featureDim)
                    }
                }
            }
        }
        var logits: Tensor?
        if wantLogits, let (cw, cb) = classifier {
            logits = Self.linear(features, weight: cw, bias: cb)
        }
        return MobileNetOutput(features: features, logits: logits)
    }

    /// y = x · Wᵀ + b.  Shapes: x [N, in], W [out, in], b [out] → y [N, out].
    static func linear(_ x: Tensor, weight: Tensor, bias: Tensor) -> Tensor {
        let (n, k, m) = (x.shape[0], x.shape[1], weight.shape[0])
        var y = Tensor(shape: [n, m])
        for i in 0..<n { for j in 0..<m { y.storage[i * m + j] = bias.storage[j] } }
        x.storage.withUnsafeBufferPointer { xp in weight.storage.withUnsafeBufferPointer { wp in
            y.storage.withUnsafeMutableBufferPointer { yp in
                sgemm(transB: true, m: n, n: m, k: k, a: xp.baseAddress!, lda: k, b: wp.baseAddress!, ldb: k,
                      beta: 1, c: yp.baseAddress!, ldc: m)
            } } }
        return y
    }

    // MARK: - Planning

    /// Largest activation (floats, one image) and im2col scratch per lane (one tile).
    func requirements(h: Int, w: Int) -> (buffers: Int, scratch: Int) {
        var g = stem.geometry(inH: h, inW: w)
        var (ch, cw) = (g.outH, g.outW)
        var largest = ch * cw * stem.outChannels
        let scratch = stem.scratchCount(inH: h, inW: w, rows: inferenceTileRows)
        for b in blocks {
            largest = max(largest, ch * cw * (b.expand?.outChannels ?? b.depthwise.channels))
            g = b.depthwise.geometry(inH: ch, inW: cw)
            (ch, cw) = (g.outH, g.outW)
            largest = max(largest, ch * cw * max(b.depthwise.channels, b.project.outChannels))
        }
        if let last { largest = max(largest, ch * cw * last.outChannels) }
        return (largest, scratch)
    }

    // MARK: - Execution

    /// The backbone on one image at `image` ([h, w, 3]); writes its pooled features to `pooled`
    /// ([featureDim]). Buffer roles per block: A = input (kept for the shortcut),
    /// B = expansion, then projection output; C = depthwise output. The projection may overwrite
    /// B because the expansion is dead once the depthwise has run. Convolutions run in fixed
    /// row tiles (`parallelTiles`); the depthwise layers compute each output element on its own,
    /// so how their rows are split cannot change a result.
    func runBackbone(image x: UnsafePointer<Float>, h inH: Int, w inW: Int, arena: ScratchArena, lanes: Int,
                     pooled: UnsafeMutablePointer<Float>) {
        var a = arena.buffers[0], b = arena.buffers[1]
        let c = arena.buffers[2]
        let tile = inferenceTileRows
        var g = stem.geometry(inH: inH, inW: inW)
        parallelTiles(g.outH * g.outW, tile: tile, lanes: lanes) { rows, lane in
            stem.forward(x: x, n: 1, h: inH, w: inW, y: a, rows: rows, scratch: arena.scratch[lane], activation: .relu6)
        }
        var (h, w, ch) = (g.outH, g.outW, stem.outChannels)
        for block in blocks {
            var dwInput = UnsafePointer(a)
            if let e = block.expand {
                parallelTiles(h * w, tile: tile, lanes: lanes) { rows, lane in
                    e.forward(x: a, n: 1, h: h, w: w, y: b, rows: rows, scratch: arena.scratch[lane], activation: .relu6)
                }
                dwInput = UnsafePointer(b)
            }
            g = block.depthwise.geometry(inH: h, inW: w)
            parallelSlices(g.outH, lanes: lanes) { rows, _ in
                block.depthwise.forward(x: dwInput, n: 1, h: h, w: w, y: c, outputRows: rows, activation: .relu6)
            }
            (h, w) = (g.outH, g.outW)
            parallelTiles(h * w, tile: tile, lanes: lanes) { rows, lane in
                block.project.forward(x: c, n: 1, h: h, w: w, y: b, rows: rows, scratch: arena.scratch[lane],
                                      activation: block.projectActivation)
                if block.residual {
                    let co = block.project.outChannels
                    ResidualAdd.accumulate(b, a, range: rows.lowerBound * co..<rows.upperBound * co)
                }
            }
            ch = block.project.outChannels
            swap(&a, &b)
        }
        if let last {
            parallelTiles(h * w, tile: tile, lanes: lanes) { rows, lane in
                last.forward(x: a, n: 1, h: h, w: w, y: b, rows: rows, scratch: arena.scratch[lane], activation: .relu6)
            }
            ch = last.outChannels
            swap(&a, &b)
        }
        pooling.forward(a, positions: h * w, channels: ch, into: pooled)
    }
}

extension MobileNet {
    /// Multiply-adds of one forward pass on an `inH`×`inW` image (convolutions, depthwise and
    /// classifier; pooling, bias and activations excluded) — the denominator of GFLOP/s figures.
    public func multiplyAdds(inH: Int, inW: Int) -> Double {
        var total = 0.0
        var g = stem.geometry(inH: inH, inW: inW)
        total += Double(g.outH * g.outW * stem.weight.count)
        var (h, w) = (g.outH, g.outW)
        for b in blocks {
            if let e = b.expand { total += Double(h * w * e.weight.count) }
            g = b.depthwise.geometry(inH: h, inW: w)
            (h, w) = (g.outH, g.outW)
            total += Double(h * w * b.depthwise.weight.count)
            total += Double(h * w * b.project.weight.count)
        }
        if let last { total += Double(h * w * last.weight.count) }
        if let classifier { total += Double(classifier.weight.count) }
        return total
    }
}
