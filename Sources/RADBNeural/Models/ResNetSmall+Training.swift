import Dispatch

// MARK: - Training workspace

extension ResNetSmall {
    /// The memory of one training step, reused across steps: every activation the backward pass
    /// needs, the gradient ping-pong buffers, per-lane im2col scratch and per-lane weight-gradient
    /// partials. Buffers grow on demand and are never freed until the workspace is, so a steady
    /// training loop allocates (and page-faults) nothing.
    ///
    /// `lanes` is the number of batch slices every layer is split into (run concurrently with
    /// `DispatchQueue.concurrentPerform` when > 1; BLAS should then run single-threaded). Results
    /// are deterministic for a given lane count. A workspace holds one step in flight: a `Cache`
    /// is only valid until the next `forwardTraining` with the same workspace.
    /// `@unchecked Sendable`: a workspace is used by one training step at a time (the contract
    /// above); inside a step each lane writes only its own slice.
    public final class TrainingWorkspace: @unchecked Sendable {
        public let lanes: Int
        private var slots: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []
        private var moments: [Int: BatchNormMoments] = [:]

        public init(lanes: Int = 1) { self.lanes = max(1, lanes) }

        deinit { for s in slots { s.pointer.deallocate() } }

        /// Slot `id`, grown to at least `count` floats (contents are not preserved on growth).
        func buffer(_ id: Int, _ count: Int) -> UnsafeMutablePointer<Float> {
            while slots.count <= id { slots.append((.allocate(capacity: 1), 1)) }
            if slots[id].capacity < count {
                slots[id].pointer.deallocate()
                slots[id] = (.allocate(capacity: count), count)
            }
            return slots[id].pointer
        }

        /// Per-lane moment accumulators for a batch norm of `channels` channels.
        func moments(_ id: Int, channels: Int) -> BatchNormMoments {
            if let m = moments[id], m.channels == channels { return m }
            let m = BatchNormMoments(channels: channels, lanes: lanes)
            moments[id] = m
            return m
        }

        // Fixed slot ids: activations of layer `layer` use 16 + 8·layer + role.
        static let gradA = 0, gradB = 1, temp1 = 2, temp2 = 3, weightPartials = 4, scratchBase = 8
        static func slot(layer: Int, _ role: Int) -> Int { 16 + 8 * layer + role }
    }

    /// What backward needs from one training forward (the activations live in the workspace).
    public struct Cache: Sendable {
        let workspace: TrainingWorkspace
        let input: Tensor
        let pooled: Tensor
        let lastShape: (h: Int, w: Int, c: Int)
    }
}

// MARK: - One conv + batch-norm stage on raw buffers

/// The shapes of one convolution + batch norm, and where its activations live.
private struct Stage {
    let conv: Conv2D
    let n: Int, h: Int, w: Int
    let g: ConvGeometry
    var rows: Int { n * g.outH * g.outW }
    var outCount: Int { rows * conv.outChannels }
    var inCount: Int { n * h * w * conv.inChannels }
}

extension ResNetSmall {
    // Roles within a layer's slots.
    private static let roleZ = 0, roleA = 1, roleMean = 2, roleInvStd = 3

    /// conv → BN (batch statistics) → optional ReLU; writes z (conv output) and a (normalised) into
    /// the layer's slots and returns a.
    private static func forwardStage(_ st: Stage, _ bn: inout BatchNorm2D, x: UnsafePointer<Float>, layer: Int,
                                     relu: Bool, ws: TrainingWorkspace) -> UnsafeMutablePointer<Float> {
        let c = st.conv.outChannels, plane = st.g.outH * st.g.outW
        let z = ws.buffer(TrainingWorkspace.slot(layer: layer, roleZ), st.outCount)
        let a = ws.buffer(TrainingWorkspace.slot(layer: layer, roleA), st.outCount)
        let mean = ws.buffer(TrainingWorkspace.slot(layer: layer, roleMean), c)
        let invStd = ws.buffer(TrainingWorkspace.slot(layer: layer, roleInvStd), c)
        let scratchCount = st.conv.scratchCount(inH: st.h, inW: st.w, rows: st.rows)
        let scratch = (0..<ws.lanes).map { ws.buffer(TrainingWorkspace.scratchBase + $0, max(1, scratchCount)) }
        let conv = st.conv
        parallelSlices(st.n, lanes: ws.lanes) { imgs, lane in
            conv.forward(x: x, n: st.n, h: st.h, w: st.w, y: z, rows: (imgs.lowerBound * plane)..<(imgs.upperBound * plane),
                         scratch: scratch[lane], activation: .identity, addBias: false)
        }
        let moments = ws.moments(TrainingWorkspace.slot(layer: layer, roleZ), channels: c)
        moments.reset()
        moments.setShift(z)
        parallelSlices(st.n, lanes: ws.lanes) { imgs, lane in
            moments.accumulateShifted(z, rows: (imgs.lowerBound * plane)..<(imgs.upperBound * plane), lane: lane)
        }
        bn.finishStatistics(moments, rows: st.rows, mean: mean, inverseStd: invStd)
        let b = bn
        parallelSlices(st.n, lanes: ws.lanes) { imgs, _ in
            b.normalize(z, rows: (imgs.lowerBound * plane)..<(imgs.upperBound * plane), mean: mean, inverseStd: invStd,
                        relu: relu, into: a)
        }
        return a
    }

