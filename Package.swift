// swift-tools-version: 6.1
// Tally — federated learning where the coordinator only ever tallies.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// Service layers import their dependencies publicly by default (their APIs are built from them).
let service: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "Tally",
    // Built and tested on Linux. On macOS, 15 is the floor: grpc-swift-2 and its transports are
    // available from macOS 15, and so is Synchronization's Mutex (TallyLocalFederation).
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "TallyCore", targets: ["TallyCore"]),
        .library(name: "TallySecAgg", targets: ["TallySecAgg"]),
        .library(name: "TallyLedger", targets: ["TallyLedger"]),
        .library(name: "TallyRound", targets: ["TallyRound"]),
        .library(name: "TallyModel", targets: ["TallyModel"]),
        .library(name: "TallyWire", targets: ["TallyWire"]),
        .library(name: "TallyCoordinator", targets: ["TallyCoordinator"]),
        .library(name: "TallyParticipant", targets: ["TallyParticipant"]),
        .executable(name: "tally-coordinator", targets: ["tally-coordinator"]),
        .executable(name: "tally-participant", targets: ["tally-participant"]),
        .executable(name: "tally-audit", targets: ["tally-audit"]),
        .executable(name: "tally-bench", targets: ["tally-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
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
        .systemLibrary(name: "CTallySystem", path: "Core/CTallySystem"),
        .systemLibrary(
            name: "CZlib", path: "Core/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CFFTW", path: "Core/CFFTW", pkgConfig: "fftw3",
            providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(
            name: "CBLAS", path: "Core/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CLibCrypto", path: "Core/CLibCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),

        // Core: arithmetic, crypto, privacy primitives, compression. No networking.
        .target(
            name: "TallyCore", dependencies: ["CGMP", "CZstd", "CLibCrypto", "CFFTW", "CTallySystem"],
            path: "Core/TallyCore", swiftSettings: strict),
        // The model: the global model as stored (safetensors), datasets, and the training and
        // aggregation steps a round plugs in (Trainer, Aggregator).
        .target(
            name: "TallyModel", dependencies: ["TallyCore", "CZlib", "CBLAS", "CFFTW"],
            path: "Core/TallyModel", swiftSettings: strict),
        // The secure-aggregation protocol as transport-free state machines.
        .target(
            name: "TallySecAgg", dependencies: ["TallyCore"],
            path: "Core/TallySecAgg", swiftSettings: strict),
        // The tamper-evident privacy ledger: signed, hash-chained round entries and the report on them.
        .target(
            name: "TallyLedger", dependencies: ["TallyCore", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Core/TallyLedger", swiftSettings: strict),
        // The round both sides agree on, and the coordinator's and participant's round logic as
        // I/O-free state machines. Foundation-free; protobuf stays at the edge (TallyWire).
        .target(
            name: "TallyRound", dependencies: ["TallyCore", "TallySecAgg", "TallyLedger", "TallyModel"],
            path: "Core/TallyRound", swiftSettings: strict),
        // The audit CLI lives under Core/: both sides of a federation run it, and it only reads.
        .executableTarget(
            name: "tally-audit",
            dependencies: ["TallyCore", "TallyLedger", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Core/tally-audit", swiftSettings: strict),

        // The wire protocol: protobuf schemas and their committed generated code (see
        // Core/TallyWire/Protos/generate.sh), plus the transport glue both sides share.
        .target(
            name: "TallyWire",
            dependencies: [
                "TallyCore", "TallySecAgg", "TallyRound", "TallyModel",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Core/TallyWire", exclude: ["Protos"]),

        .target(
            name: "TallyCoordinator",
            dependencies: [
                "TallyCore", "TallySecAgg", "TallyRound", "TallyModel", "TallyWire", "TallyLedger", "TallyStatus",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Coordinator/TallyCoordinator", swiftSettings: service),
        .executableTarget(
            name: "tally-coordinator",
            dependencies: [
                "TallyCoordinator", "TallyLocalFederation", "TallyCore", "TallySecAgg", "TallyRound", "TallyModel", "TallyWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Coordinator/tally-coordinator", swiftSettings: service),
        // A whole federation as local processes (throwaway PKI, one coordinator, N participants),
        // and the one subprocess runner: for `tally-coordinator demo`, the tests and the benchmarks.
        .target(
            name: "TallyLocalFederation",
            dependencies: ["TallyCoordinator", "TallyParticipant", "TallyCore", "TallyWire"],
            path: "Coordinator/TallyLocalFederation", swiftSettings: service),

        // The live status server both daemons run: Prometheus metrics, a JSON API and a
        // self-contained status page (HTML with SVG plots), optionally behind mutual TLS.
        .target(
            name: "TallyStatus",
            dependencies: [
                "TallyCore", "TallyWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            path: "Core/TallyStatus", swiftSettings: service),
        .target(
            name: "TallyParticipant",
            dependencies: [
                "TallyStatus",
                "TallyCore", "TallySecAgg", "TallyRound", "TallyModel", "TallyWire", "TallyLedger",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Participant/TallyParticipant", swiftSettings: service),
        .executableTarget(
            name: "tally-participant",
            dependencies: [
                "TallyParticipant", "TallyCore", "TallyWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Participant/tally-participant", swiftSettings: service),

        // Benchmarks: a separate executable, never part of the test run.
        .executableTarget(
            name: "tally-bench",
            dependencies: [
                "TallyCore", "TallySecAgg", "TallyRound", "TallyModel", "TallyCoordinator", "TallyLocalFederation", "CGMP", "CLibCrypto", "CBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/tally-bench", exclude: ["flower", "pytorch_mlp.py", "train-results.json"], swiftSettings: strict),

        // What the test targets share: the test PKI, fixture directories, the repository's scripts
        // and the built executables (processes through TallyLocalFederation's Subprocess).
        .target(
            name: "TallyTestSupport",
            dependencies: ["TallyLocalFederation", "TallyCore"],
            path: "Tests/TallyTestSupport", swiftSettings: service),

        // Multi-process end-to-end tests: real coordinator and participant processes on loopback.
        .testTarget(
            name: "TallyFederationTests",
            dependencies: [
                "TallyCoordinator", "TallyParticipant", "TallyRound", "TallyModel", "TallyWire", "TallyCore", "TallyLedger",
                "TallyLocalFederation", "TallyTestSupport", "tally-coordinator", "tally-participant", "tally-audit",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            path: "Tests/TallyFederationTests", swiftSettings: service),
        .testTarget(
            name: "TallyRoundTests", dependencies: ["TallyRound", "TallySecAgg", "TallyCore", "TallyLedger", "TallyModel"],
            path: "Tests/TallyRoundTests", swiftSettings: strict),
        .testTarget(
            name: "TallySecAggTests", dependencies: ["TallySecAgg", "TallyCore"],
            path: "Tests/TallySecAggTests", swiftSettings: strict),
        .testTarget(
            name: "TallyLedgerTests",
            dependencies: ["TallyLedger", "TallyCore", "TallyTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/TallyLedgerTests", swiftSettings: strict),
        .testTarget(
            name: "TallyCoreTests", dependencies: ["TallyCore", "CGMP"],
            path: "Tests/TallyCoreTests", exclude: ["Vectors/generate_dp_accounting.py"], swiftSettings: strict),
        // The participant's pieces on their own: the external trainer and its configuration.
        .testTarget(
            name: "TallyParticipantTests",
            dependencies: ["TallyParticipant", "TallyModel", "TallyCore", "TallyTestSupport"],
            path: "Tests/TallyParticipantTests", exclude: ["Trainers"], swiftSettings: service),
        .testTarget(
            name: "TallyModelTests", dependencies: ["TallyModel", "TallyCore"],
            path: "Tests/TallyModelTests", exclude: ["Vectors/make_scattering_vectors.py"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
