// radb-bench-vision — decode + resize throughput of RADBVision on a list of image files.
//
// Usage: radb-bench-vision --list FILES.txt [--threads N] [--size 224] [--no-dct] [--repeat R]
//
// For each file: read, decode (EXIF orientation applied; JPEGs at a reduced DCT scale that
// still covers size×size unless --no-dct), resize to size×size with the antialiasing filter.
// Threads each take every N-th file; each resize runs on its own thread only (threads: 1).
// Prints one line: `images=… failures=… seconds=… images_per_s=…` (best of R passes, after a warm-up).
// Tools/bench_decode.py runs this next to Pillow on the same files.
import Foundation
import RADBVision

struct Options {
    var list = ""
    var threads = 1
    var size = 224
    var dct = true
    var repeats = 3
    /// Decode each file once, then time only the resizes (a development aid).
    var resizeOnly = false
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

/// One pass over all files; returns (seconds, failures).
func pass() -> (Double, Int) {
    let failures = UnsafeMutableBufferPointer<Int>.allocate(capacity: options.threads)
    failures.initialize(repeating: 0)
    defer { failures.deallocate() }
    let start = DispatchTime.now().uptimeNanoseconds
    DispatchQueue.concurrentPerform(iterations: options.threads) { t in
        var i = t
        var failed = 0
        while i < urls.count {
            do {
                let image = try ImageDecoder.decode(contentsOf: urls[i], targetSizeHint: hint)
                let out = image.resized(width: options.size, height: options.size, threads: 1)
                if out.width != options.size { failed += 1 }
            } catch {
                failed += 1
            }
            i += options.threads
        }
        failures[t] = failed
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return (seconds, failures.reduce(0, +))
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
var best = Double.infinity
var failures = 0
for _ in 0..<options.repeats {
    let (s, f) = pass()
    best = min(best, s)
    failures = f
}
print(String(format: "images=%d failures=%d seconds=%.4f images_per_s=%.1f", urls.count, failures, best,
             Double(urls.count) / best))