    /// Backward of `forwardStage`: from dL/d(stage output) `dy` (before the ReLU mask when
    /// `reluOutput` is given) to dW, dγ, dβ and — when `dx` is given — dL/dx (added to `dx` when
    /// `accumulate`). `temp` receives dL/dz.
    private static func backwardStage(_ st: Stage, _ bn: BatchNorm2D, x: UnsafePointer<Float>, layer: Int,
                                      reluOutput: Bool, dy: UnsafePointer<Float>, temp: UnsafeMutablePointer<Float>,
                                      dx: UnsafeMutablePointer<Float>?, accumulate: Bool, ws: TrainingWorkspace)
        -> (weight: Tensor, gamma: Tensor, beta: Tensor) {
        let c = st.conv.outChannels, plane = st.g.outH * st.g.outW
        let z = UnsafePointer(ws.buffer(TrainingWorkspace.slot(layer: layer, roleZ), st.outCount))
        let a: UnsafePointer<Float>? = reluOutput ? UnsafePointer(ws.buffer(TrainingWorkspace.slot(layer: layer, roleA), st.outCount)) : nil
        let mean = UnsafePointer(ws.buffer(TrainingWorkspace.slot(layer: layer, roleMean), c))
        let invStd = UnsafePointer(ws.buffer(TrainingWorkspace.slot(layer: layer, roleInvStd), c))
        let sums = ws.moments(TrainingWorkspace.slot(layer: layer, roleA), channels: c)
        sums.reset()
        parallelSlices(st.n, lanes: ws.lanes) { imgs, lane in
            bn.gradientSums(input: z, output: a, gradOutput: dy, rows: (imgs.lowerBound * plane)..<(imgs.upperBound * plane),
                            mean: mean, inverseStd: invStd, into: sums, lane: lane)
        }
        var dgamma = Tensor(shape: [c]), dbeta = Tensor(shape: [c])
        sums.totals(first: &dbeta.storage, second: &dgamma.storage)
        dbeta.storage.withUnsafeBufferPointer { dbp in dgamma.storage.withUnsafeBufferPointer { dgp in
            let db = dbp.baseAddress!, dg = dgp.baseAddress!
            parallelSlices(st.n, lanes: ws.lanes) { imgs, _ in
                bn.inputGradient(input: z, output: a, gradOutput: dy, rows: (imgs.lowerBound * plane)..<(imgs.upperBound * plane),
                                 totalRows: st.rows, mean: mean, inverseStd: invStd, dbeta: db, dgamma: dg, into: temp)
            }
        } }
        // Convolution: per-lane weight-gradient partials, summed in lane order.
        let conv = st.conv, wCount = conv.weight.count
        let partials = ws.buffer(TrainingWorkspace.weightPartials, wCount * ws.lanes)
        partials.update(repeating: 0, count: wCount * ws.lanes)
        let scratchCount = conv.scratchCount(inH: st.h, inW: st.w, rows: st.rows)
        let scratch = (0..<ws.lanes).map { ws.buffer(TrainingWorkspace.scratchBase + $0, max(1, scratchCount)) }
        let dz = UnsafePointer(temp)
        parallelSlices(st.n, lanes: ws.lanes) { imgs, lane in
            conv.backward(x: x, n: st.n, h: st.h, w: st.w, gradOutput: dz, images: imgs, scratch: scratch[lane],
                          weightGradient: partials + lane * wCount, inputGradient: dx, accumulateInput: accumulate)
        }
        var dW = Tensor(shape: conv.weight.shape)
        dW.storage.withUnsafeMutableBufferPointer { p in
            p.baseAddress!.update(from: partials, count: wCount)
            for l in 1..<max(1, ws.lanes) { for i in 0..<wCount { p[i] += partials[l * wCount + i] } }
        }
        return (dW, dgamma, dbeta)
    }

