import Dispatch
import Synchronization
import Foundation
import RADBCore
import RADBNeural
import RADBVision

/// Where the bytes of one picture come from.
public enum ImageSource: Sendable {
    /// A file, read when the batch is prepared.
    case file(URL)
    /// Bytes already read (ingest hashes files before it decodes them); `name` names them in errors.
    case bytes(Data, name: String)

    /// The path or name that errors and reports give for this picture.
    public var name: String {
        switch self {
        case .file(let url): return url.path
        case .bytes(_, let name): return name
        }
    }
}

/// A file that could not be read at all (missing, not a regular file, no permission). Its
/// description is the reason alone: reports list the path beside it.
public struct UnreadableFile: Error, LocalizedError, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { reason }
    public var errorDescription: String? { reason }
}

/// A batch of pictures decoded and turned into network inputs, ready for the backbone.
public struct PreparedBatch: Sendable {
    /// Network inputs of the pictures that decoded, one `ImagePreprocessing.inputCount` row each,
    /// in source order.
    public var inputs: [Float]
    /// For each source: its row in `inputs`, or nil when it failed.
    public var rows: [Int?]
    /// For each source: the size its file declares (upright), when it could be read.
    public var sizes: [ImageSize?]
    /// For each source that failed: why (the decoder's error).
    public var failures: [Error?]

    public init(inputs: [Float], rows: [Int?], sizes: [ImageSize?], failures: [Error?]) {
        self.inputs = inputs
        self.rows = rows
        self.sizes = sizes
        self.failures = failures
    }

    /// A batch of no pictures.
    public static let empty = PreparedBatch(inputs: [], rows: [], sizes: [], failures: [])

    /// Number of pictures with a row in `inputs`.
    public var decodedCount: Int { rows.lazy.compactMap { $0 }.count }
}

/// The one road from picture files to backbone features: decode on every core (large JPEGs at a
/// reduced DCT scale, within a memory budget), preprocess as the model record says, and run the
/// backbone — with batch k+1 decoded while batch k runs through the network.
///
/// Why it exists: ingest, `Embedder.embed(files:)`, training on a folder and evaluation all need
/// this, and each used to carry its own copy of it. Features do not depend on the batch (the
/// engine runs every picture on its own fixed GEMM shapes), so how callers batch changes speed
/// only, never a vector.
public struct FeaturePipeline: Sendable {
    /// The network; its record holds the preprocessing.
    public let model: MobileNet
    public let preprocessing: ImagePreprocessing
    /// Peak bytes that decoding one batch may take (`DecodingCost.peakBytes` summed): a picture
    /// over it alone fails with `ImageError.overMemoryBudget`; the rest decode in groups within it.
    public var memoryBudget: Int

    /// The default `memoryBudget`: 1 GiB, which admits a 150-megapixel PNG and any JPEG up to
    /// the decoder's 200-megapixel limit (JPEGs decode at a reduced scale).
    public static let defaultMemoryBudget = 1 << 30

    public init(model: MobileNet, memoryBudget: Int = FeaturePipeline.defaultMemoryBudget) {
        self.model = model
        preprocessing = ImagePreprocessing(record: model.record)
        self.memoryBudget = max(1, memoryBudget)
    }

    /// Width of one feature row.
    public var featureDim: Int { model.featureDim }

    // MARK: - Stage 1: decode and preprocess

    /// Decodes `sources` on every core and writes their network inputs. Each header says what
    /// decoding will cost before any pixel memory is allocated, so a batch of small files that
    /// declare huge pictures cannot exhaust memory: decoding runs in groups whose costs add up to
    /// at most `memoryBudget`, and decoded pictures are freed as soon as they are preprocessed.
    public func prepare(_ sources: [ImageSource]) -> PreparedBatch {
        let n = sources.count
        var sizes = [ImageSize?](repeating: nil, count: n)
        var failures = [Error?](repeating: nil, count: n)
        var bytes = [Data?](repeating: nil, count: n)
        var costs = [Int](repeating: 0, count: n)
        let hint = preprocessing.decodeHint
        // Read and price every source (headers only; files are read on every core).
        readAndPrice(sources, hint: hint, bytes: &bytes, sizes: &sizes, costs: &costs, failures: &failures)
        // Decode in groups within the budget; rows in source order.
        var rows = [Int?](repeating: nil, count: n)
        var inputs = [Float]()
        var group: [Int] = [], groupCost = 0
        func flush() {
            guard !group.isEmpty else { return }
            decode(group, sources: sources, bytes: &bytes, failures: &failures, appendingTo: &inputs, rows: &rows)
            group = []
            groupCost = 0
        }
        for i in 0..<n where failures[i] == nil {
            if !group.isEmpty && groupCost + costs[i] > memoryBudget { flush() }
            group.append(i)
            groupCost += costs[i]
        }
        flush()
        return PreparedBatch(inputs: inputs, rows: rows, sizes: sizes, failures: failures)
    }

