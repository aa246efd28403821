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

    static func resize(_ image: Image, width outWidth: Int, height outHeight: Int) -> Image {
        if outWidth == image.width && outHeight == image.height { return image }
        let inW = image.width, inH = image.height
        let hKernel = ResampleKernel(inputCount: inW, outputCount: outWidth)
        let vKernel = ResampleKernel(inputCount: inH, outputCount: outHeight)
        let rows = vKernel.sourceSpan(of: 0..<outHeight) // intermediate rows the vertical pass reads
        let work = rows.count * outWidth * hKernel.taps + outHeight * outWidth * vKernel.taps
        let chunks = work >= parallelThreshold ? max(1, ProcessInfo.processInfo.activeProcessorCount) : 1

        // Intermediate: rows.count rows of outWidth pixels, plus vKernel.taps zero rows of padding.
        let interCount = (rows.count + vKernel.taps) * outWidth
        let intermediate = UnsafeMutablePointer<Pixel>.allocate(capacity: interCount)
        defer { intermediate.deallocate() }
        intermediate.initialize(repeating: .zero, count: interCount)

        image.pixels.withUnsafeBufferPointer { src in
            let source = src.baseAddress!
            parallelFor(count: rows.count, chunks: chunks) { rowRange in
                let padded = UnsafeMutablePointer<Pixel>.allocate(capacity: inW + hKernel.taps)
                defer { padded.deallocate() }
                padded.initialize(repeating: .zero, count: inW + hKernel.taps)
                for r in rowRange {
                    let y = rows.lowerBound + r
                    let line = source + y * inW * 3
                    for x in 0..<inW {
                        padded[x] = Pixel(Float(line[3 * x]), Float(line[3 * x + 1]), Float(line[3 * x + 2]), 0)
                    }
                    horizontalPass(padded, kernel: hKernel, into: intermediate + r * outWidth)
                }
            }
        }

        return Image(width: outWidth, height: outHeight) { dst in
            let out = dst.baseAddress!
            parallelFor(count: outHeight, chunks: chunks) { yRange in
                let acc = UnsafeMutablePointer<Pixel>.allocate(capacity: outWidth)
                defer { acc.deallocate() }
                for y in yRange {
                    acc.initialize(repeating: .zero, count: outWidth)
                    let first = vKernel.start[y] - rows.lowerBound
                    vKernel.weights.withUnsafeBufferPointer { w in
                        for k in 0..<vKernel.taps {
                            let weight = w[y * vKernel.taps + k]
                            if weight == 0 { continue }
                            let row = intermediate + (first + k) * outWidth
                            for x in 0..<outWidth { acc[x] += weight * row[x] }
                        }
                    }
                    store(acc, count: outWidth, into: out + y * outWidth * 3)
                }
            }
        }
    }

    /// One row: `out[x] = Σ_k w[x,k] · row[start[x] + k]`. `row` is padded with `taps` zero pixels.
    @inline(__always)
    private static func horizontalPass(_ row: UnsafeMutablePointer<Pixel>, kernel: ResampleKernel,
                                       into out: UnsafeMutablePointer<Pixel>) {
        let taps = kernel.taps
        kernel.weights.withUnsafeBufferPointer { w in
            kernel.start.withUnsafeBufferPointer { start in
                for x in 0..<kernel.outputCount {
                    var acc = Pixel.zero
                    let s = row + start[x]
                    let wx = w.baseAddress! + x * taps
                    for k in 0..<taps { acc += wx[k] * s[k] }
                    out[x] = acc
                }
            }
        }
    }

    /// Rounds and clamps accumulated pixels to RGB8.
    @inline(__always)
    private static func store(_ acc: UnsafeMutablePointer<Pixel>, count: Int, into out: UnsafeMutablePointer<UInt8>) {
        let lo = Pixel(repeating: 0), hi = Pixel(repeating: 255), half = Pixel(repeating: 0.5)
        for x in 0..<count {
            let v = (acc[x] + half).clamped(lowerBound: lo, upperBound: hi)
            out[3 * x] = UInt8(v.x)
            out[3 * x + 1] = UInt8(v.y)
            out[3 * x + 2] = UInt8(v.z)
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
