/// Batch normalisation over the channel axis of NHWC tensors (statistics over N·H·W).
///
/// Training uses batch statistics and updates the running ones (PyTorch convention:
/// running = (1 − momentum)·running + momentum·batch, unbiased variance for the running value);
/// inference uses the running statistics, and for speed is folded into the preceding
/// convolution with `Conv2D.folding(_:)` so it costs nothing at run time.
///
/// The training kernels work on raw `[rows, C]` buffers so that `ResNetSmall`'s training step can
/// run them in place on preallocated memory, split over batch slices (`lanes`); the `Tensor`
/// methods are thin wrappers over the same kernels, so the gradient checks cover what training runs.
/// Rather than storing x̂, the backward pass recomputes it from the pre-normalisation input and
/// the saved per-channel mean and 1/σ (one fewer activation-sized buffer per layer).
public struct BatchNorm2D: Sendable {
    public var gamma: Tensor         // [C]
    public var beta: Tensor          // [C]
    public var runningMean: Tensor   // [C]
    public var runningVar: Tensor    // [C]
    public var epsilon: Float
    public var momentum: Float

    public var channels: Int { gamma.count }

    /// γ = 1, β = 0, running mean 0 and variance 1.
    public init(channels: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        gamma = Tensor(shape: [channels], repeating: 1)
        beta = Tensor(shape: [channels])
        runningMean = Tensor(shape: [channels])
        runningVar = Tensor(shape: [channels], repeating: 1)
        self.epsilon = epsilon
        self.momentum = momentum
    }

    /// What the backward pass needs from a training-mode forward.
    public struct Cache: Sendable {
        /// The input x, [N, H, W, C] (x̂ is recomputed from it).
        public var input: Tensor
        /// Batch mean, [C].
        public var mean: [Float]
        /// 1 / √(σ²_batch + ε), [C].
        public var inverseStd: [Float]
    }

    // MARK: - Forward (inference)

    /// y = (x − μ_running) / √(σ²_running + ε) · γ + β.  Shapes: x [N, H, W, C] → y [N, H, W, C].
    public func forward(_ x: Tensor) -> Tensor {
        let c = channels
        precondition(x.shape.last == c, "BatchNorm2D expects \(c) channels, got \(x.shape)")
        var scale = [Float](repeating: 0, count: c), shift = scale
        for i in 0..<c {
            scale[i] = gamma.storage[i] / (runningVar.storage[i] + epsilon).squareRoot()
            shift[i] = beta.storage[i] - runningMean.storage[i] * scale[i]
        }
        var y = x
        for r in 0..<(x.count / max(c, 1)) { for i in 0..<c { y.storage[r * c + i] = x.storage[r * c + i] * scale[i] + shift[i] } }
        return y
    }

    // MARK: - Forward (training) / backward

    /// Normalises with the batch statistics and updates the running statistics.
    /// Shapes: x [N, H, W, C] → y [N, H, W, C], cache (x, μ [C], 1/σ [C]).
    public mutating func forwardTraining(_ x: Tensor) -> (output: Tensor, cache: Cache) {
        let c = channels
        precondition(x.shape.last == c, "BatchNorm2D expects \(c) channels, got \(x.shape)")
        let m = x.count / c
        precondition(m > 1, "BatchNorm2D training needs more than one value per channel")
        var y = x
        var mean = [Float](repeating: 0, count: c), invStd = mean
        let moments = BatchNormMoments(channels: c, lanes: 1)
        x.storage.withUnsafeBufferPointer { xp in
            moments.accumulate(xp.baseAddress!, rows: 0..<m, lane: 0)
            mean.withUnsafeMutableBufferPointer { mp in
                invStd.withUnsafeMutableBufferPointer { sp in
                    finishStatistics(moments, rows: m, mean: mp.baseAddress!, inverseStd: sp.baseAddress!)
                    y.storage.withUnsafeMutableBufferPointer { yp in
                        normalize(xp.baseAddress!, rows: 0..<m, mean: mp.baseAddress!, inverseStd: sp.baseAddress!,
                                  relu: false, into: yp.baseAddress!)
                    }
                }
            }
        }
        return (y, Cache(input: x, mean: mean, inverseStd: invStd))
    }

