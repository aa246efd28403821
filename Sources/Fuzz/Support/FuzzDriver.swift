#if canImport(Glibc)
import Glibc
#endif

// MARK: - FuzzDriver

/// libFuzzer's entry point for a fuzz target built as a SwiftPM executable.
///
/// SwiftPM links an executable's `main` to the module's own entry point, so libFuzzer's `main`
/// is never used; each target's `@main` hands its argument vector and its
/// `LLVMFuzzerTestOneInput` to `LLVMFuzzerRunDriver`, which then behaves exactly like a
/// libFuzzer binary (`fuzz-image CORPUS -max_total_time=60`, `fuzz-image crash-…` to replay).
/// Only built with `-sanitize=fuzzer` (see `Tools/fuzz.sh`), which links libFuzzer.
public enum FuzzDriver {
    /// One input: the bytes libFuzzer generated. Return 0; crash (trap) on a finding.
    public typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    /// Runs libFuzzer with the process's arguments and exits with its status.
    public static func run(_ test: TestOneInput) -> Never {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, test))
    }

    /// The input as a buffer (libFuzzer may pass a null pointer for the empty input).
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeRawBufferPointer {
        guard let data, size > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: data, count: size)
    }
}

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ test: FuzzDriver.TestOneInput) -> CInt
