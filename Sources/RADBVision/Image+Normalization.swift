// MARK: - Model input tensors

extension Image {
    /// Number of floats `normalized` writes: `height * width * 3` (NHWC for one image).
    public var tensorElementCount: Int { width * height * 3 }

    /// Writes this picture as floats in HWC order (one NHWC batch slot):
    /// `out[(y*width + x)*3 + c] = Float(pixel[c]) * scale[c] + offset[c]`.
    ///
    /// Common settings: [0, 1] → scale 1/255, offset 0; [−1, 1] (MobileNet) → scale 2/255,
    /// offset −1; ImageNet mean/std on [0, 1] data → scale 1/(255·std[c]), offset −mean[c]/std[c].
    /// Throws `ImageError.invalidArgument` unless scale and offset have 3 finite values each and
    /// the buffer holds at least `tensorElementCount` floats.
    public func normalized(into buffer: UnsafeMutableBufferPointer<Float>, scale: [Float], offset: [Float]) throws {
        guard scale.count == 3, offset.count == 3 else {
            throw ImageError.invalidArgument("normalized: scale and offset need 3 values (R, G, B); got \(scale.count) and \(offset.count)")
        }
        guard (scale + offset).allSatisfy(\.isFinite) else {
            throw ImageError.invalidArgument("normalized: scale \(scale) and offset \(offset) must be finite")
        }
        guard buffer.count >= tensorElementCount, let out = buffer.baseAddress else {
            throw ImageError.invalidArgument("normalized: buffer holds \(buffer.count) floats, \(width)x\(height)x3 needs \(tensorElementCount)")
        }
        let s0 = scale[0], s1 = scale[1], s2 = scale[2]
        let o0 = offset[0], o1 = offset[1], o2 = offset[2]
        pixels.withUnsafeBufferPointer { p in
            for i in 0..<(width * height) {
                out[3 * i] = Float(p[3 * i]) * s0 + o0
                out[3 * i + 1] = Float(p[3 * i + 1]) * s1 + o1
                out[3 * i + 2] = Float(p[3 * i + 2]) * s2 + o2
            }
        }
    }

    /// `normalized(into:scale:offset:)` into a new array of `tensorElementCount` floats.
    public func normalized(scale: [Float], offset: [Float]) throws -> [Float] {
        var out = [Float](repeating: 0, count: tensorElementCount)
        try out.withUnsafeMutableBufferPointer { try normalized(into: $0, scale: scale, offset: offset) }
        return out
    }
}