    /// Gradients through the training-mode forward.
    /// Shapes: dy [N, H, W, C] → dx [N, H, W, C], dγ [C], dβ [C].
    ///   dβ = Σ dy;  dγ = Σ dy·x̂;  dx = γ/σ · (dy − dβ/M − x̂·dγ/M).
    public func backward(cache: Cache, gradOutput dy: Tensor) -> (input: Tensor, gamma: Tensor, beta: Tensor) {
        let c = channels, m = dy.count / c
        precondition(dy.shape == cache.input.shape, "BatchNorm2D backward: dy \(dy.shape) vs forward \(cache.input.shape)")
        var dgamma = Tensor(shape: [c]), dbeta = Tensor(shape: [c])
        var dx = dy
        let sums = BatchNormMoments(channels: c, lanes: 1)
        cache.input.storage.withUnsafeBufferPointer { xp in
        dy.storage.withUnsafeBufferPointer { dyp in
        cache.mean.withUnsafeBufferPointer { mp in
        cache.inverseStd.withUnsafeBufferPointer { sp in
            gradientSums(input: xp.baseAddress!, output: nil, gradOutput: dyp.baseAddress!, rows: 0..<m,
                         mean: mp.baseAddress!, inverseStd: sp.baseAddress!, into: sums, lane: 0)
            sums.totals(first: &dbeta.storage, second: &dgamma.storage)
            dx.storage.withUnsafeMutableBufferPointer { dxp in
                dbeta.storage.withUnsafeBufferPointer { dbp in
                    dgamma.storage.withUnsafeBufferPointer { dgp in
                        inputGradient(input: xp.baseAddress!, output: nil, gradOutput: dyp.baseAddress!, rows: 0..<m, totalRows: m,
                                      mean: mp.baseAddress!, inverseStd: sp.baseAddress!, dbeta: dbp.baseAddress!,
                                      dgamma: dgp.baseAddress!, into: dxp.baseAddress!)
                    }
                }
            }
        } } } }
        return (dx, dgamma, dbeta)
    }

    // MARK: - Raw training kernels

    /// Turns accumulated moments into the batch mean and 1/σ and moves the running statistics.
    package mutating func finishStatistics(_ moments: BatchNormMoments, rows m: Int,
                                           mean: UnsafeMutablePointer<Float>, inverseStd: UnsafeMutablePointer<Float>) {
        var sum = [Double](repeating: 0, count: channels), sumSq = sum
        moments.totals(first: &sum, second: &sumSq)
        for i in 0..<channels {
            // Moments are of (x − shift); the shift keeps the one-pass variance well conditioned.
            let shifted = sum[i] / Double(m)
            let variance = max(0, sumSq[i] / Double(m) - shifted * shifted)
            let mu = Double(moments.shift[i]) + shifted
            mean[i] = Float(mu)
            inverseStd[i] = Float(1 / (variance + Double(epsilon)).squareRoot())
            runningMean.storage[i] = (1 - momentum) * runningMean.storage[i] + momentum * Float(mu)
            runningVar.storage[i] = (1 - momentum) * runningVar.storage[i] + momentum * Float(variance * Double(m) / Double(m - 1))
        }
    }

    /// y = [ReLU](x̂·γ + β) for `rows` of a [*, C] buffer, x̂ = (x − μ)/σ. `y` may equal `x`.
    package func normalize(_ x: UnsafePointer<Float>, rows: Range<Int>, mean: UnsafePointer<Float>,
                           inverseStd: UnsafePointer<Float>, relu: Bool, into y: UnsafeMutablePointer<Float>) {
        let c = channels
        var scale = [Float](repeating: 0, count: c), shift = scale
        for i in 0..<c {
            scale[i] = gamma.storage[i] * inverseStd[i]
            shift[i] = beta.storage[i] - mean[i] * scale[i]
        }
        scale.withUnsafeBufferPointer { sc in shift.withUnsafeBufferPointer { sh in
            let s = sc.baseAddress!, b = sh.baseAddress!
            let floor: Float = relu ? 0 : -.infinity
            for r in rows {
                let xr = x + r * c, yr = y + r * c
                var i = 0
                while i + 8 <= c {
                    let v = SIMD8.load(xr + i) * SIMD8.load(s + i) + SIMD8.load(b + i)
                    v.replacing(with: floor, where: v .< floor).store(yr + i)
                    i += 8
                }
                while i < c { yr[i] = max(xr[i] * s[i] + b[i], floor); i += 1 }
            }
        } }
    }

