import RADBNeural

/// Textbook loop implementations the optimised layers are checked against.
enum Naive {
    /// Direct convolution, weight HWIO [kH, kW, Cin, Cout]; padded taps read zero.
    static func conv(_ x: Tensor, weight: Tensor, bias: Tensor, stride: Int, padding: Padding, activation: Activation = .identity) -> Tensor {
        let (n, h, w, cin) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kh, kw, cout) = (weight.shape[0], weight.shape[1], weight.shape[3])
        let g = ConvGeometry(inH: h, inW: w, kernelH: kh, kernelW: kw, stride: stride, padding: padding)
        var y = Tensor(shape: [n, g.outH, g.outW, cout])
        for b in 0..<n { for oy in 0..<g.outH { for ox in 0..<g.outW { for o in 0..<cout {
            var acc = Double(bias.storage[o])
            for ky in 0..<kh { for kx in 0..<kw {
                let iy = oy * stride + ky - g.padTop, ix = ox * stride + kx - g.padLeft
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                for i in 0..<cin {
                    acc += Double(x.storage[((b * h + iy) * w + ix) * cin + i]) * Double(weight.storage[((ky * kw + kx) * cin + i) * cout + o])
                }
            } }
            y.storage[((b * g.outH + oy) * g.outW + ox) * cout + o] = activation.apply(Float(acc))
        } } } }
        return y
    }

    /// Direct depthwise convolution, weight [kH, kW, C].
    static func depthwise(_ x: Tensor, weight: Tensor, bias: Tensor, stride: Int, padding: Padding, activation: Activation = .identity) -> Tensor {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kh, kw) = (weight.shape[0], weight.shape[1])
        let g = ConvGeometry(inH: h, inW: w, kernelH: kh, kernelW: kw, stride: stride, padding: padding)
        var y = Tensor(shape: [n, g.outH, g.outW, c])
        for b in 0..<n { for oy in 0..<g.outH { for ox in 0..<g.outW { for ch in 0..<c {
            var acc = Double(bias.storage[ch])
            for ky in 0..<kh { for kx in 0..<kw {
                let iy = oy * stride + ky - g.padTop, ix = ox * stride + kx - g.padLeft
                guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                acc += Double(x.storage[((b * h + iy) * w + ix) * c + ch]) * Double(weight.storage[(ky * kw + kx) * c + ch])
            } }
            y.storage[((b * g.outH + oy) * g.outW + ox) * c + ch] = activation.apply(Float(acc))
        } } } }
        return y
    }

    /// Pooling by explicit window lists (average excludes padding, max ignores it).
    static func pool(_ x: Tensor, kernel: Int, stride: Int, padding: Padding, max useMax: Bool) -> Tensor {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let g = ConvGeometry(inH: h, inW: w, kernelH: kernel, kernelW: kernel, stride: stride, padding: padding)
        var y = Tensor(shape: [n, g.outH, g.outW, c])
        for b in 0..<n { for oy in 0..<g.outH { for ox in 0..<g.outW { for ch in 0..<c {
            var values = [Float]()
            for ky in 0..<kernel { for kx in 0..<kernel {
                let iy = oy * stride + ky - g.padTop, ix = ox * stride + kx - g.padLeft
                if iy >= 0, iy < h, ix >= 0, ix < w { values.append(x.storage[((b * h + iy) * w + ix) * c + ch]) }
            } }
            y.storage[((b * g.outH + oy) * g.outW + ox) * c + ch] = useMax ? values.max()! : values.reduce(0, +) / Float(values.count)
        } } } }
        return y
    }

    /// Bilinear 64×64 → 224×224 upscale in exact integer arithmetic, the twin of
    /// `upscale_exact` in Tools/tflite_reference.py (bit-identical output).
    static func upscaleExact(_ pixels: [UInt8], width: Int, height: Int, size: Int = 224) -> [UInt8] {
        func taps(_ nIn: Int) -> [(Int, Int, Int)] {
            let d = 2 * size
            return (0..<size).map { o in
                let p = min(max((2 * o + 1) * nIn - size, 0), (nIn - 1) * d)
                let i0 = p / d
                return (i0, min(i0 + 1, nIn - 1), p - i0 * d)
            }
        }
        let d = 2 * size, ty = taps(height), tx = taps(width)
        var out = [UInt8](repeating: 0, count: size * size * 3)
        for (oy, (y0, y1, fy)) in ty.enumerated() { for (ox, (x0, x1, fx)) in tx.enumerated() { for c in 0..<3 {
            func px(_ y: Int, _ x: Int) -> Int { Int(pixels[(y * width + x) * 3 + c]) }
            let top = px(y0, x0) * (d - fx) + px(y0, x1) * fx
            let bottom = px(y1, x0) * (d - fx) + px(y1, x1) * fx
            let v = top * (d - fy) + bottom * fy
            out[(oy * size + ox) * 3 + c] = UInt8((v + d * d / 2) / (d * d))
        } } }
        return out
    }

    static func fnv1a64(_ bytes: [UInt8]) -> String {
        var h: UInt64 = 0xcbf29ce484222325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
