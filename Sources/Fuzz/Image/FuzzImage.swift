import FuzzSupport
import Foundation
import RADB
import RADBVision

// MARK: - fuzz-image

/// Decodes untrusted bytes the way `Database.ingest` does, and checks the promises it relies on.
///
/// Per input, as in `Database+Ingest.swift`: the format is sniffed and the header read
/// (`ImageDecoder.decodingCost`, which also reads EXIF orientation); a file whose cost is over
/// the default decode budget is refused; then `ImageDecoder.size(of:)` and
/// `ImageDecoder.decode(_:targetSizeHint:)` with the default model's hint, and the picture is
/// preprocessed into the network input (`Embedder.preprocess`: resize, crop, normalise).
/// Typed errors are the expected outcome for most inputs; a crash, a hang, an allocation beyond
/// libFuzzer's limit, or a decoded picture larger than its cost said is a finding.
enum ImageIngestFuzz {
    /// The default model (the one `radb init` uses): its input size and resize rule.
    static let embedder: Embedder = {
        do { return try Embedder() } catch { fatalError("fuzz-image: cannot load the packaged model: \(error)") }
    }()
    static let budget = IngestOptions.defaultDecodeMemoryBudget

    static func run(_ bytes: UnsafeRawBufferPointer) {
        let hint = ImageSize(width: embedder.resizeShorterSide, height: embedder.resizeShorterSide)
        let source = "fuzz-input"
        guard let cost = try? ImageDecoder.decodingCost(of: bytes, source: source, targetSizeHint: hint),
              cost.peakBytes <= budget else { return }
        guard let size = try? ImageDecoder.size(of: bytes, source: source) else {
            fatalError("decodingCost read a header that size(of:) then refused")
        }
        precondition(size == cost.declaredSize, "size(of:) \(size) differs from decodingCost \(cost.declaredSize)")
        guard let image = try? ImageDecoder.decode(bytes, source: source, targetSizeHint: hint) else { return }
        // The budget is only sound if decoding never yields more pixels than the header declared.
        precondition(image.width * image.height * 3 <= cost.peakBytes,
                     "decoded \(image.width)x\(image.height) but the cost was \(cost.peakBytes) bytes for \(size)")
        if cost.format != .jpeg {
            precondition(image.width == size.width && image.height == size.height,
                         "decoded \(image.width)x\(image.height), header said \(size)")
        }
        let s = embedder.inputSize
        var input = [Float](repeating: 0, count: s * s * 3)
        do {
            try input.withUnsafeMutableBufferPointer { try embedder.preprocess(image, into: $0) }
        } catch {
            fatalError("preprocess threw for a decoded \(image.width)x\(image.height) picture: \(error)")
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImageTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    ImageIngestFuzz.run(FuzzDriver.bytes(data, size))
    return 0
}

@main
enum FuzzImageMain {
    static func main() {
        _ = ImageIngestFuzz.embedder // load the model before the first input is timed
        FuzzDriver.run(fuzzImageTestOneInput)
    }
}