    /// Accumulates Σg and Σg·x̂ over `rows` into lane `lane` of `sums`, where g = dy, masked by
    /// `output > 0` when `output` (the ReLU'd forward output) is given — the fused ReLU backward.
    package func gradientSums(input x: UnsafePointer<Float>, output: UnsafePointer<Float>?, gradOutput dy: UnsafePointer<Float>,
                              rows: Range<Int>, mean: UnsafePointer<Float>, inverseStd: UnsafePointer<Float>,
                              into sums: BatchNormMoments, lane: Int) {
        let c = channels
        sums.withLane(lane) { s1, s2 in
            // Float partial sums per block of rows, flushed into the Double lane totals.
            var p1 = [Float](repeating: 0, count: c), p2 = p1
            p1.withUnsafeMutableBufferPointer { a in p2.withUnsafeMutableBufferPointer { b in
                let a = a.baseAddress!, b = b.baseAddress!
                var block = rows.lowerBound
                while block < rows.upperBound {
                    let end = min(rows.upperBound, block + BatchNormMoments.blockRows)
                    a.update(repeating: 0, count: c); b.update(repeating: 0, count: c)
                    for r in block..<end {
                        let xr = x + r * c, gr = dy + r * c
                        let orow = output.map { $0 + r * c } ?? xr
                        let hasMask = output != nil
                        var i = 0
                        while i + 8 <= c {
                            var g = SIMD8.load(gr + i)
                            if hasMask { g.replace(with: 0, where: SIMD8.load(orow + i) .<= 0) }
                            (SIMD8.load(a + i) + g).store(a + i)
                            (SIMD8.load(b + i) + g * (SIMD8.load(xr + i) - SIMD8.load(mean + i))).store(b + i)
                            i += 8
                        }
                        while i < c {
                            let g = !hasMask || orow[i] > 0 ? gr[i] : 0
                            a[i] += g; b[i] += g * (xr[i] - mean[i])
                            i += 1
                        }
                    }
                    for i in 0..<c { s1[i] += Double(a[i]); s2[i] += Double(b[i]) * Double(inverseStd[i]) }
                    block = end
                }
            } }
        }
    }

    /// dx = γ/σ · (g − dβ/M − x̂·dγ/M) for `rows`, g as in `gradientSums`; M = `totalRows`.
    /// `dx` may equal `dy`.
    package func inputGradient(input x: UnsafePointer<Float>, output: UnsafePointer<Float>?, gradOutput dy: UnsafePointer<Float>,
                               rows: Range<Int>, totalRows m: Int, mean: UnsafePointer<Float>, inverseStd: UnsafePointer<Float>,
                               dbeta: UnsafePointer<Float>, dgamma: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        let c = channels
        let invM = 1 / Float(m)
        // dx = a·g + b·(x − μ) + d  with per-channel a, b, d.
        var a = [Float](repeating: 0, count: c), b = a, d = a
        for i in 0..<c {
            a[i] = gamma.storage[i] * inverseStd[i]
            b[i] = -a[i] * dgamma[i] * invM * inverseStd[i]
            d[i] = -a[i] * dbeta[i] * invM
        }
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in d.withUnsafeBufferPointer { dp in
            let a = ap.baseAddress!, b = bp.baseAddress!, d = dp.baseAddress!
            for r in rows {
                let xr = x + r * c, gr = dy + r * c, out = dx + r * c
                let orow = output.map { $0 + r * c } ?? xr
                let hasMask = output != nil
                var i = 0
                while i + 8 <= c {
                    var g = SIMD8.load(gr + i)
                    if hasMask { g.replace(with: 0, where: SIMD8.load(orow + i) .<= 0) }
                    let v = SIMD8.load(a + i) * g + SIMD8.load(b + i) * (SIMD8.load(xr + i) - SIMD8.load(mean + i)) + SIMD8.load(d + i)
                    v.store(out + i)
                    i += 8
                }
                while i < c {
                    let g = !hasMask || orow[i] > 0 ? gr[i] : 0
                    out[i] = a[i] * g + b[i] * (xr[i] - mean[i]) + d[i]
                    i += 1
                }
            }
        } } }
    }
}

