/// A depthwise convolution (one kH×kW filter per channel, channel multiplier 1) over NHWC tensors.
///
/// NHWC puts the channels of a pixel next to each other, so the kernel vectorises across
/// channels: for each output pixel, 16 channels at a time accumulate the 9 taps in registers and
/// the bias and activation are applied before the single store. Weight layout `[kH, kW, C]`
/// (PyTorch's `[C, 1, kH, kW]` converts with `init(pytorchWeight:…)`).
public struct DepthwiseConv2D: Sendable {
    public var weight: Tensor   // [kH, kW, C]
    public var bias: Tensor     // [C]
    public var stride: Int
    public var padding: Padding

    public var kernelH: Int { weight.shape[0] }
    public var kernelW: Int { weight.shape[1] }
    public var channels: Int { weight.shape[2] }

    public init(weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Padding = .same) {
        precondition(weight.rank == 3, "DepthwiseConv2D weight must be [kH, kW, C], got \(weight.shape)")
        precondition(bias == nil || bias!.shape == [weight.shape[2]], "DepthwiseConv2D bias must be [C]")
        self.weight = weight
        self.bias = bias ?? Tensor(shape: [weight.shape[2]])
        self.stride = stride
        self.padding = padding
    }

    /// Converts a PyTorch `[C, 1, kH, kW]` weight.
    public init(pytorchWeight w: Tensor, bias: Tensor?, stride: Int = 1, padding: Padding = .same) {
        precondition(w.rank == 4 && w.shape[1] == 1, "PyTorch depthwise weight must be [C, 1, kH, kW], got \(w.shape)")
        let (c, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        var hwc = [Float](repeating: 0, count: w.count)
        for ch in 0..<c { for y in 0..<kh { for x in 0..<kw { hwc[(y * kw + x) * c + ch] = w.storage[(ch * kh + y) * kw + x] } } }
        self.init(weight: Tensor(shape: [kh, kw, c], storage: hwc), bias: bias, stride: stride, padding: padding)
    }

    /// The PyTorch `[C, 1, kH, kW]` view of the weight.
    public var pytorchWeight: Tensor {
        let (kh, kw, c) = (kernelH, kernelW, channels)
        var out = [Float](repeating: 0, count: weight.count)
        for ch in 0..<c { for y in 0..<kh { for x in 0..<kw { out[(ch * kh + y) * kw + x] = weight.storage[(y * kw + x) * c + ch] } } }
        return Tensor(shape: [c, 1, kh, kw], storage: out)
    }

    public func geometry(inH: Int, inW: Int) -> ConvGeometry {
        ConvGeometry(inH: inH, inW: inW, kernelH: kernelH, kernelW: kernelW, stride: stride, padding: padding)
    }

    // MARK: - Forward

    /// y = act(depthwise(x, W) + b).  Shapes: x [N, H, W, C] → y [N, OH, OW, C].
    public func forward(_ x: Tensor, activation: Activation = .identity) -> Tensor {
        precondition(x.rank == 4 && x.shape[3] == channels, "DepthwiseConv2D expects [N, H, W, \(channels)], got \(x.shape)")
        let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2])
        let g = geometry(inH: h, inW: w)
        var y = Tensor(shape: [n, g.outH, g.outW, channels])
        x.storage.withUnsafeBufferPointer { xp in
            y.storage.withUnsafeMutableBufferPointer { yp in
                forward(x: xp.baseAddress!, n: n, h: h, w: w, y: yp.baseAddress!, outputRows: 0..<(n * g.outH), activation: activation)
            }
        }
        return y
    }

    /// Computes output image rows `outputRows` (indices into the flattened [N·OH] rows).
    /// Disjoint ranges may run concurrently.
    package func forward(x: UnsafePointer<Float>, n: Int, h: Int, w: Int, y: UnsafeMutablePointer<Float>,
                         outputRows: Range<Int>, activation: Activation) {
        let g = geometry(inH: h, inW: w)
        let c = channels, kh = kernelH, kw = kernelW
        let lo: Float = activation == .identity ? -.infinity : 0
        let hi: Float = activation == .relu6 ? 6 : .infinity
        weight.storage.withUnsafeBufferPointer { wb in
        bias.storage.withUnsafeBufferPointer { bb in
            let wp = UnsafeRawPointer(wb.baseAddress!), bp = UnsafeRawPointer(bb.baseAddress!)
            for r in outputRows {
                let img = r / g.outH, oy = r % g.outH
                let ky0 = max(0, g.padTop - oy * g.stride), ky1 = min(kh, h + g.padTop - oy * g.stride)
                for ox in 0..<g.outW {
                    let kx0 = max(0, g.padLeft - ox * g.stride), kx1 = min(kw, w + g.padLeft - ox * g.stride)
                    let out = UnsafeMutableRawPointer(y + ((img * g.outH + oy) * g.outW + ox) * c)
                    let origin = x + ((img * h + oy * g.stride - g.padTop) * w + ox * g.stride - g.padLeft) * c
                    var ch = 0
                    while ch + 16 <= c {
                        var acc = bp.loadUnaligned(fromByteOffset: ch * 4, as: SIMD16<Float>.self)
                        for ky in ky0..<max(ky0, ky1) {
                            for kx in kx0..<max(kx0, kx1) {
                                let xv = UnsafeRawPointer(origin + (ky * w + kx) * c + ch).loadUnaligned(as: SIMD16<Float>.self)
                                let wv = wp.loadUnaligned(fromByteOffset: ((ky * kw + kx) * c + ch) * 4, as: SIMD16<Float>.self)
                                acc += xv * wv  // not addProduct: without FMA in the baseline ISA it becomes 16 libm fmaf calls
                            }
                        }
                        out.storeBytes(of: acc, toByteOffset: ch * 4, as: SIMD16<Float>.self)
                        ch += 16
                    }
                    while ch < c {
                        var acc = bb[ch]
                        for ky in ky0..<max(ky0, ky1) {
                            for kx in kx0..<max(kx0, kx1) { acc += origin[(ky * w + kx) * c + ch] * wb[(ky * kw + kx) * c + ch] }
                        }
                        out.storeBytes(of: acc, toByteOffset: ch * 4, as: Float.self)
                        ch += 1
                    }
                    // Activation as a separate scalar loop: LLVM turns it into minps/maxps, while
                    // SIMD16.clamped is lowered lane by lane through the stack.
                    if activation != .identity {
                        let o = out.assumingMemoryBound(to: Float.self)
                        for i in 0..<c { o[i] = min(max(o[i], lo), hi) }
                    }
                }
            }
        } }
    }

    // MARK: - Backward

    /// Gradients through y = depthwise(x, W) + b (apply the activation's backward first).
    /// Shapes: x [N, H, W, C], dy [N, OH, OW, C] → dx [N, H, W, C], dW [kH, kW, C], db [C].
    ///   dx[n, iy, ix, c] += W[ky, kx, c]·dy[n, oy, ox, c];  dW[ky, kx, c] += x[n, iy, ix, c]·dy[n, oy, ox, c].
    public func backward(input x: Tensor, gradOutput dy: Tensor) -> (input: Tensor, weight: Tensor, bias: Tensor) {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let g = geometry(inH: h, inW: w)
        precondition(dy.shape == [n, g.outH, g.outW, c], "DepthwiseConv2D backward: dy \(dy.shape) does not match the forward output")
        var dx = Tensor(shape: x.shape), dw = Tensor(shape: weight.shape), db = Tensor(shape: [c])
        for img in 0..<n { for oy in 0..<g.outH { for ox in 0..<g.outW {
            let o = ((img * g.outH + oy) * g.outW + ox) * c
            for ch in 0..<c { db.storage[ch] += dy.storage[o + ch] }
            for ky in 0..<kernelH {
                let iy = oy * g.stride + ky - g.padTop
                guard iy >= 0 && iy < h else { continue }
                for kx in 0..<kernelW {
                    let ix = ox * g.stride + kx - g.padLeft
                    guard ix >= 0 && ix < w else { continue }
                    let i = ((img * h + iy) * w + ix) * c, k = (ky * kernelW + kx) * c
                    for ch in 0..<c {
                        dx.storage[i + ch] += weight.storage[k + ch] * dy.storage[o + ch]
                        dw.storage[k + ch] += x.storage[i + ch] * dy.storage[o + ch]
                    }
                }
            }
        } } }
        return (dx, dw, db)
    }
}
