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
        var hwio = [Float](repeating: 0, count: w.count)
        for o in 0..<co { for i in 0..<ci { for y in 0..<kh { for x in 0..<kw {
            hwio[((y * kw + x) * ci + i) * co + o] = w.storage[((o * ci + i) * kh + y) * kw + x]
        } } } }
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
                         rows: Range<Int>, scratch: UnsafeMutablePointer<Float>, activation: Activation) {
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
                activation.applyBias(y, bias: bp.baseAddress!, rows: rows, channels: cout)
            }
        }
    }

    /// Writes the receptive fields of output rows `rows` as a [rows, kH·kW·Cin] matrix
    /// (zeros where the window hangs over the padding).
    @inline(__always)
    func im2col(x: UnsafePointer<Float>, h: Int, w: Int, cin: Int, g: ConvGeometry, rows: Range<Int>,
                cols: UnsafeMutablePointer<Float>) {
        let kh = kernelH, kw = kernelW, k = kh * kw * cin
        let plane = g.outH * g.outW
        for r in rows {
            let img = r / plane, p = r % plane
            let oy = p / g.outW, ox = p % g.outW
            var dst = cols + (r - rows.lowerBound) * k
            for ky in 0..<kh {
                let iy = oy * g.stride + ky - g.padTop
                for kx in 0..<kw {
                    let ix = ox * g.stride + kx - g.padLeft
                    if iy >= 0 && iy < h && ix >= 0 && ix < w {
                        dst.update(from: x + ((img * h + iy) * w + ix) * cin, count: cin)
                    } else {
                        dst.update(repeating: 0, count: cin)
                    }
                    dst += cin
                }
            }
        }
    }

    // MARK: - Backward

    /// Gradients of a loss through y = conv(x, W) + b (no activation: apply its backward first).
    /// Shapes: x [N, H, W, Cin], dy [N, OH, OW, Cout] → dx [N, H, W, Cin],
    /// dW [kH, kW, Cin, Cout], db [Cout].
    ///   cols = im2col(x) [M, K];  dW = colsᵀ · dy;  dcols = dy · Wᵀ;  dx = col2im(dcols);  db = Σ_rows dy.
    public func backward(input x: Tensor, gradOutput dy: Tensor) -> (input: Tensor, weight: Tensor, bias: Tensor) {
        let (n, h, w, cin) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let g = geometry(inH: h, inW: w)
        precondition(dy.shape == [n, g.outH, g.outW, outChannels], "Conv2D backward: dy \(dy.shape) does not match the forward output")
        let m = n * g.outH * g.outW, k = kernelH * kernelW * cin, cout = outChannels
        var dx = Tensor(shape: x.shape), dw = Tensor(shape: weight.shape), db = Tensor(shape: [cout])
        for r in 0..<m { for c in 0..<cout { db.storage[c] += dy.storage[r * cout + c] } }
        x.storage.withUnsafeBufferPointer { xp in
        dy.storage.withUnsafeBufferPointer { dyp in
        weight.storage.withUnsafeBufferPointer { wp in
        dw.storage.withUnsafeMutableBufferPointer { dwp in
        dx.storage.withUnsafeMutableBufferPointer { dxp in
            if isPointwise {
                sgemm(transA: true, m: k, n: cout, k: m, a: xp.baseAddress!, lda: k, b: dyp.baseAddress!, ldb: cout,
                      c: dwp.baseAddress!, ldc: cout)
                sgemm(transB: true, m: m, n: k, k: cout, a: dyp.baseAddress!, lda: cout, b: wp.baseAddress!, ldb: cout,
                      c: dxp.baseAddress!, ldc: k)
                return
            }
            var cols = [Float](repeating: 0, count: m * k)
            cols.withUnsafeMutableBufferPointer { cp in
                im2col(x: xp.baseAddress!, h: h, w: w, cin: cin, g: g, rows: 0..<m, cols: cp.baseAddress!)
                sgemm(transA: true, m: k, n: cout, k: m, a: cp.baseAddress!, lda: k, b: dyp.baseAddress!, ldb: cout,
                      c: dwp.baseAddress!, ldc: cout)
                sgemm(transB: true, m: m, n: k, k: cout, a: dyp.baseAddress!, lda: cout, b: wp.baseAddress!, ldb: cout,
                      c: cp.baseAddress!, ldc: k)
                // col2im: scatter-add every receptive-field row back onto the input pixels.
                let plane = g.outH * g.outW
                for r in 0..<m {
                    let img = r / plane, p = r % plane, oy = p / g.outW, ox = p % g.outW
                    var src = cp.baseAddress! + r * k
                    for ky in 0..<kernelH {
                        let iy = oy * g.stride + ky - g.padTop
                        for kx in 0..<kernelW {
                            let ix = ox * g.stride + kx - g.padLeft
                            if iy >= 0 && iy < h && ix >= 0 && ix < w {
                                let dst = dxp.baseAddress! + ((img * h + iy) * w + ix) * cin
                                for c in 0..<cin { dst[c] += src[c] }
                            }
                            src += cin
                        }
                    }
                }
            }
        } } } } }
        return (dx, dw, db)
    }
}
