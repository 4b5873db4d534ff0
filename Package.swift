// swift-tools-version: 6.0
// voicestyle: guess the face of an unseen person from their voice (a native re-implementation of audio-visual/voicestyle).
import PackageDescription

/// Release-only code-generation flags (measured in ../shared/docs/PLATFORM.md §5). The numeric kernels (the
/// engine) build with `-Ounchecked` (2× on index-heavy loops) and exclusivity checks off (class-based tape);
/// everything else (parsers, loaders, models, index, jobs, front-ends) keeps Swift's bounds, overflow and
/// exclusivity checks. All use cross-module optimisation (generic kernels called from other modules are
/// otherwise unspecialised, 28× slower) and `haswell` (AVX2 + FMA = x86-64-v3; never AVX-512, so the binary
/// runs on any x86-64-v3 machine).
/// The CPU flags apply to x86-64 builds only (elsewhere, e.g. Apple silicon or aarch64 Linux, the compiler's
/// default CPU is used); the manifest is evaluated on the building machine, so this is the host's architecture.
#if arch(x86_64)
let cpuFlags = ["-target-cpu", "haswell"]
#else
let cpuFlags: [String] = []
#endif
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked", "-cross-module-optimization"] + cpuFlags, .when(configuration: .release)),
]
let releaseFlags: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization"] + cpuFlags, .when(configuration: .release)),
]

