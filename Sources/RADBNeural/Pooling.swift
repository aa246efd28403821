import Foundation

// MARK: - Average pooling

/// Average pooling over windows of NHWC tensors. Padded positions are excluded from the count
/// (TensorFlow / TFLite semantics, PyTorch's `count_include_pad=False`).
public struct AvgPool2D: Sendable {
    public var kernel: Int
    public var stride: Int
    public var padding: Padding

    public init(kernel: Int, stride: Int, padding: Padding = .valid) {
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }

    func geometry(_ x: Tensor) -> ConvGeometry {
        ConvGeometry(inH: x.shape[1], inW: x.shape[2], kernelH: kernel, kernelW: kernel, stride: stride, padding: padding)
    }

    /// Visits each output position with its clipped window and element count.
    private func windows(_ g: ConvGeometry, _ n: Int, _ body: (Int, Int, Int, Range<Int>, Range<Int>, Float) -> Void) {
        for img in 0..<n { for oy in 0..<g.outH { for ox in 0..<g.outW {
            let y0 = max(0, oy * stride - g.padTop), y1 = min(g.inH, oy * stride - g.padTop + kernel)
            let x0 = max(0, ox * stride - g.padLeft), x1 = min(g.inW, ox * stride - g.padLeft + kernel)
            body(img, oy, ox, y0..<max(y0, y1), x0..<max(x0, x1), Float(max(1, (y1 - y0) * (x1 - x0))))
        } } }
    }

    /// Shapes: x [N, H, W, C] → y [N, OH, OW, C].
    public func forward(_ x: Tensor) -> Tensor {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let g = geometry(x)
        var y = Tensor(shape: [n, g.outH, g.outW, c])
        windows(g, n) { img, oy, ox, ys, xs, count in
            let o = ((img * g.outH + oy) * g.outW + ox) * c
            for iy in ys { for ix in xs { let i = ((img * h + iy) * w + ix) * c; for ch in 0..<c { y.storage[o + ch] += x.storage[i + ch] } } }
            for ch in 0..<c { y.storage[o + ch] /= count }
        }
        return y
    }

    /// Shapes: x [N, H, W, C], dy [N, OH, OW, C] → dx [N, H, W, C]; each input gets dy / count.
    public func backward(input x: Tensor, gradOutput dy: Tensor) -> Tensor {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let g = geometry(x)
        precondition(dy.shape == [n, g.outH, g.outW, c], "AvgPool2D backward: dy \(dy.shape) does not match")
        var dx = Tensor(shape: x.shape)
        windows(g, n) { img, oy, ox, ys, xs, count in
            let o = ((img * g.outH + oy) * g.outW + ox) * c
            for iy in ys { for ix in xs { let i = ((img * h + iy) * w + ix) * c; for ch in 0..<c { dx.storage[i + ch] += dy.storage[o + ch] / count } } }
        }
        return dx
    }
}

// MARK: - Max pooling

/// Max pooling over windows of NHWC tensors; padded positions never win (they are −∞).
public struct MaxPool2D: Sendable {
    public var kernel: Int
    public var stride: Int
    public var padding: Padding

    public init(kernel: Int, stride: Int, padding: Padding = .valid) {
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }

    /// For each output element, the flat input index of its maximum (first one on ties).
    private func argmax(_ x: Tensor) -> (ConvGeometry, [Int]) {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let g = ConvGeometry(inH: h, inW: w, kernelH: kernel, kernelW: kernel, stride: stride, padding: padding)
        var idx = [Int](repeating: -1, count: n * g.outH * g.outW * c)
        for img in 0..<n { for oy in 0..<g.outH { for ox in 0..<g.outW {
            let o = ((img * g.outH + oy) * g.outW + ox) * c
            for iy in max(0, oy * stride - g.padTop)..<max(0, min(h, oy * stride - g.padTop + kernel)) {
                for ix in max(0, ox * stride - g.padLeft)..<max(0, min(w, ox * stride - g.padLeft + kernel)) {
                    let i = ((img * h + iy) * w + ix) * c
                    for ch in 0..<c where idx[o + ch] < 0 || x.storage[i + ch] > x.storage[idx[o + ch]] { idx[o + ch] = i + ch }
                }
            }
        } } }
        return (g, idx)
    }

    /// Shapes: x [N, H, W, C] → y [N, OH, OW, C].
    public func forward(_ x: Tensor) -> Tensor {
        let (g, idx) = argmax(x)
        return Tensor(shape: [x.shape[0], g.outH, g.outW, x.shape[3]], storage: idx.map { $0 < 0 ? 0 : x.storage[$0] })
    }

    /// Shapes: x [N, H, W, C], dy [N, OH, OW, C] → dx [N, H, W, C]; the gradient goes to each window's maximum.
    public func backward(input x: Tensor, gradOutput dy: Tensor) -> Tensor {
        let (g, idx) = argmax(x)
        precondition(dy.shape == [x.shape[0], g.outH, g.outW, x.shape[3]], "MaxPool2D backward: dy \(dy.shape) does not match")
        var dx = Tensor(shape: x.shape)
        for (o, i) in idx.enumerated() where i >= 0 { dx.storage[i] += dy.storage[o] }
        return dx
    }
}