    private func readAndPrice(_ sources: [ImageSource], hint: ImageSize, bytes: inout [Data?], sizes: inout [ImageSize?],
                              costs: inout [Int], failures: inout [Error?]) {
        let budget = memoryBudget
        bytes.withUnsafeMutableBufferPointer { bytesBuffer in
            sizes.withUnsafeMutableBufferPointer { sizesBuffer in
                costs.withUnsafeMutableBufferPointer { costsBuffer in
                    failures.withUnsafeMutableBufferPointer { failuresBuffer in
                        let (bytes, sizes, costs, failures) = (bytesBuffer, sizesBuffer, costsBuffer, failuresBuffer)
                        // Iteration i writes element i of each buffer only.
                        Parallel.forEachDisjoint(sources.count) { i in
                            do {
                                let data: Data
                                switch sources[i] {
                                case .file(let url): data = try Self.readRegularFile(url)
                                case .bytes(let d, _): data = d
                                }
                                let name = sources[i].name
                                let cost = try ImageDecoder.decodingCost(of: data, name: name, targetSizeHint: hint)
                                if cost.peakBytes > budget {
                                    throw ImageError.overMemoryBudget(source: name, width: cost.declaredSize.width,
                                                                      height: cost.declaredSize.height,
                                                                      peakBytes: cost.peakBytes, budgetBytes: budget)
                                }
                                sizes[i] = try ImageDecoder.size(of: data, name: name)
                                costs[i] = cost.peakBytes
                                bytes[i] = data
                            } catch {
                                failures[i] = error
                            }
                        }
                    }
                }
            }
        }
    }

    /// The bytes of a regular file. A FIFO or device would block the read or be misreported as a
    /// permission problem, so anything else fails with `UnreadableFile`.
    public static func readRegularFile(_ url: URL) throws -> Data {
        var info = stat()
        if stat(url.path, &info) != 0 {
            throw UnreadableFile(path: url.path, reason: "cannot read the file (\(String(cString: strerror(errno)))); check that it exists and is readable")
        }
        if (info.st_mode & S_IFMT) != S_IFREG {
            throw UnreadableFile(path: url.path, reason: "cannot read the file: \(ImageDecoder.notRegularFileReason(info.st_mode))")
        }
        do { return try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw UnreadableFile(path: url.path, reason: "cannot read the file (\((error as NSError).localizedDescription)); check permissions")
        }
    }

    /// Decodes and preprocesses `group` on every core, appending their rows to `inputs`.
    private func decode(_ group: [Int], sources: [ImageSource], bytes: inout [Data?], failures: inout [Error?],
                        appendingTo inputs: inout [Float], rows: inout [Int?]) {
        let size = preprocessing.inputCount
        let preprocessing = self.preprocessing
        let hint = preprocessing.decodeHint
        var staged = [Float](repeating: 0, count: group.count * size)
        var ok = [Bool](repeating: false, count: group.count)
        staged.withUnsafeMutableBufferPointer { stagedBuffer in
            ok.withUnsafeMutableBufferPointer { okBuffer in
                bytes.withUnsafeMutableBufferPointer { bytesBuffer in
                    failures.withUnsafeMutableBufferPointer { failuresBuffer in
                        let (staged, ok, bytes, failures) = (stagedBuffer, okBuffer, bytesBuffer, failuresBuffer)
                        // Iteration j writes row j of `staged`, ok[j], and entry group[j] of
                        // `bytes` and `failures` (group holds distinct indices).
                        Parallel.forEachDisjoint(group.count) { j in
                            let i = group[j]
                            defer { bytes[i] = nil }
                            guard let data = bytes[i] else { return }
                            do {
                                let image = try ImageDecoder.decode(data, name: sources[i].name, targetSizeHint: hint)
                                try preprocessing.write(image, into: UnsafeMutableBufferPointer(rebasing: staged[(j * size)..<((j + 1) * size)]))
                                ok[j] = true
                            } catch {
                                failures[i] = error
                            }
                        }
                    }
                }
            }
        }
        inputs.reserveCapacity(inputs.count + ok.count(where: { $0 }) * size)
        for (j, i) in group.enumerated() where ok[j] {
            rows[i] = inputs.count / size
            inputs.append(contentsOf: staged[(j * size)..<((j + 1) * size)])
        }
    }