let package = Package(
    name: "voicestyle",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "VoiceStyle", targets: ["VoiceStyle"]),
        .executable(name: "voicestyle", targets: ["voicestyle"]),
        .executable(name: "voicestyle-bench", targets: ["voicestyle-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // System libraries (Debian packages installed by scripts/setup).
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG"),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG"),
        .systemLibrary(name: "CFreeType", path: "Sources/CFreeType", pkgConfig: "freetype2"),
        .systemLibrary(name: "CSndFile", path: "Sources/CSndFile"),
        .systemLibrary(name: "CSoxr", path: "Sources/CSoxr"),
        .systemLibrary(name: "CWebRTCVAD", path: "Sources/CWebRTCVAD"),

        // How every output file is written (temporary name, rename; never over a folder, FIFO or device node).
        // Its own module so that it keeps Swift's checks; the engine re-exports it.
        .target(
            name: "VoiceStyleFiles",
            swiftSettings: releaseFlags),
        // Tensor engine: tensors, reverse-mode autodiff, kernels, Adam; matrix products on OpenBLAS or oneDNN.
        .target(
            name: "VoiceStyleEngine",
            dependencies: ["VoiceStyleFiles", "COpenBLAS", "CDNNL", .product(name: "RealModule", package: "swift-numerics")],
            swiftSettings: kernelFlags),
        // Checkpoint formats: PyTorch (zip + legacy pickle), safetensors, NumPy.
        .target(
            name: "VoiceStyleCheckpoints",
            dependencies: ["VoiceStyleEngine", "CZlib"],
            swiftSettings: releaseFlags),
        // The model hub: the model-file table, where files and indexes are found from any folder, downloads.
        .target(
            name: "VoiceStyleHub",
            dependencies: ["VoiceStyleCheckpoints"],
            swiftSettings: releaseFlags),
        // Images: PNG codec, tensor ↔ image conversions, grids, text (FreeType), plots.
        .target(
            name: "VoiceStyleImaging",
            dependencies: ["VoiceStyleEngine", "CPNG", "CTurboJPEG", "CFreeType"],
            swiftSettings: releaseFlags),
        // Voice front-end: audio files, WebRTC VAD, Sphinx log-mel features.
        .target(
            name: "VoiceStyleAudio",
            dependencies: ["VoiceStyleEngine", "CSndFile", "CSoxr", "CWebRTCVAD", .product(name: "RealModule", package: "swift-numerics")],
            swiftSettings: releaseFlags),
        // FAISS through a small extern "C" shim (Debian's static libfaiss.a; PLATFORM.md §1).
        .target(
            name: "CFaissShim",
            path: "Sources/CFaissShim",
            cxxSettings: [.headerSearchPath("private"), .unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("faiss"), .linkedLibrary("openblas"), .linkedLibrary("gomp"), .linkedLibrary("stdc++")]),
        // dlib's HOG face detector and 68-point shape predictor through a small extern "C" shim (PLATFORM.md §10).
        // The detector is header templates compiled here: AVX2 (as the Swift code's haswell target) makes it 1.5×
        // faster; FMA and contraction stay off, which keeps every detection and score equal to Debian's dlib.
        .target(
            name: "CDlibShim",
            path: "Sources/CDlibShim",
            cxxSettings: [.unsafeFlags(["-O3", "-mavx2", "-mno-fma", "-ffp-contract=off", "-std=c++14"])],
            linkerSettings: [.linkedLibrary("dlib"), .linkedLibrary("openblas"), .linkedLibrary("stdc++")]),
        // Faces as users have them: detection, 68 landmarks (dlib), FFHQ alignment.
        .target(
            name: "VoiceStyleFaces",
            dependencies: ["VoiceStyleEngine", "VoiceStyleImaging", "CDlibShim"],
            swiftSettings: releaseFlags),

        // Networks (StyleGAN2 layers, IR-SE50, LPIPS, CMPC).
        .target(
            name: "VoiceStyleModels",
            dependencies: ["VoiceStyleEngine", "VoiceStyleCheckpoints", .product(name: "RealModule", package: "swift-numerics")],
            swiftSettings: releaseFlags),
        // GAN inversion (rosinality projector).
        .target(
            name: "VoiceStyleInversion",
            dependencies: ["VoiceStyleEngine", "VoiceStyleModels", .product(name: "RealModule", package: "swift-numerics")],
            swiftSettings: releaseFlags),
        // Prototype indexes: FAISS vectors + SQLite metadata (GRDB).
        .target(
            name: "VoiceStyleIndex",
            dependencies: ["VoiceStyleEngine", "VoiceStyleCheckpoints", "VoiceStyleImaging", "VoiceStyleFaces",
                           "CFaissShim", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "SwiftCSV", package: "SwiftCSV")],
            swiftSettings: releaseFlags),
        // The jobs as library calls (typed Codable requests and reports), model loading, the demo material.
        .target(
            name: "VoiceStylePipeline",
            dependencies: ["VoiceStyleEngine", "VoiceStyleCheckpoints", "VoiceStyleHub", "VoiceStyleImaging", "VoiceStyleAudio", "VoiceStyleModels",
                           "VoiceStyleInversion", "VoiceStyleIndex", "VoiceStyleFaces"],
            resources: [.copy("DemoData")],
            swiftSettings: releaseFlags),
        // Evaluation: the metrics of the voice–face literature (SF2F recall@k, 1:2 matching, ROC/AUC/EER, mAP) and
        // the evaluation jobs over the pipeline's stages.
        .target(
            name: "VoiceStyleEvaluation",
            dependencies: ["VoiceStylePipeline", "VoiceStyleHub", "VoiceStyleEngine", "VoiceStyleImaging", "VoiceStyleFaces", "VoiceStyleIndex",
                           "VoiceStyleInversion", "VoiceStyleModels", "VoiceStyleAudio"],
            swiftSettings: releaseFlags),
        // The local web page and its JSON API (`voicestyle serve`): a job queue over the pipeline, on Hummingbird 2.
        .target(
            name: "VoiceStyleServer",
            dependencies: ["VoiceStylePipeline", "VoiceStyleHub", "VoiceStyleImaging", "VoiceStyleAudio", "VoiceStyleIndex", "VoiceStyleFaces", "VoiceStyleInversion",
                           .product(name: "Hummingbird", package: "hummingbird")],
            resources: [.copy("Web")],
            swiftSettings: releaseFlags),
        // Umbrella module re-exporting everything.
        .target(
            name: "VoiceStyle",
            dependencies: ["VoiceStyleEngine", "VoiceStyleCheckpoints", "VoiceStyleHub", "VoiceStyleImaging", "VoiceStyleAudio", "VoiceStyleModels",
                           "VoiceStyleInversion", "VoiceStyleIndex", "VoiceStyleFaces", "VoiceStyleEvaluation", "VoiceStylePipeline"],
            swiftSettings: releaseFlags),
        // Thin front-ends: the command-line tool and the benchmarks.
        .executableTarget(
            name: "voicestyle",
            dependencies: ["VoiceStyle", "VoiceStyleServer", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: releaseFlags),
        .executableTarget(
            name: "voicestyle-bench",
            dependencies: ["VoiceStyle", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: releaseFlags),

        // Helpers shared by the test targets (fixtures, tolerances, gradient checks); not a product.
        .target(
            name: "VoiceStyleTestSupport",
            dependencies: ["VoiceStyleEngine", "VoiceStyleCheckpoints"],
            path: "Tests/VoiceStyleTestSupport"),
        .testTarget(
            name: "VoiceStyleEngineTests",
            dependencies: ["VoiceStyleEngine", "VoiceStyleCheckpoints", "VoiceStyleTestSupport"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "VoiceStyleCheckpointsTests",
            dependencies: ["VoiceStyleCheckpoints", "VoiceStyleEngine", "VoiceStyleTestSupport"]),
        .testTarget(
            name: "VoiceStyleImagingTests",
            dependencies: ["VoiceStyleImaging", "VoiceStyleEngine", "VoiceStyleCheckpoints", "VoiceStyleTestSupport", "CPNG"]),
        .testTarget(
            name: "VoiceStyleAudioTests",
            dependencies: ["VoiceStyleAudio", "VoiceStyleEngine", "VoiceStyleCheckpoints", "VoiceStyleTestSupport"]),
        .testTarget(
            name: "VoiceStyleIndexTests",
            dependencies: ["VoiceStyleIndex", "VoiceStyleModels", "VoiceStylePipeline", "VoiceStyleEngine", "VoiceStyleCheckpoints", "VoiceStyleTestSupport"]),
        .testTarget(
            name: "VoiceStyleFacesTests",
            dependencies: ["VoiceStyleFaces", "VoiceStyleImaging", "VoiceStyleTestSupport"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "VoiceStyleEvaluationTests",
            dependencies: ["VoiceStyleEvaluation"]),
        .testTarget(
            name: "VoiceStyleTests",
            dependencies: ["VoiceStyle", "VoiceStyleServer", "VoiceStyleTestSupport"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "VoiceStyleServerTests",
            dependencies: ["VoiceStyleServer", "VoiceStyle", "VoiceStyleTestSupport"]),
        .testTarget(
            name: "VoiceStyleModelsTests",
            dependencies: ["VoiceStyleModels", "VoiceStyleInversion", "VoiceStyleCheckpoints", "VoiceStyleEngine",
                           "VoiceStyleTestSupport"],
            exclude: ["Fixtures"]),
    ]
)