// MARK: - Global average pooling

/// Mean over all spatial positions: the step from a feature map to an embedding vector.
public enum GlobalAvgPool {
    /// Shapes: x [N, H, W, C] → y [N, C].
    public static func forward(_ x: Tensor) -> Tensor {
        let (n, hw, c) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        var y = Tensor(shape: [n, c])
        x.storage.withUnsafeBufferPointer { xp in
            y.storage.withUnsafeMutableBufferPointer { yp in
                for img in 0..<n { forward(xp.baseAddress! + img * hw * c, positions: hw, channels: c, into: yp.baseAddress! + img * c) }
            }
        }
        return y
    }

    /// Shapes: x [N, H, W, C], dy [N, C] → dx [N, H, W, C] = dy / (H·W) at every position.
    public static func backward(input x: Tensor, gradOutput dy: Tensor) -> Tensor {
        let (n, hw, c) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        precondition(dy.shape == [n, c], "GlobalAvgPool backward: dy \(dy.shape), expected [\(n), \(c)]")
        var dx = Tensor(shape: x.shape)
        let inv = 1 / Float(hw)
        for img in 0..<n { for p in 0..<hw { for ch in 0..<c { dx.storage[(img * hw + p) * c + ch] = dy.storage[img * c + ch] * inv } } }
        return dx
    }

    /// Means of `positions` rows of `channels` values (one image) into `out[channels]`.
    @inlinable
    package static func forward(_ x: UnsafePointer<Float>, positions: Int, channels: Int, into out: UnsafeMutablePointer<Float>) {
        out.update(repeating: 0, count: channels)
        for p in 0..<positions { let row = x + p * channels; for ch in 0..<channels { out[ch] += row[ch] } }
        let inv = 1 / Float(positions)
        for ch in 0..<channels { out[ch] *= inv }
    }
}

// MARK: - Global pooling of the last feature map

/// How the backbone's last feature map [H·W, C] becomes one vector [C] (model metadata `pooling`,
/// `gem_p`): the mean (`avg`, the ImageNet classifier's input) or the generalised mean
/// `(mean_p max(x, ε)^p)^(1/p)` (`gem`, Radenović et al.), which leans towards the strongest
/// activations and is the usual choice for retrieval. p = 1 is the mean; p → ∞ is max pooling.
///
/// `avg+gem` concatenates both ([2C]: the mean, then GeM) so that measuring tools get the two
/// candidates from one forward pass; it is not meant for shipped models.
public enum GlobalPooling: Sendable, Equatable {
    case average
    case generalizedMean(p: Float)
    case averageAndGeneralizedMean(p: Float)

    /// Activations below this are clamped before the power (the reference GeM's `eps`).
    public static let epsilon: Float = 1e-6

    /// Parses metadata `pooling` ("avg" when absent) and `gem_p` (default 3); `source` names the file.
    public init(metadata: [String: String], source: String) throws {
        switch metadata["pooling"] ?? "avg" {
        case "avg": self = .average
        case let kind where kind == "gem" || kind == "avg+gem":
            let raw = metadata["gem_p"] ?? "3"
            guard let p = Float(raw), p.isFinite, p >= 1, p <= 16 else {
                throw ModelError.badRecord(path: source, reason: "gem_p is '\(raw)', expected a number in 1...16")
            }
            self = kind == "gem" ? .generalizedMean(p: p) : .averageAndGeneralizedMean(p: p)
        case let other:
            throw ModelError.badRecord(path: source, reason: "pooling is '\(other)', expected 'avg' or 'gem'")
        }
    }

    /// Width of the pooled vector of a map with `channels` channels.
    public func outputWidth(channels: Int) -> Int {
        if case .averageAndGeneralizedMean = self { return 2 * channels }
        return channels
    }

    /// Pools `positions` rows of `channels` values (one image) into `out[outputWidth(channels:)]`.
    @inlinable
    package func forward(_ x: UnsafePointer<Float>, positions: Int, channels: Int, into out: UnsafeMutablePointer<Float>) {
        switch self {
        case .average:
            GlobalAvgPool.forward(x, positions: positions, channels: channels, into: out)
        case .averageAndGeneralizedMean(let p):
            GlobalAvgPool.forward(x, positions: positions, channels: channels, into: out)
            GlobalPooling.generalizedMean(p: p).forward(x, positions: positions, channels: channels, into: out + channels)
        case .generalizedMean(let p):
            out.update(repeating: 0, count: channels)
            let eps = Self.epsilon
            if p == 3 {
                for q in 0..<positions { let row = x + q * channels; for ch in 0..<channels { let v = max(row[ch], eps); out[ch] += v * v * v } }
            } else {
                for q in 0..<positions { let row = x + q * channels; for ch in 0..<channels { out[ch] += Foundation.pow(max(row[ch], eps), p) } }
            }
            let inv = 1 / Float(positions)
            for ch in 0..<channels { out[ch] = p == 3 ? Foundation.cbrt(out[ch] * inv) : Foundation.pow(out[ch] * inv, 1 / p) }
        }
    }
}
