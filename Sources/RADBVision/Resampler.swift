import Foundation
import RADBCore

// MARK: - ResampleKernel

/// Precomputed weights of a separable triangle (bilinear) filter for one axis, with the
/// filter's support widened by the downscale factor — the antialiasing rule Pillow uses for
/// `BILINEAR` — so shrinking averages every source pixel instead of skipping most of them.
///
/// Invariant: output `i` reads source samples `start[i] ..< start[i] + count[i]` (inside the
/// input) with weights `weights[i*taps ..< i*taps + count[i]]`, which are non-negative and sum
/// to 1; the remaining `taps − count[i]` weights are 0. `start` is non-decreasing.
struct ResampleKernel {
    let inputCount: Int
    let outputCount: Int
    let taps: Int
    let start: [Int]
    let count: [Int]
    let weights: [Float]

    init(inputCount: Int, outputCount: Int) {
        precondition(inputCount > 0 && outputCount > 0)
        self.inputCount = inputCount
        self.outputCount = outputCount
        let scale = Double(inputCount) / Double(outputCount)
        let filterScale = max(scale, 1)
        let support = 1.0 * filterScale // triangle filter: radius 1, stretched when shrinking
        let inverseFilterScale = 1 / filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        var start = [Int](repeating: 0, count: outputCount)
        var count = [Int](repeating: 0, count: outputCount)
        var weights = [Float](repeating: 0, count: outputCount * taps)
        weights.withUnsafeMutableBufferPointer { w in
            for i in 0..<outputCount {
                let center = (Double(i) + 0.5) * scale
                let lo = max(Int(center - support + 0.5), 0)
                let n = min(min(Int(center + support + 0.5), inputCount) - lo, taps)
                var total = 0.0
                for j in 0..<n {
                    // Distance from the output centre to the centre of source sample lo + j, in filter units.
                    let x = (Double(lo + j) + 0.5 - center) * inverseFilterScale
                    let v = max(0, 1 - abs(x))
                    w[i * taps + j] = Float(v)
                    total += v
                }
                if n <= 0 || total == 0 { // cannot happen for the triangle filter; kept so the invariant holds
                    start[i] = min(lo, inputCount - 1); count[i] = 1; w[i * taps] = 1
                    continue
                }
                let inverse = Float(1 / total)
                for j in 0..<n { w[i * taps + j] *= inverse }
                start[i] = lo
                count[i] = n
            }
        }
        self.taps = taps
        self.start = start
        self.count = count
        self.weights = weights
    }
}

// MARK: - Resampler

/// Separable resize of RGB8 images. Rows are resampled horizontally into floats as the
/// vertical pass needs them, into a small ring of `taps` rows (a sliding window, since `start`
/// only moves forward), so a resize touches little memory beyond its input and output. Large
/// jobs split output rows across cores; each thread keeps its own window.
enum Resampler {
    typealias Pixel = SIMD4<Float>

    /// Work (multiply-adds) below which splitting across threads costs more than it saves.
    static let parallelThreshold = 1_500_000

