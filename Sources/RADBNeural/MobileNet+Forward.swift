import Foundation

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
    /// - Parameters:
    ///   - images: [N, H, W, 3] floats, already scaled with the record's `input_scale`/`input_offset`.
    ///   - workers: parallel lanes (default: active processor count, at most 2 used per image set).
    ///     With N ≥ workers each lane runs whole images (`imagesPerPass` at a time); with fewer
    ///     images the lanes split every layer's output rows. BLAS runs single-threaded inside:
    ///     with more than one lane this sets OpenBLAS's process-wide thread count to 1 (two
    ///     threads calling a multi-threaded OpenBLAS serialise on its lock).
    ///   - imagesPerPass: images one lane pushes through the network together (bigger GEMMs for
    ///     the small late layers, bigger working set early on). 0 = the whole batch goes through
    ///     each layer at once with the lanes splitting the layer's rows.
    /// - Throws: `ModelError.badInput` for a wrong shape or non-finite values.
    public func forward(_ images: Tensor, logits wantLogits: Bool = true,
                        workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                        imagesPerPass: Int = 1) throws -> MobileNetOutput {
        guard images.rank == 4, images.shape[3] == 3, images.shape[1] >= 8, images.shape[2] >= 8 else {
            throw ModelError.badInput(reason: "images must be [N, H, W, 3] with H, W ≥ 8, got \(images.shape)")
        }
        guard images.storage.allSatisfy({ $0.isFinite }) else {
            throw ModelError.badInput(reason: "images contain NaN or infinity")
        }
        let (n, h, w) = (images.shape[0], images.shape[1], images.shape[2])
        var features = Tensor(shape: [n, featureDim])
        let lanes = max(1, min(workers, 64))
        if lanes > 1 { BLASThreads.set(1) }
        images.storage.withUnsafeBufferPointer { xp in
            features.storage.withUnsafeMutableBufferPointer { fp in
                let x = xp.baseAddress!, f = fp.baseAddress!
                let imageSize = h * w * 3
                if n >= lanes && lanes > 1 && imagesPerPass > 0 {
                    // Whole images per lane; lanes pull the next pass from a shared counter.
                    let per = max(1, imagesPerPass)
                    let (bufferCount, scratchCount) = requirements(h: h, w: w, n: per)
                    let next = NSLock()
                    var cursor = 0
                    DispatchQueue.concurrentPerform(iterations: lanes) { _ in
                        let arena = arenas.take(bufferCount: bufferCount, scratchCount: scratchCount, lanes: 1)
                        defer { arenas.give(arena) }
                        while true {
                            next.lock(); let start = cursor; cursor += per; next.unlock()
                            guard start < n else { break }
                            let count = min(per, n - start)
                            runBackbone(x: x + start * imageSize, n: count, h: h, w: w, arena: arena, lanes: 1,
                                        pooled: f + start * featureDim)
                        }
                    }
                } else {
                    let (bufferCount, scratchCount) = requirements(h: h, w: w, n: n)
                    let arena = arenas.take(bufferCount: bufferCount, scratchCount: scratchCount, lanes: lanes)
                    defer { arenas.give(arena) }
                    runBackbone(x: x, n: n, h: h, w: w, arena: arena, lanes: lanes, pooled: f)
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

    /// Largest activation (floats, for `n` images) and im2col scratch per lane of a pass.
    func requirements(h: Int, w: Int, n: Int) -> (buffers: Int, scratch: Int) {
        var g = stem.geometry(inH: h, inW: w)
        var (ch, cw) = (g.outH, g.outW)
        var largest = ch * cw * stem.outChannels
        let scratch = stem.scratchCount(inH: h, inW: w, rows: n * ch * cw)
        for b in blocks {
            largest = max(largest, ch * cw * (b.expand?.outChannels ?? b.depthwise.channels))
            g = b.depthwise.geometry(inH: ch, inW: cw)
            (ch, cw) = (g.outH, g.outW)
            largest = max(largest, ch * cw * max(b.depthwise.channels, b.project.outChannels))
        }
        if let last { largest = max(largest, ch * cw * last.outChannels) }
        return (largest * n, scratch)
    }

    // MARK: - Execution

    /// The backbone on `n` images at `x` ([n, h, w, 3]); writes the pooled features to `pooled`
    /// ([n, featureDim]). Buffer roles per block: A = input (kept for the shortcut),
    /// B = expansion, then projection output; C = depthwise output. The projection may overwrite
    /// B because the expansion is dead once the depthwise has run.
    func runBackbone(x: UnsafePointer<Float>, n: Int, h inH: Int, w inW: Int, arena: ScratchArena, lanes: Int,
                     pooled: UnsafeMutablePointer<Float>) {
        var a = arena.buffers[0], b = arena.buffers[1]
        let c = arena.buffers[2]
        var g = stem.geometry(inH: inH, inW: inW)
        parallelSlices(n * g.outH * g.outW, lanes: lanes) { rows, lane in
            stem.forward(x: x, n: n, h: inH, w: inW, y: a, rows: rows, scratch: arena.scratch[lane], activation: .relu6)
        }
        var (h, w, ch) = (g.outH, g.outW, stem.outChannels)
        for block in blocks {
            var dwInput = UnsafePointer(a)
            if let e = block.expand {
                parallelSlices(n * h * w, lanes: lanes) { rows, lane in
                    e.forward(x: a, n: n, h: h, w: w, y: b, rows: rows, scratch: arena.scratch[lane], activation: .relu6)
                }
                dwInput = UnsafePointer(b)
            }
            g = block.depthwise.geometry(inH: h, inW: w)
            parallelSlices(n * g.outH, lanes: lanes) { rows, _ in
                block.depthwise.forward(x: dwInput, n: n, h: h, w: w, y: c, outputRows: rows, activation: .relu6)
            }
            (h, w) = (g.outH, g.outW)
            parallelSlices(n * h * w, lanes: lanes) { rows, lane in
                block.project.forward(x: c, n: n, h: h, w: w, y: b, rows: rows, scratch: arena.scratch[lane],
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
            parallelSlices(n * h * w, lanes: lanes) { rows, lane in
                last.forward(x: a, n: n, h: h, w: w, y: b, rows: rows, scratch: arena.scratch[lane], activation: .relu6)
            }
            ch = last.outChannels
            swap(&a, &b)
        }
        for i in 0..<n {
            pooling.forward(a + i * h * w * ch, positions: h * w, channels: ch, into: pooled + i * featureDim)
        }
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