    // MARK: - Training forward

    /// x [N, H, W, Cin] → e [N, d] with batch statistics (running statistics updated), in a fresh
    /// single-lane workspace.
    public mutating func forwardTraining(_ x: Tensor) -> (output: Tensor, cache: Cache) {
        forwardTraining(x, workspace: TrainingWorkspace(lanes: 1))
    }

    /// x [N, H, W, Cin] → e [N, d] with batch statistics, keeping the activations in `workspace`.
    public mutating func forwardTraining(_ x: Tensor, workspace ws: TrainingWorkspace) -> (output: Tensor, cache: Cache) {
        precondition(x.rank == 4 && x.shape[3] == stem.inChannels, "ResNetSmall expects [N, H, W, \(stem.inChannels)], got \(x.shape)")
        let n = x.shape[0]
        var h = x.shape[1], w = x.shape[2]
        var last: UnsafeMutablePointer<Float>!
        x.storage.withUnsafeBufferPointer { xp in
            let st = Stage(conv: stem, n: n, h: h, w: w, g: stem.geometry(inH: h, inW: w))
            last = ResNetSmall.forwardStage(st, &stemBN, x: xp.baseAddress!, layer: 0, relu: true, ws: ws)
        }
        for k in blocks.indices {
            let input = UnsafePointer(last!)
            let s1 = Stage(conv: blocks[k].conv1, n: n, h: h, w: w, g: blocks[k].conv1.geometry(inH: h, inW: w))
            let a1 = ResNetSmall.forwardStage(s1, &blocks[k].bn1, x: input, layer: 1 + 3 * k, relu: true, ws: ws)
            let (oh, ow) = (s1.g.outH, s1.g.outW)
            let s2 = Stage(conv: blocks[k].conv2, n: n, h: oh, w: ow, g: blocks[k].conv2.geometry(inH: oh, inW: ow))
            // The block output is written over bn2's normalised output: relu(bn2(z2) + shortcut).
            let out = ResNetSmall.forwardStage(s2, &blocks[k].bn2, x: a1, layer: 2 + 3 * k, relu: false, ws: ws)
            var shortcut = input
            if var sc = blocks[k].shortcut {
                let ss = Stage(conv: sc.conv, n: n, h: h, w: w, g: sc.conv.geometry(inH: h, inW: w))
                shortcut = UnsafePointer(ResNetSmall.forwardStage(ss, &sc.bn, x: input, layer: 3 + 3 * k, relu: false, ws: ws))
                blocks[k].shortcut = sc
            }
            let count = s2.outCount, lanes = ws.lanes
            parallelSlices(count / 8, lanes: lanes) { r, _ in
                for j in r { let v = SIMD8.load(out + 8 * j) + SIMD8.load(shortcut + 8 * j); v.replacing(with: 0, where: v .< 0).store(out + 8 * j) }
            }
            for i in (count / 8 * 8)..<count { out[i] = max(out[i] + shortcut[i], 0) }
            last = out
            (h, w) = (oh, ow)
        }
        let c = blocks.last.map { $0.conv2.outChannels } ?? stem.outChannels
        var pooled = Tensor(shape: [n, c])
        pooled.storage.withUnsafeMutableBufferPointer { pp in
            for img in 0..<n { GlobalAvgPool.forward(last! + img * h * w * c, positions: h * w, channels: c, into: pp.baseAddress! + img * c) }
        }
        return (fc.forward(pooled), Cache(workspace: ws, input: x, pooled: pooled, lastShape: (h, w, c)))
    }

    // MARK: - Backward