    /// Read once: ProcessInfo reads /proc on every call.
    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// - Parameter threads: upper bound on threads; nil = all cores when the job is large enough.
    static func resize(_ image: Image, width outWidth: Int, height outHeight: Int, threads: Int? = nil) -> Image {
        if outWidth == image.width && outHeight == image.height { return image }
        let inW = image.width
        let hKernel = ResampleKernel(inputCount: inW, outputCount: outWidth)
        let vKernel = ResampleKernel(inputCount: image.height, outputCount: outHeight)
        let work = image.height * outWidth * hKernel.taps + outHeight * outWidth * vKernel.taps
        let chunks = work >= parallelThreshold ? max(1, min(threads ?? cores, cores)) : 1
        let stride = outWidth * 3

        return image.pixels.withUnsafeBufferPointer { src in
            let source = SharedInput(src.baseAddress!)
            return Image(width: outWidth, height: outHeight) { dst in
                let out = DisjointRows(dst.baseAddress!) // each chunk writes its own output rows
                Parallel.forEachChunk(of: outHeight, chunks: chunks) { yRange, _ in
                    // Per thread: one padded float source row, the ring of resampled rows, one accumulator row.
                    let ringRows = vKernel.taps
                    // The float row has taps + 1 pixels of zero padding: padding taps and the 4th lane
                    // of the last pixel's 4-float load read it.
                    let rowFloats = (inW + hKernel.taps + 1) * 3
                    let floats = UnsafeMutablePointer<Float>.allocate(capacity: rowFloats)
                    let ring = UnsafeMutablePointer<Float>.allocate(capacity: ringRows * stride)
                    let acc = UnsafeMutablePointer<Float>.allocate(capacity: stride)
                    defer { floats.deallocate(); ring.deallocate(); acc.deallocate() }
                    (floats + inW * 3).initialize(repeating: 0, count: rowFloats - inW * 3)
                    var nextRow = 0 // source rows below this are in the ring (or no longer needed)
                    for y in yRange {
                        let lo = vKernel.start[y], n = vKernel.count[y]
                        nextRow = max(nextRow, lo)
                        while nextRow < lo + n {
                            let line = source.base + nextRow * inW * 3
                            for i in 0..<(inW * 3) { floats[i] = Float(line[i]) } // vectorised widening
                            horizontalPass(floats, kernel: hKernel, into: ring + (nextRow % ringRows) * stride)
                            nextRow += 1
                        }
                        vKernel.weights.withUnsafeBufferPointer { w in
                            let wy = w.baseAddress! + y * vKernel.taps
                            // Simple loops over contiguous floats, which the compiler vectorises.
                            let w0 = wy[0], row0 = ring + (lo % ringRows) * stride
                            for i in 0..<stride { acc[i] = w0 * row0[i] }
                            for k in 1..<max(n, 1) {
                                let wk = wy[k], row = ring + ((lo + k) % ringRows) * stride
                                for i in 0..<stride { acc[i] += wk * row[i] }
                            }
                        }
                        storeRounded(acc, count: stride, into: out.base + y * stride)
                    }
                }
            }
        }
    }

    /// One row: `out[x] = Σ_k w[x,k] · row[start[x] + k]`, written as RGB float triples.
    /// `row` holds RGB float triples followed by zero padding; each tap is one unaligned 4-float
    /// load (R, G, B and the next pixel's R, whose lane is ignored) and one SIMD multiply-add.
    /// Writes exactly the row's 3·outputCount floats.
    @inline(__always)
    private static func horizontalPass(_ row: UnsafeMutablePointer<Float>, kernel: ResampleKernel,
                                       into out: UnsafeMutablePointer<Float>) {
        let taps = kernel.taps
        kernel.weights.withUnsafeBufferPointer { w in
            kernel.start.withUnsafeBufferPointer { start in kernel.count.withUnsafeBufferPointer { count in
                let raw = UnsafeMutableRawPointer(out)
                let src = UnsafeRawPointer(row)
                for x in 0..<kernel.outputCount {
                    // Two accumulators halve the add-latency chain.
                    var even = Pixel.zero, odd = Pixel.zero
                    let s = src + 12 * start[x]
                    let wx = w.baseAddress! + x * taps
                    let n = count[x] // real taps only; the rest have weight 0
                    var k = 0
                    while k + 1 < n {
                        even += wx[k] * s.loadUnaligned(fromByteOffset: 12 * k, as: Pixel.self)
                        odd += wx[k + 1] * s.loadUnaligned(fromByteOffset: 12 * (k + 1), as: Pixel.self)
                        k += 2
                    }
                    if k < n { even += wx[k] * s.loadUnaligned(fromByteOffset: 12 * k, as: Pixel.self) }
                    let acc = even + odd
                    if x + 1 < kernel.outputCount {
                        // 4 floats at 3x: the 4th lands where the next pixel's red will be written.
                        raw.storeBytes(of: acc, toByteOffset: 12 * x, as: Pixel.self)
                    } else {
                        // The last pixel must not write past the row.
                        out[3 * x] = acc.x; out[3 * x + 1] = acc.y; out[3 * x + 2] = acc.z
                    }
                }
            } }
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
}
