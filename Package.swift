// swift-tools-version: 6.1
// radb — an embedded, persistent vector database for content-based image retrieval.
// Module map: see DESIGN.md §2 (in ../shared). Arrows point to dependencies, never back.
import PackageDescription

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
                       providers: [.apt(["libturbojpeg0-dev", "libpng-dev", "libwebp-dev"])]),

        // MARK: - Layers of the engine
        .target(name: "RADBCore"),
        .target(name: "RADBVision", dependencies: ["RADBCore", "CImageCodecs"]),
        .target(name: "RADBNeural", dependencies: ["RADBCore", "CBLAS"]),
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(name: "RADBEmbedding", dependencies: ["RADBCore", "RADBVision", "RADBNeural"]),
        .target(name: "RADBIndex", dependencies: ["RADBCore", "CBLAS", "CKernels"]),
        .target(name: "RADBStore",
                dependencies: ["CLMDB", .product(name: "GRDB", package: "GRDB.swift"),
                               .product(name: "GRDBSQLite", package: "GRDB.swift")],
                resources: [.embedInCode("Schema")]),
        .target(name: "RADBTraining", dependencies: ["RADBCore", "RADBEmbedding", "RADBNeural", "RADBVision", "CBLAS"]),
        .target(name: "RADB",
                dependencies: ["RADBCore", "RADBEmbedding", "RADBVision", "RADBNeural", "RADBIndex", "RADBStore", "RADBTraining"],
                resources: [.copy("Resources/Models")]),

        // MARK: - The command-line tool
        .executableTarget(name: "radb",
                          dependencies: ["RADB", "RADBTraining", "RADBNeural",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // MARK: - Test helpers and benchmarks (executables, never timed unit tests)
        .executableTarget(name: "radb-store-probe", dependencies: ["RADBStore"],
                          path: "Sources/Tools/StoreProbe"),
        .executableTarget(name: "radb-bench-store", dependencies: ["RADBStore"],
                          path: "Sources/Benchmarks/StoreBench"),
        .executableTarget(name: "radb-bench-index", dependencies: ["RADBIndex", "CBLAS"],
                          path: "Sources/Benchmarks/IndexBench"),
        .executableTarget(name: "radb-bench-vision", dependencies: ["RADBCore", "RADBVision"],
                          path: "Sources/Benchmarks/VisionBench"),
        .executableTarget(name: "radb-bench-neural", dependencies: ["RADBNeural", "CBLAS"],
                          path: "Sources/Benchmarks/NeuralBench"),
        .executableTarget(name: "radb-bench-train", dependencies: ["RADBTraining", "RADBNeural"],
                          path: "Sources/Benchmarks/TrainBench"),

        // MARK: - Tests (run with `swift test -c release`; use `package` access, not @testable)
        .testTarget(name: "RADBStoreTests", dependencies: ["RADBStore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "RADBIndexTests", dependencies: ["RADBCore", "RADBIndex"]),
        .testTarget(name: "RADBVisionTests", dependencies: ["RADBCore", "RADBVision"]),
        .testTarget(name: "RADBNeuralTests", dependencies: ["RADBCore", "RADBNeural", "RADBVision"]),
        .testTarget(name: "RADBTrainingTests", dependencies: ["RADBTraining", "RADBNeural", "RADBVision"]),
        .testTarget(name: "RADBTests", dependencies: ["RADB", "RADBTraining", "RADBStore", "RADBNeural", "RADBVision"]),
    ],
    swiftLanguageModes: [.v6]
)
