/// A 2-D convolution over NHWC tensors, computed as GEMMs on OpenBLAS.
///
/// Weight layout is HWIO, `[kernelH, kernelW, inChannels, outChannels]`, so that the im2col
/// matrix `[N·OH·OW, kH·kW·Cin]` times the weight `[kH·kW·Cin, Cout]` is the NHWC output with no
/// transposes. A 1×1 stride-1 convolution skips im2col: its input already is the `[N·H·W, Cin]`
/// matrix. (PyTorch files store OIHW; `init(pytorchWeight:bias:…)` converts.)
public struct Conv2D: Sendable {
    public var weight: Tensor   // [kH, kW, Cin, Cout]
    public var bias: Tensor     // [Cout]
    public var stride: Int
    public var padding: Padding

    public var kernelH: Int { weight.shape[0] }
    public var kernelW: Int { weight.shape[1] }
    public var inChannels: Int { weight.shape[2] }
    public var outChannels: Int { weight.shape[3] }

    public init(weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Padding = .same) {
        precondition(weight.rank == 4, "Conv2D weight must be [kH, kW, Cin, Cout], got \(weight.shape)")
        let cout = weight.shape[3]
        precondition(bias == nil || bias!.shape == [cout], "Conv2D bias must be [\(cout)]")
        self.weight = weight
        self.bias = bias ?? Tensor(shape: [cout])
        self.stride = stride
        self.padding = padding
    }

