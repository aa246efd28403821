// swift-tools-version: 6.1
// radb — an embedded, persistent vector database for content-based image retrieval.
// Module map: see DESIGN.md §2 (in ../shared). Arrows point to dependencies, never back.
import Foundation
import PackageDescription

/// Numeric targets are compiled with exclusivity checks off; they are measured in release builds.
let numericSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "radb",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "RADB", targets: ["RADB"]),
        .executable(name: "radb", targets: ["radb"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // MARK: - System libraries (Debian packages, see Tools/install-deps.sh)
        .systemLibrary(name: "CLMDB", path: "Sources/CLMDB", pkgConfig: "lmdb",
                       providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CImageCodecs", path: "Sources/CImageCodecs",
                       providers: [.apt(["libturbojpeg0-dev", "libpng-dev", "libwebp-dev"])]),

        // MARK: - Layers of the engine
        .target(name: "RADBVision", dependencies: ["CImageCodecs"], swiftSettings: numericSettings),
        .target(name: "RADBNeural", dependencies: ["CBLAS"], swiftSettings: numericSettings),
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(name: "RADBIndex", dependencies: ["CBLAS", "CKernels"], swiftSettings: numericSettings),
        .target(name: "RADBStore",
                dependencies: ["CLMDB", .product(name: "GRDB", package: "GRDB.swift"),
                               .product(name: "GRDBSQLite", package: "GRDB.swift")],
                resources: [.embedInCode("Schema")]),
        .target(name: "RADBTraining", dependencies: ["RADBNeural", "RADBVision", "RADBIndex"],
                swiftSettings: numericSettings),
        .target(name: "RADB",
                dependencies: ["RADBVision", "RADBNeural", "RADBIndex", "RADBStore", "RADBTraining",
                               .product(name: "Logging", package: "swift-log")],
                resources: [.copy("Resources/Models")]),

        // MARK: - The command-line tool
        .executableTarget(name: "radb",
                          dependencies: ["RADB", "RADBTraining",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")]),

        // MARK: - Test helpers and benchmarks (executables, never timed unit tests)
        .executableTarget(name: "radb-store-probe", dependencies: ["RADBStore"],
                          path: "Sources/Tools/StoreProbe"),
        .executableTarget(name: "radb-bench-store", dependencies: ["RADBStore"],
                          path: "Sources/Benchmarks/StoreBench"),
        .executableTarget(name: "radb-bench-index", dependencies: ["RADBIndex", "RADBStore", "CBLAS"],
                          path: "Sources/Benchmarks/IndexBench"),
        .executableTarget(name: "radb-bench-vision", dependencies: ["RADBVision"],
                          path: "Sources/Benchmarks/VisionBench"),
        .executableTarget(name: "radb-bench-neural", dependencies: ["RADBNeural", "RADBVision", "CBLAS"],
                          path: "Sources/Benchmarks/NeuralBench"),
        .executableTarget(name: "radb-bench-train", dependencies: ["RADBTraining", "RADBNeural"],
                          path: "Sources/Benchmarks/TrainBench"),

        // MARK: - Tests (run with `swift test -c release`; use `package` access, not @testable)
        .testTarget(name: "RADBStoreTests", dependencies: ["RADBStore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "RADBIndexTests", dependencies: ["RADBIndex"]),
        .testTarget(name: "RADBVisionTests", dependencies: ["RADBVision"]),
        .testTarget(name: "RADBNeuralTests", dependencies: ["RADBNeural", "RADBVision"]),
        .testTarget(name: "RADBTrainingTests", dependencies: ["RADBTraining", "RADBNeural", "RADBVision", "RADBIndex"]),
        .testTarget(name: "RADBTests", dependencies: ["RADB", "RADBTraining", "RADBStore"]),
    ],
    swiftLanguageModes: [.v5]
)

// MARK: - Fuzz targets (libFuzzer), only when RADB_FUZZ is set
// `Tools/fuzz.sh` builds them with `RADB_FUZZ=1 swift build --scratch-path .build/fuzz
// -Xswiftc -sanitize=fuzzer,address --product fuzz-…`. They link libFuzzer's driver, so they
// exist only in that build: a normal `swift build` / `swift test` neither sees nor compiles them.
if ProcessInfo.processInfo.environment["RADB_FUZZ"] != nil {
    package.targets += [
        .target(name: "FuzzSupport", path: "Sources/Fuzz/Support"),
        .executableTarget(name: "fuzz-image", dependencies: ["FuzzSupport", "RADBVision", "RADB"],
                          path: "Sources/Fuzz/Image"),
        .executableTarget(name: "fuzz-safetensors", dependencies: ["FuzzSupport", "RADBNeural"],
                          path: "Sources/Fuzz/SafeTensors"),
        .executableTarget(name: "fuzz-npy", dependencies: ["FuzzSupport", "RADB"], path: "Sources/Fuzz/NPY"),
        .executableTarget(name: "fuzz-filter", dependencies: ["FuzzSupport", "RADB"], path: "Sources/Fuzz/Filter"),
        .executableTarget(name: "fuzz-jsonl", dependencies: ["FuzzSupport", "RADB"], path: "Sources/Fuzz/JSONL"),
    ]
}

