// swift-tools-version: 6.2
// radb — an embedded, persistent vector database for content-based image retrieval.
// Module map: see DESIGN.md §2 (in ../shared). Arrows point to dependencies, never back.
import Foundation
import PackageDescription

/// Every radb target treats compiler warnings as errors (a setting SwiftPM ignores when radb is
/// someone else's dependency, so it never breaks their build).
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "radb",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RADB", targets: ["RADB"]),
        .executable(name: "radb", targets: ["radb"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // Documentation only (`swift package generate-documentation`, Tools/build_docs.sh); no target depends on it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // MARK: - System libraries (Debian packages, see Tools/install-deps.sh)
        .systemLibrary(name: "CLMDB", path: "Sources/CLMDB", pkgConfig: "lmdb",
                       providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CImageCodecs", path: "Sources/CImageCodecs",
                       providers: [.apt(["libturbojpeg0-dev", "libpng-dev", "libwebp-dev", "libheif-dev",
                                          "libtiff-dev", "libgif-dev", "libraw-dev"])]),

        // MARK: - Layers of the engine
        .target(name: "RADBCore", swiftSettings: strict),
        .target(name: "RADBVision", dependencies: ["RADBCore", "CImageCodecs"], swiftSettings: strict),
        .target(name: "RADBNeural", dependencies: ["RADBCore", "CBLAS"], swiftSettings: strict),
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(name: "RADBEmbedding", dependencies: ["RADBCore", "RADBVision", "RADBNeural"], swiftSettings: strict),
        .target(name: "RADBIndex", dependencies: ["RADBCore", "CBLAS", "CKernels"], swiftSettings: strict),
        .target(name: "RADBStore",
                dependencies: ["CLMDB", .product(name: "GRDB", package: "GRDB.swift"),
                               .product(name: "GRDBSQLite", package: "GRDB.swift")],
                resources: [.embedInCode("Schema")], swiftSettings: strict),
        .target(name: "RADBTraining", dependencies: ["RADBCore", "RADBEmbedding", "RADBNeural", "RADBVision", "CBLAS"], swiftSettings: strict),
        .target(name: "RADB",
                dependencies: ["RADBCore", "RADBEmbedding", "RADBVision", "RADBNeural", "RADBIndex", "RADBStore", "RADBTraining"],
                resources: [.copy("Resources/Models")], swiftSettings: strict),

        // MARK: - The command-line tool
        .executableTarget(name: "radb",
                          dependencies: ["RADB", "RADBTraining", "RADBNeural",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),

        // MARK: - Test support: hooks that rewrite or damage a store on purpose (never in a product)
        .target(name: "RADBStoreTesting",
                dependencies: ["RADBStore", "CLMDB", .product(name: "GRDB", package: "GRDB.swift")],
                swiftSettings: strict),

        // MARK: - Test helpers and benchmarks (executables, never timed unit tests)
        .executableTarget(name: "radb-store-probe", dependencies: ["RADBStore", "RADBStoreTesting"],
                          path: "Sources/Tools/StoreProbe", swiftSettings: strict),
        .executableTarget(name: "radb-bench-store", dependencies: ["RADBStore"],
                          path: "Sources/Benchmarks/StoreBench", swiftSettings: strict),
        .executableTarget(name: "radb-bench-index", dependencies: ["RADBIndex", "CBLAS"],
                          path: "Sources/Benchmarks/IndexBench", swiftSettings: strict),
        .executableTarget(name: "radb-bench-vision", dependencies: ["RADBCore", "RADBVision"],
                          path: "Sources/Benchmarks/VisionBench", swiftSettings: strict),
        .executableTarget(name: "radb-bench-neural", dependencies: ["RADBNeural", "CBLAS"],
                          path: "Sources/Benchmarks/NeuralBench", swiftSettings: strict),
        .executableTarget(name: "radb-bench-train", dependencies: ["RADBTraining", "RADBNeural"],
                          path: "Sources/Benchmarks/TrainBench", swiftSettings: strict),

        // MARK: - Tests (run with `swift test -c release`; use `package` access, not @testable)
        .testTarget(name: "RADBStoreTests", dependencies: ["RADBStore", "RADBStoreTesting", .product(name: "GRDB", package: "GRDB.swift")], swiftSettings: strict),
        .testTarget(name: "RADBIndexTests", dependencies: ["RADBCore", "RADBIndex"], swiftSettings: strict),
        .testTarget(name: "RADBVisionTests", dependencies: ["RADBCore", "RADBVision"], swiftSettings: strict),
        .testTarget(name: "RADBNeuralTests", dependencies: ["RADBCore", "RADBNeural", "RADBVision"], swiftSettings: strict),
        .testTarget(name: "RADBTrainingTests", dependencies: ["RADBTraining", "RADBNeural", "RADBVision"], swiftSettings: strict),
        .testTarget(name: "RADBTests", dependencies: ["RADB", "RADBTraining", "RADBStore", "RADBStoreTesting", "RADBNeural", "RADBVision"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
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