    /// dL/de [N, d] → gradients in `parameters` order.
    public func backward(cache: Cache, outputGradient de: Tensor) -> [Tensor] {
        let ws = cache.workspace, n = cache.input.shape[0]
        let fcGrad = fc.backward(input: cache.pooled, outputGradient: de)
        // Spatial sizes of every block's input, replayed from the forward geometry.
        var sizes = [(h: cache.input.shape[1], w: cache.input.shape[2])]
        let stemG = stem.geometry(inH: sizes[0].h, inW: sizes[0].w)
        sizes.append((stemG.outH, stemG.outW))
        for b in blocks { let g = b.conv1.geometry(inH: sizes.last!.h, inW: sizes.last!.w); sizes.append((g.outH, g.outW)) }
        var maxCount = n * stemG.outH * stemG.outW * stem.outChannels
        for (k, b) in blocks.enumerated() {
            maxCount = max(maxCount, n * sizes[k + 1].h * sizes[k + 1].w * b.conv1.inChannels,
                           n * sizes[k + 2].h * sizes[k + 2].w * b.conv1.outChannels)
        }
        var gOut = ws.buffer(TrainingWorkspace.gradA, maxCount), gIn = ws.buffer(TrainingWorkspace.gradB, maxCount)
        let t1 = ws.buffer(TrainingWorkspace.temp1, maxCount), t2 = ws.buffer(TrainingWorkspace.temp2, maxCount)
        // Global average pooling: every position gets dpooled / (H·W).
        let (lh, lw, lc) = cache.lastShape
        let inv = 1 / Float(lh * lw)
        fcGrad.input.storage.withUnsafeBufferPointer { dp in
            for img in 0..<n { for p in 0..<(lh * lw) {
                let row = gOut + (img * lh * lw + p) * lc
                for ch in 0..<lc { row[ch] = dp[img * lc + ch] * inv }
            } }
        }
        var blockGrads = [[Tensor]](repeating: [], count: blocks.count)
        for k in stride(from: blocks.count - 1, through: 0, by: -1) {
            let b = blocks[k]
            let (h, w) = sizes[k + 1], (oh, ow) = sizes[k + 2]
            let input = UnsafePointer(k == 0 ? ws.buffer(TrainingWorkspace.slot(layer: 0, ResNetSmall.roleA), 0)
                                             : ws.buffer(TrainingWorkspace.slot(layer: 2 + 3 * (k - 1), ResNetSmall.roleA), 0))
            let a1 = UnsafePointer(ws.buffer(TrainingWorkspace.slot(layer: 1 + 3 * k, ResNetSmall.roleA), 0))
            let out = UnsafePointer(ws.buffer(TrainingWorkspace.slot(layer: 2 + 3 * k, ResNetSmall.roleA), 0))
            // dsum = dout · [out > 0], in place.
            let outCount = n * oh * ow * b.conv2.outChannels
            let dsum = gOut
            parallelSlices(outCount / 8, lanes: ws.lanes) { r, _ in
                for j in r { SIMD8.load(dsum + 8 * j).replacing(with: 0, where: SIMD8.load(out + 8 * j) .<= 0).store(dsum + 8 * j) }
            }
            for i in (outCount / 8 * 8)..<outCount where out[i] <= 0 { dsum[i] = 0 }
            let s1 = Stage(conv: b.conv1, n: n, h: h, w: w, g: b.conv1.geometry(inH: h, inW: w))
            let s2 = Stage(conv: b.conv2, n: n, h: oh, w: ow, g: b.conv2.geometry(inH: oh, inW: ow))
            let g2 = ResNetSmall.backwardStage(s2, b.bn2, x: a1, layer: 2 + 3 * k, reluOutput: false, dy: dsum, temp: t1,
                                               dx: t2, accumulate: false, ws: ws)
            let g1 = ResNetSmall.backwardStage(s1, b.bn1, x: input, layer: 1 + 3 * k, reluOutput: true, dy: t2, temp: t1,
                                               dx: gIn, accumulate: false, ws: ws)
            var grads = [g1.weight, g1.gamma, g1.beta, g2.weight, g2.gamma, g2.beta]
            if let sc = b.shortcut {
                let ss = Stage(conv: sc.conv, n: n, h: h, w: w, g: sc.conv.geometry(inH: h, inW: w))
                let gs = ResNetSmall.backwardStage(ss, sc.bn, x: input, layer: 3 + 3 * k, reluOutput: false, dy: dsum, temp: t2,
                                                   dx: gIn, accumulate: true, ws: ws)
                grads += [gs.weight, gs.gamma, gs.beta]
            } else {
                let dIn = gIn
                parallelSlices(outCount / 8, lanes: ws.lanes) { r, _ in
                    for j in r { (SIMD8.load(dIn + 8 * j) + SIMD8.load(dsum + 8 * j)).store(dIn + 8 * j) }
                }
                for i in (outCount / 8 * 8)..<outCount { dIn[i] += dsum[i] }
            }
            blockGrads[k] = grads
            swap(&gOut, &gIn)
        }
        let (h0, w0) = sizes[0]
        let gStem = cache.input.storage.withUnsafeBufferPointer { xp in
            ResNetSmall.backwardStage(Stage(conv: stem, n: n, h: h0, w: w0, g: stemG), stemBN, x: xp.baseAddress!, layer: 0,
                                      reluOutput: true, dy: gOut, temp: t1, dx: nil, accumulate: false, ws: ws)
        }
        return [gStem.weight, gStem.gamma, gStem.beta] + blockGrads.flatMap { $0 } + [fcGrad.weight, fcGrad.bias]
    }
}