/// Per-lane running sums of two per-channel quantities (Σ(x − shift), Σ(x − shift)² in the forward
/// pass; Σg, Σg·x̂ in the backward pass), so batch slices can be reduced concurrently and then
/// combined in a fixed order (deterministic for a given lane count).
/// `@unchecked Sendable`: lane i writes only row i of the sums; rows are combined after the
/// parallel loop returns.
package final class BatchNormMoments: @unchecked Sendable {
    static let blockRows = 256
    let channels: Int
    let lanes: Int
    /// Subtracted before accumulating in the forward pass (the first row), for conditioning.
    private(set) var shift: [Float]
    private let first: UnsafeMutablePointer<Double>
    private let second: UnsafeMutablePointer<Double>

    package init(channels: Int, lanes: Int) {
        self.channels = channels
        self.lanes = max(1, lanes)
        shift = [Float](repeating: 0, count: channels)
        first = .allocate(capacity: channels * self.lanes)
        second = .allocate(capacity: channels * self.lanes)
        first.initialize(repeating: 0, count: channels * self.lanes)
        second.initialize(repeating: 0, count: channels * self.lanes)
    }

    deinit { first.deallocate(); second.deallocate() }

    /// Gives lane `lane`'s two accumulators. Distinct lanes may be used concurrently.
    package func withLane(_ lane: Int, _ body: (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) -> Void) {
        body(first + lane * channels, second + lane * channels)
    }

    /// Accumulates Σ(x − shift) and Σ(x − shift)² of `rows` of a [*, C] buffer into lane `lane`.
    /// Call `reset` and `setShift` first when several lanes accumulate.
    package func accumulate(_ x: UnsafePointer<Float>, rows: Range<Int>, lane: Int) {
        if lane == 0 && rows.lowerBound == 0 { setShift(x) }
        accumulateShifted(x, rows: rows, lane: lane)
    }

    /// Uses the first row of `x` as the shift.
    package func setShift(_ x: UnsafePointer<Float>) {
        for i in 0..<channels { shift[i] = x[i] }
    }

    /// As `accumulate`, without touching the shift (safe to call from several lanes at once).
    package func accumulateShifted(_ x: UnsafePointer<Float>, rows: Range<Int>, lane: Int) {
        let c = channels
        shift.withUnsafeBufferPointer { shp in
            let sh = shp.baseAddress!
            withLane(lane) { s1, s2 in
                var block = rows.lowerBound
                var p1 = [Float](repeating: 0, count: c), p2 = p1
                p1.withUnsafeMutableBufferPointer { a in p2.withUnsafeMutableBufferPointer { b in
                    let a = a.baseAddress!, b = b.baseAddress!
                    while block < rows.upperBound {
                        let end = min(rows.upperBound, block + BatchNormMoments.blockRows)
                        a.update(repeating: 0, count: c); b.update(repeating: 0, count: c)
                        for r in block..<end {
                            let xr = x + r * c
                            var i = 0
                            while i + 8 <= c {
                                let v = SIMD8.load(xr + i) - SIMD8.load(sh + i)
                                (SIMD8.load(a + i) + v).store(a + i)
                                (SIMD8.load(b + i) + v * v).store(b + i)
                                i += 8
                            }
                            while i < c { let v = xr[i] - sh[i]; a[i] += v; b[i] += v * v; i += 1 }
                        }
                        for i in 0..<c { s1[i] += Double(a[i]); s2[i] += Double(b[i]) }
                        block = end
                    }
                } }
            }
        }
    }

    /// Sums over lanes in lane order.
    package func totals(first f: inout [Double], second s: inout [Double]) {
        for i in 0..<channels { f[i] = 0; s[i] = 0 }
        for l in 0..<lanes { for i in 0..<channels { f[i] += first[l * channels + i]; s[i] += second[l * channels + i] } }
    }

    /// Sums over lanes in lane order, as floats.
    package func totals(first f: inout [Float], second s: inout [Float]) {
        var a = [Double](repeating: 0, count: channels), b = a
        totals(first: &a, second: &b)
        for i in 0..<channels { f[i] = Float(a[i]); s[i] = Float(b[i]) }
    }

    /// Zeroes every lane.
    package func reset() {
        first.update(repeating: 0, count: channels * lanes)
        second.update(repeating: 0, count: channels * lanes)
    }
}

extension Conv2D {
    /// This convolution followed by `bn` (inference statistics) as one convolution:
    /// W'[…, o] = W[…, o]·s[o],  b'[o] = (b[o] − μ[o])·s[o] + β[o],  s = γ / √(σ² + ε).
    public func folding(_ bn: BatchNorm2D) -> Conv2D {
        precondition(bn.channels == outChannels, "fold: BatchNorm2D has \(bn.channels) channels, conv has \(outChannels)")
        var folded = self
        for o in 0..<outChannels {
            let s = bn.gamma.storage[o] / (bn.runningVar.storage[o] + bn.epsilon).squareRoot()
            for i in Swift.stride(from: o, to: weight.count, by: outChannels) { folded.weight.storage[i] *= s }
            folded.bias.storage[o] = (bias.storage[o] - bn.runningMean.storage[o]) * s + bn.beta.storage[o]
        }
        return folded
    }
}

// MARK: - SIMD loads and stores

extension SIMD8 where Scalar == Float {
    /// Eight floats from `p` (no alignment needed).
    @inline(__always) package static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) package static func load(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    /// Writes the eight lanes to `p` (no alignment needed).
    @inline(__always) package func store(_ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: self, as: SIMD8<Float>.self)
    }
}
