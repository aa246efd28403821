import Foundation

// MARK: - ResampleKernel

/// Precomputed weights of a separable triangle (bilinear) filter for one axis, with the
/// filter's support widened by the downscale factor — the antialiasing rule Pillow uses for
/// `BILINEAR` — so shrinking averages every source pixel instead of skipping most of them.
///
/// Invariant: for output `i`, the weights `weights[i*taps ..< i*taps+taps]` apply to source
/// samples `start[i] ..< start[i]+taps`, sum to 1 over the real taps, and are 0 for padding taps
/// (which may point past the last source sample; callers pad their rows).
struct ResampleKernel {
    let inputCount: Int
    let outputCount: Int
    let taps: Int
    let start: [Int]
    let weights: [Float]

    init(inputCount: Int, outputCount: Int) {
        precondition(inputCount > 0 && outputCount > 0)
        self.inputCount = inputCount
        self.outputCount = outputCount
        let scale = Double(inputCount) / Double(outputCount)
        let filterScale = max(scale, 1)
        let support = 1.0 * filterScale // triangle filter: radius 1, stretched when shrinking
        let taps = Int(ceil(support)) * 2 + 1
        var start = [Int](repeating: 0, count: outputCount)
        var weights = [Float](repeating: 0, count: outputCount * taps)
        for i in 0..<outputCount {
            let center = (Double(i) + 0.5) * scale
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), inputCount)
            var w = [Double](repeating: 0, count: taps)
            var total = 0.0
            for j in 0..<min(hi - lo, taps) {
                // Distance from the output centre to the centre of source sample lo + j, in filter units.
                let x = (Double(lo + j) + 0.5 - center) / filterScale
                let v = max(0, 1 - abs(x))
                w[j] = v
                total += v
            }
            if total == 0 { w[0] = 1; total = 1 } // degenerate (cannot happen for triangle; kept for safety)
            start[i] = lo
            for j in 0..<taps { weights[i * taps + j] = Float(w[j] / total) }
        }
        self.taps = taps
        self.start = start
        self.weights = weights
    }

    /// The source range that outputs `range` read (for computing only the intermediate rows needed).
    func sourceSpan(of range: Range<Int>) -> Range<Int> {
        guard let first = range.first, let last = range.last else { return 0..<0 }
        return start[first]..<min(start[last] + taps, inputCount)
    }
}

// MARK: - Resampler

/// Separable resize of RGB8 images: a horizontal pass into a float intermediate (4 lanes per
/// pixel, so each tap is one SIMD multiply-add), then a vertical pass over whole rows. Large
/// jobs split rows across cores.
enum Resampler {
    typealias Pixel = SIMD4<Float>

    /// Work (multiply-adds) below which splitting across threads costs more than it saves.
    static let parallelThreshold = 1_500_000

