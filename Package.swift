// swift-tools-version: 6.1
// Tally — federated learning where the coordinator only ever tallies.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Tally",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "TallyCore", targets: ["TallyCore"]),
        .library(name: "TallySecAgg", targets: ["TallySecAgg"]),
        .executable(name: "tally-coordinator", targets: ["tally-coordinator"]),
        .executable(name: "tally-participant", targets: ["tally-participant"]),
        .executable(name: "tally-audit", targets: ["tally-audit"]),
        .executable(name: "tally-bench", targets: ["tally-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System libraries. Each is a thin module map plus a header of inline wrappers for
        // the names the C library only exposes as macros.
        .systemLibrary(
            name: "CGMP", path: "Core/CGMP", pkgConfig: "gmp",
            providers: [.apt(["libgmp-dev"])]),
        .systemLibrary(
            name: "CZstd", path: "Core/CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSystem", path: "Core/CSystem"),
        .systemLibrary(
            name: "CFFTW", path: "Core/CFFTW", pkgConfig: "fftw3",
            providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(
            name: "CLibCrypto", path: "Core/CLibCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),

        // Core: arithmetic, crypto, privacy primitives, compression. No networking.
        .target(
            name: "TallyCore", dependencies: ["CGMP", "CZstd", "CLibCrypto", "CFFTW", "CSystem"],
            path: "Core/TallyCore", swiftSettings: strict),
        // The secure-aggregation protocol as transport-free state machines.
        .target(
            name: "TallySecAgg", dependencies: ["TallyCore"],
            path: "Core/TallySecAgg", swiftSettings: strict),
        // The audit CLI lives under Core/: both sides of a federation run it, and it only reads.
        .executableTarget(
            name: "tally-audit",
            dependencies: ["TallyCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Core/tally-audit", swiftSettings: strict),

        .target(
            name: "TallyCoordinator", dependencies: ["TallyCore", "TallySecAgg"],
            path: "Coordinator/TallyCoordinator", swiftSettings: strict),
        .executableTarget(
            name: "tally-coordinator",
            dependencies: ["TallyCoordinator", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Coordinator/tally-coordinator", swiftSettings: strict),

        .target(
            name: "TallyParticipant", dependencies: ["TallyCore", "TallySecAgg"],
            path: "Participant/TallyParticipant", swiftSettings: strict),
        .executableTarget(
            name: "tally-participant",
            dependencies: ["TallyParticipant", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Participant/tally-participant", swiftSettings: strict),

        // Benchmarks: a separate executable, never part of the test run.
        .executableTarget(
            name: "tally-bench",
            dependencies: [
                "TallyCore", "TallySecAgg", "CGMP", "CLibCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/tally-bench", exclude: ["flower"], swiftSettings: strict),

        .testTarget(
            name: "TallySecAggTests", dependencies: ["TallySecAgg", "TallyCore"],
            path: "Tests/TallySecAggTests", swiftSettings: strict),
        .testTarget(
            name: "TallyCoreTests", dependencies: ["TallyCore", "CGMP"],
            path: "Tests/TallyCoreTests", swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
