// radb-bench-vision — decode + resize throughput of RADBVision on a list of image files.
//
// Usage: radb-bench-vision --list FILES.txt [--threads N] [--size 224] [--no-dct] [--repeat R]
//                           [--resize-only] [--decode-only] [--dump DIR]
//
// For each file: read, decode (EXIF orientation applied; JPEGs at a reduced DCT scale that
// still covers size×size unless --no-dct), resize to size×size with the antialiasing filter.
// --decode-only skips the resize and decodes at full size (no DCT scaling): decode speed per
// format, as Tools/bench_formats.py compares with Pillow. Threads each take every N-th file; each resize runs on its own thread only (threads: 1).
// Prints one line: `images=… failures=… seconds=… images_per_s=… cpu_seconds=…` (best of R passes after a
// warm-up; CPU = user + system time of the process during the pass with the least CPU).
// Tools/bench_decode.py runs this next to Pillow on the same files.
import Foundation
import RADBCore
import RADBVision

struct Options {
    var list = ""
    var threads = 1
    var size = 224
    var dct = true
    var repeats = 3
    /// Decode each file once, then time only the resizes (a development aid).
    var resizeOnly = false
    /// Time the decode alone, at full size (`--decode-only`).
    var decodeOnly = false
    /// Write each output as DIR/<index>.png (to compare pixels with a peer) and exit.
    var dump: String?
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let a = args.next() {
        switch a {
        case "--list": o.list = args.next() ?? ""
        case "--threads": o.threads = Int(args.next() ?? "") ?? 0
        case "--size": o.size = Int(args.next() ?? "") ?? 0
        case "--no-dct": o.dct = false
        case "--resize-only": o.resizeOnly = true
        case "--decode-only": o.decodeOnly = true; o.dct = false
        case "--dump": o.dump = args.next()
        case "--repeat": o.repeats = Int(args.next() ?? "") ?? 0
        default:
            FileHandle.standardError.write("unknown argument \(a)\n".data(using: .utf8)!)
            exit(2)
        }
    }
    guard !o.list.isEmpty, o.threads > 0, o.size > 0, o.repeats > 0 else {
        FileHandle.standardError.write("usage: radb-bench-vision --list FILES.txt [--threads N] [--size 224] [--no-dct] [--repeat R]\n".data(using: .utf8)!)
        exit(2)
    }
    return o
}

let options = parseOptions()
guard let listText = try? String(contentsOfFile: options.list, encoding: .utf8) else {
    FileHandle.standardError.write("\(options.list): cannot read the file list\n".data(using: .utf8)!)
    exit(1)
}
let urls = listText.split(separator: "\n").map { URL(fileURLWithPath: String($0)) }
let hint = options.dct ? ImageSize(width: options.size, height: options.size) : nil

/// User + system CPU seconds of this process so far (all threads).
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// One pass over all files; returns (wall seconds, failures).
func pass() -> (Double, Int) {
    let buffer = UnsafeMutableBufferPointer<Int>.allocate(capacity: options.threads)
    buffer.initialize(repeating: 0)
    defer { buffer.deallocate() }
    let failures = DisjointRows(buffer.baseAddress!) // thread t writes element t only
    let start = DispatchTime.now().uptimeNanoseconds
    Parallel.forEach(options.threads) { t in
        var i = t
        var failed = 0
        while i < urls.count {
            do {
                let image = try ImageDecoder.decode(contentsOf: urls[i], targetSizeHint: hint)
                if options.decodeOnly {
                    if image.width == 0 { failed += 1 }
                } else {
                    let out = image.resized(width: options.size, height: options.size, threads: 1)
                    if out.width != options.size { failed += 1 }
                }
            } catch {
                failed += 1
            }
            i += options.threads
        }
        failures[t] = failed
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return (seconds, buffer.reduce(0, +))
}

if let dir = options.dump {
    for (i, url) in urls.enumerated() {
        do {
            let out = try ImageDecoder.decode(contentsOf: url, targetSizeHint: hint).resized(width: options.size, height: options.size)
            try PNGEncoder.write(out, to: URL(fileURLWithPath: dir).appendingPathComponent("\(i).png"))
        } catch {
            print("\(error)")
        }
    }
    exit(0)
}

if options.resizeOnly {
    let images = urls.compactMap { try? ImageDecoder.decode(contentsOf: $0, targetSizeHint: hint) }
    let start = DispatchTime.now().uptimeNanoseconds
    var checksum = 0
    for image in images { checksum &+= Int(image.resized(width: options.size, height: options.size, threads: 1).pixels[0]) }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    print(String(format: "resize-only images=%d seconds=%.4f us_per_image=%.1f checksum=%d", images.count, seconds,
                 seconds / Double(images.count) * 1e6, checksum))
    exit(0)
}

_ = pass() // warm-up: file cache, page faults
var best = Double.infinity, bestCPU = Double.infinity
var failures = 0
for _ in 0..<options.repeats {
    let cpuStart = cpuSeconds()
    let (s, f) = pass()
    best = min(best, s)
    bestCPU = min(bestCPU, cpuSeconds() - cpuStart)
    failures = f
}
print(String(format: "images=%d failures=%d seconds=%.4f images_per_s=%.1f cpu_seconds=%.4f", urls.count, failures,
             best, Double(urls.count) / best, bestCPU))