    /// - Parameter threads: upper bound on threads; nil = all cores when the job is large enough.
    static func resize(_ image: Image, width outWidth: Int, height outHeight: Int, threads: Int? = nil) -> Image {
        if outWidth == image.width && outHeight == image.height { return image }
        let inW = image.width, inH = image.height
        let hKernel = ResampleKernel(inputCount: inW, outputCount: outWidth)
        let vKernel = ResampleKernel(inputCount: inH, outputCount: outHeight)
        let rows = vKernel.sourceSpan(of: 0..<outHeight) // intermediate rows the vertical pass reads
        let work = rows.count * outWidth * hKernel.taps + outHeight * outWidth * vKernel.taps
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let chunks = work >= parallelThreshold ? max(1, min(threads ?? cores, cores)) : 1

        // Intermediate: rows.count rows of outWidth RGB float triples, then vKernel.taps zero rows
        // of padding (read with weight 0 by the last outputs' padding taps).
        let stride = outWidth * 3
        let interCount = (rows.count + vKernel.taps) * stride
        let intermediate = UnsafeMutablePointer<Float>.allocate(capacity: interCount)
        defer { intermediate.deallocate() }
        (intermediate + rows.count * stride).initialize(repeating: 0, count: vKernel.taps * stride)

        image.pixels.withUnsafeBufferPointer { src in
            let source = src.baseAddress!
            parallelFor(count: rows.count, chunks: chunks) { rowRange in
                let padded = UnsafeMutablePointer<Pixel>.allocate(capacity: inW + hKernel.taps)
                defer { padded.deallocate() }
                (padded + inW).initialize(repeating: .zero, count: hKernel.taps)
                for r in rowRange {
                    let y = rows.lowerBound + r
                    let line = source + y * inW * 3
                    for x in 0..<inW {
                        padded[x] = Pixel(Float(line[3 * x]), Float(line[3 * x + 1]), Float(line[3 * x + 2]), 0)
                    }
                    horizontalPass(padded, kernel: hKernel, into: intermediate + r * stride)
                }
            }
        }

        return Image(width: outWidth, height: outHeight) { dst in
            let out = dst.baseAddress!
            let taps = vKernel.taps
            vKernel.weights.withUnsafeBufferPointer { w in
                parallelFor(count: outHeight, chunks: chunks) { yRange in
                    let acc = UnsafeMutablePointer<Float>.allocate(capacity: stride)
                    defer { acc.deallocate() }
                    for y in yRange {
                        let first = intermediate + (vKernel.start[y] - rows.lowerBound) * stride
                        let wy = w.baseAddress! + y * taps
                        // Simple loops over contiguous floats, which the compiler vectorises.
                        let w0 = wy[0]
                        for i in 0..<stride { acc[i] = w0 * first[i] }
                        for k in 1..<max(taps, 1) {
                            let wk = wy[k]
                            if wk == 0 { continue }
                            let row = first + k * stride
                            for i in 0..<stride { acc[i] += wk * row[i] }
                        }
                        storeRounded(acc, count: stride, into: out + y * stride)
                    }
                }
            }
        }
    }

    /// One row: `out[x] = Σ_k w[x,k] · row[start[x] + k]`, written as RGB float triples.
    /// `row` is padded with `taps` zero pixels. Writes exactly the row's 3·outputCount floats.
    @inline(__always)
    private static func horizontalPass(_ row: UnsafeMutablePointer<Pixel>, kernel: ResampleKernel,
                                       into out: UnsafeMutablePointer<Float>) {
        let taps = kernel.taps
        kernel.weights.withUnsafeBufferPointer { w in
            kernel.start.withUnsafeBufferPointer { start in
                let raw = UnsafeMutableRawPointer(out)
                for x in 0..<kernel.outputCount {
                    var acc = Pixel.zero
                    let s = row + start[x]
                    let wx = w.baseAddress! + x * taps
                    for k in 0..<taps { acc += wx[k] * s[k] }
                    if x + 1 < kernel.outputCount {
                        // 4 floats at 3x: the 4th lands where the next pixel's red will be written.
                        raw.storeBytes(of: acc, toByteOffset: 12 * x, as: Pixel.self)
                    } else {
                        // The last pixel must not spill into the next row, which another thread may own.
                        out[3 * x] = acc.x; out[3 * x + 1] = acc.y; out[3 * x + 2] = acc.z
                    }
                }
            }
        }
    }

    /// Rounds floats to bytes. Adding 1.5·2²³ to a float in [0, 255] leaves the rounded integer
    /// in the low mantissa bits, so a bit pattern truncation replaces a (slow, checked) float→int
    /// conversion and the loop vectorises. No clamp is needed: triangle weights are non-negative
    /// and sum to 1, so every output is a convex combination of bytes, within [0, 255] up to
    /// float rounding far below 0.5.
    @inline(__always)
    private static func storeRounded(_ values: UnsafeMutablePointer<Float>, count: Int,
                                     into out: UnsafeMutablePointer<UInt8>) {
        for i in 0..<count {
            out[i] = UInt8(truncatingIfNeeded: (values[i] + 12_582_912).bitPattern)
        }
    }

    /// Runs `body` over `count` items split into `chunks` contiguous ranges, in parallel when chunks > 1.
    static func parallelFor(count: Int, chunks: Int, _ body: (Range<Int>) -> Void) {
        if chunks <= 1 || count < 2 { body(0..<count); return }
        let n = min(chunks, count)
        DispatchQueue.concurrentPerform(iterations: n) { c in
            body((count * c / n)..<(count * (c + 1) / n))
        }
    }
}
