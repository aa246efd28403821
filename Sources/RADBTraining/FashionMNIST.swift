import Foundation
import RADBNeural

/// Reads the idx files of (Fashion-)MNIST — `apt-get install dataset-fashion-mnist` puts them
/// in /usr/share/datasets/fashion-mnist/ — as flattened pixels in [0, 1].
public enum FashionMNIST {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// `split` is "train" or "t10k". Accepts the files plain or gzip-compressed (`.gz`).
    public static func load(directory: String = defaultDirectory, split: String, limit: Int? = nil) throws -> LabeledFeatures {
        let images = try readIdx(base: "\(directory)/\(split)-images-idx3-ubyte")
        let labels = try readIdx(base: "\(directory)/\(split)-labels-idx1-ubyte")
        guard images.dims.count == 3, labels.dims.count == 1, images.dims[0] == labels.dims[0] else {
            throw DatasetError.malformed(path: directory, reason: "idx files of split \(split) disagree: images \(images.dims), labels \(labels.dims).")
        }
        let n = min(images.dims[0], limit ?? Int.max), pixels = images.dims[1] * images.dims[2]
        let storage = images.bytes.prefix(n * pixels).map { Float($0) / 255 }
        return try LabeledFeatures(features: Tensor(shape: [n, pixels], storage: storage),
                                   labels: labels.bytes.prefix(n).map(Int.init), classNames: classNames,
                                   origin: directory)
    }

    /// Parses an idx file (magic 0x0000_08_NN, big-endian dimensions, unsigned bytes).
    static func readIdx(base: String) throws -> (dims: [Int], bytes: [UInt8]) {
        let data: Data
        if let plain = FileManager.default.contents(atPath: base) {
            data = plain
        } else if FileManager.default.fileExists(atPath: base + ".gz") {
            data = try gunzip(base + ".gz")
        } else {
            throw DatasetError.notFound(path: base + "[.gz] (install with: apt-get install -y dataset-fashion-mnist)")
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 4, bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08 else {
            throw DatasetError.malformed(path: base, reason: "not an unsigned-byte idx file (bad magic number).")
        }
        let rank = Int(bytes[3])
        guard bytes.count >= 4 + 4 * rank else { throw DatasetError.malformed(path: base, reason: "truncated header.") }
        let dims = (0..<rank).map { r in (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * r + $1]) } }
        let start = 4 + 4 * rank, total = dims.reduce(1, *)
        guard bytes.count - start == total else {
            throw DatasetError.malformed(path: base, reason: "holds \(bytes.count - start) values, header says \(total).")
        }
        return (dims, Array(bytes[start...]))
    }

    /// Decompresses with the system `gzip` (present on every Debian system); keeps zlib out of the build.
    static func gunzip(_ path: String) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-dc", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch {
            throw DatasetError.malformed(path: path, reason: "could not run /bin/gzip to decompress it (\(error)). Decompress it with gunzip.")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw DatasetError.malformed(path: path, reason: "gzip failed with status \(process.terminationStatus); the file is corrupt.")
        }
        return data
    }
}