    // MARK: - Stage 2: the backbone

    /// Backbone features of a prepared batch, one row per source: nil where the source failed to
    /// decode or the network produced non-finite values.
    public func features(of batch: PreparedBatch) throws -> [[Float]?] {
        let n = batch.decodedCount
        guard n > 0 else { return batch.rows.map { _ in nil } }
        let s = preprocessing.inputSize
        let f = try model.forward(Tensor(shape: [n, s, s, 3], storage: batch.inputs), logits: false).features
        let d = f.shape[1]
        return batch.rows.map { row in
            guard let row else { return nil }
            let values = Array(f.storage[(row * d)..<((row + 1) * d)])
            return values.allSatisfy(\.isFinite) ? values : nil
        }
    }

    /// Backbone features of decoded pictures, in order (nil where the network produced
    /// non-finite values).
    public func features(of images: [Image]) throws -> [[Float]?] {
        let size = preprocessing.inputCount
        var inputs = [Float](repeating: 0, count: images.count * size)
        try inputs.withUnsafeMutableBufferPointer { buffer in
            for (j, image) in images.enumerated() {
                try preprocessing.write(image, into: UnsafeMutableBufferPointer(rebasing: buffer[(j * size)..<((j + 1) * size)]))
            }
        }
        let batch = PreparedBatch(inputs: inputs, rows: images.indices.map { $0 }, sizes: images.map { _ in nil },
                                  failures: images.map { _ in nil })
        return try features(of: batch)
    }

    // MARK: - Both stages, overlapped

    /// Backbone features of `sources` in input order, `batchSize` at a time, each batch decoded
    /// while the previous one runs through the network. `deliver(range, batch, features)` is
    /// called on the calling thread, in order, once per batch (`features` as `features(of:)`
    /// returns them); it returns false to stop early.
    public func run(_ sources: [ImageSource], batchSize: Int,
                    deliver: (_ range: Range<Int>, _ batch: PreparedBatch, _ features: [[Float]?]) throws -> Bool) throws {
        let batch = max(1, batchSize)
        let ranges = stride(from: 0, to: sources.count, by: batch).map { $0..<min(sources.count, $0 + batch) }
        try Pipelined.run(ranges.count, prepare: { k in self.prepare(Array(sources[ranges[k]])) }) { k, prepared in
            try deliver(ranges[k], prepared, try self.features(of: prepared))
        }
    }
}

/// Two-stage software pipelining: while `consume` handles item k on the calling thread,
/// `prepare` makes item k+1 on another.
///
/// Why it exists: decoding is parallel and memory-bound, inference is compute-bound; overlapping
/// them keeps both cores busy. Every caller that embeds files goes through this one loop.
public enum Pipelined {
    /// Calls `prepare(k)` for k in `0..<count` (k+1 in the background while `consume(k, …)` runs)
    /// and `consume(k, prepared)` in order on the calling thread. `consume` returns false to stop;
    /// the call waits for any background `prepare` before it returns or throws.
    public static func run<Prepared: Sendable>(_ count: Int, prepare: @escaping @Sendable (Int) -> Prepared,
                                               consume: (Int, Prepared) throws -> Bool) throws {
        guard count > 0 else { return }
        var pending = Background(prepare, 0)
        for k in 0..<count {
            let prepared = pending.wait()
            if k + 1 < count { pending = Background(prepare, k + 1) }
            let keepGoing: Bool
            do { keepGoing = try consume(k, prepared) } catch {
                if k + 1 < count { _ = pending.wait() }
                throw error
            }
            if !keepGoing {
                if k + 1 < count { _ = pending.wait() }
                return
            }
        }
    }

    /// One `prepare` call running on a global queue.
    private struct Background<Prepared: Sendable> {
        private let group = DispatchGroup()
        private let result = ResultSlot<Prepared>()

        init(_ prepare: @escaping @Sendable (Int) -> Prepared, _ k: Int) {
            let result = self.result
            DispatchQueue.global(qos: .userInitiated).async(group: group) { result.set(prepare(k)) }
        }

        func wait() -> Prepared {
            group.wait()
            return result.take()
        }
    }
}

/// A value one thread sets and another takes after a `DispatchGroup` wait. Sendable by
/// construction: the value lives in a `Mutex`.
private final class ResultSlot<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)
    func set(_ v: Value) { value.withLock { $0 = v } }
    func take() -> Value { value.withLock { $0! } }
}
