import FuzzSupport
import RADBNeural

// MARK: - fuzz-safetensors

/// Parses untrusted bytes as a safetensors weight file the way model loading does
/// (`Embedder(modelURL:)`, `radb init --model`): the header and every tensor's extent
/// (`SafeTensorsFile`), each tensor converted to `Float` and copied raw, then the model record
/// and the MobileNet layers built from the file (the network is validated, not run).
enum SafeTensorsFuzz {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let file = try? SafeTensorsFile(bytes: Array(bytes), source: "fuzz-input") else { return }
        for name in file.tensorNames {
            guard let entry = file.entry(name) else { fatalError("tensorNames lists '\(name)' but entry(_:) has none") }
            if let t = try? file.tensor(name) {
                precondition(t.shape == entry.shape, "tensor '\(name)' has shape \(t.shape), header says \(entry.shape)")
            }
            _ = try? file.raw(name)
        }
        _ = try? ModelRecord(metadata: file.metadata, source: file.source)
        _ = try? MobileNet(file: file)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensorsTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    SafeTensorsFuzz.run(FuzzDriver.bytes(data, size))
    return 0
}

@main
enum FuzzSafeTensorsMain {
    static func main() { FuzzDriver.run(fuzzSafeTensorsTestOneInput) }
}
