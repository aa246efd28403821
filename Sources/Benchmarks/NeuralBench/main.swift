// radb-bench-neural: MobileNetV2 forward throughput of RADBNeural, and the machine's sgemm peak.
//
//   swift run -c release radb-bench-neural [--model PATH] [--batches 1,32] [--threads 1,2]
//                                          [--seconds 5] [--json]
//
// Prints images/s for batch 1 and 32 at 1 and 2 threads (radb's own lanes: whole images per lane,
// or one image's fixed row tiles shared by the lanes at batch 1; OpenBLAS single-threaded, as the
// engine always runs it so that results are batch-invariant), and the achieved GFLOP/s (2 × multiply-adds of the network / time) against a measured square
// sgemm peak at the same thread count. Tools/bench_inference.py runs the Python peers.
import CBLAS
import Foundation
import RADBNeural

struct Options {
    var model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("RADB/Resources/Models/mobilenet_v2_1.0_224.safetensors")
    var batches = [1, 32]
    var seconds = 5.0
    var json = false
    var threads = [1, 2]

    init(_ args: [String]) {
        var i = 1
        while i < args.count {
            let value = i + 1 < args.count ? args[i + 1] : ""
            switch args[i] {
            case "--model": model = URL(fileURLWithPath: value); i += 1
            case "--batches": batches = value.split(separator: ",").compactMap { Int($0) }; i += 1
            case "--seconds": seconds = Double(value) ?? seconds; i += 1
            case "--threads": threads = value.split(separator: ",").compactMap { Int($0) }; i += 1
            case "--json": json = true
            default:
                FileHandle.standardError.write("usage: radb-bench-neural [--model PATH] [--batches 1,32] [--threads 1,2] [--seconds S] [--json]\n".data(using: .utf8)!)
                exit(2)
            }
            i += 1
        }
    }
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Runs `body` repeatedly for at least `seconds` (after one warm-up call, at least 3 times) and
/// returns the median seconds per call.
func measure(seconds: Double, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var times = [Double]()
    let start = now()
    while now() - start < seconds || times.count < 3 {
        let t = now(); try body(); times.append(now() - t)
    }
    times.sort()
    return times[times.count / 2]  // median seconds per call
}

/// Multiply-adds of one forward pass, counted from the layer shapes (convolutions + classifier).
func multiplyAdds(_ model: MobileNet, size: Int) -> Double {
    model.multiplyAdds(inH: size, inW: size)
}

func sgemmPeak(threads: Int, seconds: Double) -> Double {
    BLASThreads.set(threads)
    let n = 2048
    let a = [Float](repeating: 1.0 / 3, count: n * n), b = a
    var c = [Float](repeating: 0, count: n * n)
    let t = measure(seconds: seconds) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n), 0, &c, Int32(n))
    }
    return 2 * Double(n * n * n) / t / 1e9
}

let options = Options(CommandLine.arguments)
let model: MobileNet
do { model = try MobileNet(contentsOf: options.model) } catch {
    FileHandle.standardError.write("radb-bench-neural: \(error)\n".data(using: .utf8)!)
    exit(1)
}
let flops = 2 * multiplyAdds(model, size: 224)
var rng = SystemRandomNumberGenerator()
var rows: [[String: Any]] = []
print(String(format: "MobileNetV2 1.0 224: %.1f MFLOP per image (2 × multiply-adds)", flops / 1e6))
print("threads  sgemm-peak GFLOP/s")
var peaks: [Int: Double] = [:]
for threads in options.threads {
    peaks[threads] = sgemmPeak(threads: threads, seconds: min(options.seconds, 3))
    print(String(format: "%7d  %8.1f", threads, peaks[threads]!))
}
print("batch  threads  images/s  ms/batch  GFLOP/s  %peak")
for batch in options.batches {
    let x = Tensor.randomUniform(shape: [batch, 224, 224, 3], in: -1...1, using: &rng)
    for threads in options.threads {
        let seconds = try measure(seconds: options.seconds) { _ = try model.forward(x, workers: threads) }
        let ips = Double(batch) / seconds
        let gflops = flops * ips / 1e9
        print(String(format: "%5d  %7d  %8.1f  %8.2f  %7.1f  %4.0f%%", batch, threads,
                     ips, seconds * 1000, gflops, 100 * gflops / peaks[threads]!))
        rows.append(["batch": batch, "threads": threads, "images_per_s": ips,
                     "gflops": gflops, "sgemm_peak_gflops": peaks[threads]!])
    }
}
if options.json, let data = try? JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys]) {
    print(String(decoding: data, as: UTF8.self))
}