    /// Converts a PyTorch `[Cout, Cin, kH, kW]` weight.
    public init(pytorchWeight w: Tensor, bias: Tensor?, stride: Int = 1, padding: Padding = .same) {
        precondition(w.rank == 4, "PyTorch conv weight must be [Cout, Cin, kH, kW], got \(w.shape)")
        let (co, ci, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        // Written in output order (every model load runs this for every convolution).
        let hwio = [Float](unsafeUninitializedCapacity: w.count) { out, initialized in
            w.storage.withUnsafeBufferPointer { src in
                for y in 0..<kh { for x in 0..<kw { for i in 0..<ci {
                    let row = ((y * kw + x) * ci + i) * co
                    for o in 0..<co { out[row + o] = src[((o * ci + i) * kh + y) * kw + x] }
                } } }
            }
            initialized = w.count
        }
        self.init(weight: Tensor(shape: [kh, kw, ci, co], storage: hwio), bias: bias, stride: stride, padding: padding)
    }

    /// He-normal initialised weights (std √(2 / fan_in)), zero bias — for training from scratch.
    public init<G: RandomNumberGenerator>(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1,
                                          padding: Padding = .same, using generator: inout G) {
        let fanIn = Float(kernelSize * kernelSize * inChannels)
        let w = Tensor.randomNormal(shape: [kernelSize, kernelSize, inChannels, outChannels],
                                    std: (2 / fanIn).squareRoot(), using: &generator)
        self.init(weight: w, bias: nil, stride: stride, padding: padding)
    }

    /// The PyTorch `[Cout, Cin, kH, kW]` view of the weight (for writing files).
    public var pytorchWeight: Tensor {
        let (kh, kw, ci, co) = (kernelH, kernelW, inChannels, outChannels)
        var oihw = [Float](repeating: 0, count: weight.count)
        for o in 0..<co { for i in 0..<ci { for y in 0..<kh { for x in 0..<kw {
            oihw[((o * ci + i) * kh + y) * kw + x] = weight.storage[((y * kw + x) * ci + i) * co + o]
        } } } }
        return Tensor(shape: [co, ci, kh, kw], storage: oihw)
    }

    public func geometry(inH: Int, inW: Int) -> ConvGeometry {
        ConvGeometry(inH: inH, inW: inW, kernelH: kernelH, kernelW: kernelW, stride: stride, padding: padding)
    }

    /// True when the input matrix can be used directly (no im2col).
    var isPointwise: Bool { kernelH == 1 && kernelW == 1 && stride == 1 }

    // MARK: - Forward

    /// y = act(conv(x, W) + b).  Shapes: x [N, H, W, Cin] → y [N, OH, OW, Cout].
    public func forward(_ x: Tensor, activation: Activation = .identity) -> Tensor {
        precondition(x.rank == 4 && x.shape[3] == inChannels, "Conv2D expects [N, H, W, \(inChannels)], got \(x.shape)")
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let g = geometry(inH: h, inW: w)
        var y = Tensor(shape: [n, g.outH, g.outW, outChannels])
        var scratch = [Float](repeating: 0, count: scratchCount(inH: h, inW: w, rows: n * g.outH * g.outW))
        x.storage.withUnsafeBufferPointer { xp in
            y.storage.withUnsafeMutableBufferPointer { yp in
                scratch.withUnsafeMutableBufferPointer { sp in
                    forward(x: xp.baseAddress!, n: n, h: h, w: w, y: yp.baseAddress!, rows: 0..<(n * g.outH * g.outW),
                            scratch: sp.baseAddress!, activation: activation)
                }
            }
        }
        return y
    }

    /// Floats of scratch `forward(x:…)` needs for `rows` output rows.
    package func scratchCount(inH: Int, inW: Int, rows: Int) -> Int {
        isPointwise ? 0 : min(rows, chunkRows) * kernelH * kernelW * inChannels
    }

    /// im2col rows per GEMM: large enough for an efficient GEMM, small enough to stay in cache.
    var chunkRows: Int { max(32, (1 << 17) / max(1, kernelH * kernelW * inChannels)) }

    /// Computes output rows `rows` (indices into the flattened [N·OH·OW] output pixels) of
    /// y = act(conv(x) + b). Disjoint row ranges may run concurrently (each with its own scratch).
    package func forward(x: UnsafePointer<Float>, n: Int, h: Int, w: Int, y: UnsafeMutablePointer<Float>,
                         rows: Range<Int>, scratch: UnsafeMutablePointer<Float>, activation: Activation,
                         addBias: Bool = true) {
        let cin = inChannels, cout = outChannels
        weight.storage.withUnsafeBufferPointer { wp in
            bias.storage.withUnsafeBufferPointer { bp in
                if isPointwise {
                    // [rows, Cin] · [Cin, Cout]
                    sgemm(m: rows.count, n: cout, k: cin, a: x + rows.lowerBound * cin, lda: cin,
                          b: wp.baseAddress!, ldb: cout, c: y + rows.lowerBound * cout, ldc: cout)
                } else {
                    let g = geometry(inH: h, inW: w)
                    let k = kernelH * kernelW * cin
                    var start = rows.lowerBound
                    while start < rows.upperBound {
                        let end = min(rows.upperBound, start + chunkRows)
                        im2col(x: x, h: h, w: w, cin: cin, g: g, rows: start..<end, cols: scratch)
                        sgemm(m: end - start, n: cout, k: k, a: scratch, lda: k,
                              b: wp.baseAddress!, ldb: cout, c: y + start * cout, ldc: cout)
                        start = end
                    }
                }
                // Training convolutions carry no bias (batch norm follows): skip the epilogue pass.
                if addBias || activation != .identity {
                    activation.applyBias(y, bias: addBias ? bp.baseAddress! : nil, rows: rows, channels: cout)
                }
            }
        }
    }

    /// Writes the receptive fields of output rows `rows` as a [rows, kH·kW·Cin] matrix
    /// (zeros where the window hangs over the padding). Within one kernel row the taps are
    /// adjacent input pixels, so each kernel row is one contiguous copy of its in-bounds part.
    @inline(__always)
    func im2col(x: UnsafePointer<Float>, h: Int, w: Int, cin: Int, g: ConvGeometry, rows: Range<Int>,
                cols: UnsafeMutablePointer<Float>) {
        let kh = kernelH, kw = kernelW, k = kh * kw * cin
        let plane = g.outH * g.outW
        for r in rows {
            let img = r / plane, p = r % plane
            let oy = p / g.outW, ox = p % g.outW
            var dst = cols + (r - rows.lowerBound) * k
            let ix0 = ox * g.stride - g.padLeft
            let kx0 = max(0, -ix0), kx1 = min(kw, w - ix0)
            for ky in 0..<kh {
                let iy = oy * g.stride + ky - g.padTop
                if iy >= 0 && iy < h && kx0 < kx1 {
                    if kx0 > 0 { dst.update(repeating: 0, count: kx0 * cin) }
                    // Runs are short (kW·Cin floats): an inline SIMD copy beats a memmove call.
                    let d = dst + kx0 * cin, s = x + ((img * h + iy) * w + ix0 + kx0) * cin, run = (kx1 - kx0) * cin
                    var j = 0
                    while j + 8 <= run { SIMD8.load(s + j).store(d + j); j += 8 }
                    while j < run { d[j] = s[j]; j += 1 }
                    if kx1 < kw { dst.advanced(by: kx1 * cin).update(repeating: 0, count: (kw - kx1) * cin) }
                } else {
                    dst.update(repeating: 0, count: kw * cin)
                }
                dst += kw * cin
            }
        }
    }

    /// The adjoint of `im2col`: adds each row of `cols` ([rows, kH·kW·Cin]) back onto the input
    /// pixels its receptive field covers.
    @inline(__always)
    func col2im(cols: UnsafePointer<Float>, h: Int, w: Int, cin: Int, g: ConvGeometry, rows: Range<Int>,
                into dx: UnsafeMutablePointer<Float>) {
        let kh = kernelH, kw = kernelW, k = kh * kw * cin
        let plane = g.outH * g.outW
        for r in rows {
            let img = r / plane, p = r % plane
            let oy = p / g.outW, ox = p % g.outW
            let src = cols + (r - rows.lowerBound) * k
            let ix0 = ox * g.stride - g.padLeft
            let kx0 = max(0, -ix0), kx1 = min(kw, w - ix0)
            guard kx0 < kx1 else { continue }
            let run = (kx1 - kx0) * cin
            for ky in 0..<kh {
                let iy = oy * g.stride + ky - g.padTop
                guard iy >= 0 && iy < h else { continue }
                let d = dx + ((img * h + iy) * w + ix0 + kx0) * cin
                let s = src + (ky * kw + kx0) * cin
                var j = 0
                while j + 8 <= run { (SIMD8.load(d + j) + SIMD8.load(s + j)).store(d + j); j += 8 }
                while j < run { d[j] += s[j]; j += 1 }
            }
        }
    }

    // MARK: - Backward

    /// Gradients of a loss through y = conv(x, W) + b (no activation: apply its backward first).
    /// Shapes: x [N, H, W, Cin], dy [N, OH, OW, Cout] → dx [N, H, W, Cin],
    /// dW [kH, kW, Cin, Cout], db [Cout].
    ///   cols = im2col(x) [M, K];  dW = colsᵀ · dy;  dcols = dy · Wᵀ;  dx = col2im(dcols);  db = Σ_rows dy.
    public func backward(input x: Tensor, gradOutput dy: Tensor) -> (input: Tensor, weight: Tensor, bias: Tensor) {
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        precondition(x.rank == 4 && x.shape[3] == inChannels, "Conv2D backward expects [N, H, W, \(inChannels)], got \(x.shape)")
        let g = geometry(inH: h, inW: w)
        precondition(dy.shape == [n, g.outH, g.outW, outChannels], "Conv2D backward: dy \(dy.shape) does not match the forward output")
        let m = n * g.outH * g.outW, cout = outChannels
        var dx = Tensor(shape: x.shape), dw = Tensor(shape: weight.shape), db = Tensor(shape: [cout])
        for r in 0..<m { for c in 0..<cout { db.storage[c] += dy.storage[r * cout + c] } }
        var scratch = [Float](repeating: 0, count: max(1, scratchCount(inH: h, inW: w, rows: m)))
        x.storage.withUnsafeBufferPointer { xp in
        dy.storage.withUnsafeBufferPointer { dyp in
        dw.storage.withUnsafeMutableBufferPointer { dwp in
        dx.storage.withUnsafeMutableBufferPointer { dxp in
        scratch.withUnsafeMutableBufferPointer { sp in
            backward(x: xp.baseAddress!, n: n, h: h, w: w, gradOutput: dyp.baseAddress!, images: 0..<n,
                     scratch: sp.baseAddress!, weightGradient: dwp.baseAddress!, inputGradient: dxp.baseAddress!,
                     accumulateInput: false)
        } } } } }
        return (dx, dw, db)
    }

    /// The backward pass for images `images` of a batch on raw buffers (disjoint image ranges may run
    /// concurrently, each with its own `scratch` of `scratchCount` floats and its own `dW`):
    /// dW += colsᵀ · dy; and, when `dx` is given, dx = col2im(dy · Wᵀ) for those images
    /// (`accumulateInput`: added to what `dx` holds instead of overwriting it). The bias gradient is
    /// the caller's (Σ dy), since the trained networks here have none.
    package func backward(x: UnsafePointer<Float>, n: Int, h: Int, w: Int, gradOutput dy: UnsafePointer<Float>,
                          images: Range<Int>, scratch: UnsafeMutablePointer<Float>,
                          weightGradient dW: UnsafeMutablePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>?,
                          accumulateInput: Bool) {
        let cin = inChannels, cout = outChannels
        let g = geometry(inH: h, inW: w)
        let plane = g.outH * g.outW
        let rows = (images.lowerBound * plane)..<(images.upperBound * plane)
        guard !rows.isEmpty else { return }
        weight.storage.withUnsafeBufferPointer { wp in
            let wt = wp.baseAddress!
            if isPointwise {
                sgemm(transA: true, m: cin, n: cout, k: rows.count, a: x + rows.lowerBound * cin, lda: cin,
                      b: dy + rows.lowerBound * cout, ldb: cout, beta: 1, c: dW, ldc: cout)
                if let dx {
                    sgemm(transB: true, m: rows.count, n: cin, k: cout, a: dy + rows.lowerBound * cout, lda: cout,
                          b: wt, ldb: cout, beta: accumulateInput ? 1 : 0, c: dx + rows.lowerBound * cin, ldc: cin)
                }
                return
            }
            let k = kernelH * kernelW * cin
            if let dx, !accumulateInput {
                (dx + images.lowerBound * h * w * cin).update(repeating: 0, count: images.count * h * w * cin)
            }
            var start = rows.lowerBound
            while start < rows.upperBound {
                let end = min(rows.upperBound, start + chunkRows)
                im2col(x: x, h: h, w: w, cin: cin, g: g, rows: start..<end, cols: scratch)
                sgemm(transA: true, m: k, n: cout, k: end - start, a: scratch, lda: k,
                      b: dy + start * cout, ldb: cout, beta: 1, c: dW, ldc: cout)
                if let dx {
                    sgemm(transB: true, m: end - start, n: k, k: cout, a: dy + start * cout, lda: cout,
                          b: wt, ldb: cout, c: scratch, ldc: k)
                    col2im(cols: scratch, h: h, w: w, cin: cin, g: g, rows: start..<end, into: dx)
                }
                start = end
            }
        }
    }
}
