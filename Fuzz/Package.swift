// swift-tools-version: 6.1
// libFuzzer harnesses for every decoder of outside input (docs/fuzzing.md). Built and run by
// `Fuzz/run`, with `-sanitize=fuzzer,address`; each harness is one executable whose entry points
// libFuzzer calls, the decoding itself lives in FuzzHarnesses.
import PackageDescription

let harnesses = [
    "fuzz-secagg-messages", "fuzz-chunks", "fuzz-wire-protobuf", "fuzz-safetensors", "fuzz-idx", "fuzz-csv", "fuzz-npy",
    "fuzz-ledger-rows", "fuzz-ledger-file", "fuzz-coordinator-config", "fuzz-participant-config", "fuzz-json", "fuzz-certificates",
    "fuzz-model-metadata",
]

let package = Package(
    name: "TallyFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, so the product references below do not depend on the checkout folder's name.
        .package(name: "Tally", path: ".."),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .target(
            name: "FuzzHarnesses",
            dependencies: [
                "TallyCore", "TallySecAgg", "TallyLedger", "TallyRound", "TallyModel", "TallyWire", "TallyCoordinator",
                "TallyParticipant",
            ].map { .product(name: $0, package: "Tally") } + [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/FuzzHarnesses")
    ]
        + harnesses.map { name in
            // No main: libFuzzer's runtime provides it.
            .executableTarget(
                name: name, dependencies: ["FuzzHarnesses"], path: "Sources/\(name)",
                swiftSettings: [.unsafeFlags(["-parse-as-library"])])
        },
    swiftLanguageModes: [.v6]
)
