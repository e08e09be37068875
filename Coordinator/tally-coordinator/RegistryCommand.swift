import ArgumentParser
import Foundation
import TallyCoordinator
import TallyCore
import TallyWire

/// Offline access to the registry in a data directory.
struct Registry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show, verify and export published model versions (offline, on the data directory).",
        subcommands: [List.self, Show.self, Export.self])

    struct Options: ParsableArguments {
        @Option(help: "The coordinator's data directory.") var data = "tally-data/coordinator"
        func open() throws -> (CoordinatorStore, ModelRegistry) {
            let path = data + "/coordinator.sqlite"
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("no coordinator database at \(path)")
            }
            return (try CoordinatorStore(path: path), try ModelRegistry(directory: data + "/registry"))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One line per published version.")
        @OptionGroup var options: Options
        func run() async throws {
            let (store, _) = try options.open()
            print("version  parent  round  accuracy  model")
            for v in try store.versions() {
                print(
                    String(
                        format: "%7lld  %6@  %5@  %8@  %@", v.version, v.parent.map { "\($0)" } ?? "-", v.roundID.map { "\($0)" } ?? "-",
                        v.accuracy.map { String(format: "%.4f", $0) } ?? "-", v.modelHash))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a version's manifest and verify its signature and blob.")
        @OptionGroup var options: Options
        @Argument(help: "Version number (default: latest).") var version: Int64?
        @Option(help: "Federation CA certificate to verify the signature against.") var ca: String?
        func run() async throws {
            let (store, registry) = try options.open()
            let versions = try store.versions()
            let selected: CoordinatorStore.VersionRecord? =
                if let version { versions.first { $0.version == version } } else { versions.last }
            guard let record = selected else {
                throw ValidationError("no such version")
            }
            print(String(decoding: record.manifest, as: UTF8.self))
            _ = try registry.blob(hash: record.modelHash)
            print("blob: \(registry.blobPath(hash: record.modelHash)) (hash verified)")
            if let ca {
                let manifest = try await ModelManifest.verified(
                    bytes: record.manifest, signature: record.signature, trust: FederationTrust(caFile: ca))
                print("signature: valid (coordinator certificate chains to \(ca)); version \(manifest.version)")
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a version's model as a safetensors file.")
        @OptionGroup var options: Options
        @Argument(help: "Version number.") var version: Int64
        @Option(help: "Output file.") var output: String
        func run() async throws {
            let (store, registry) = try options.open()
            guard let record = try store.versions().first(where: { $0.version == version }) else {
                throw ValidationError("no version \(version)")
            }
            try DurableFile.write(try registry.blob(hash: record.modelHash), to: output)
            print("wrote \(output) (sha256 \(record.modelHash))")
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rounds and their outcome, from the data directory.")
    @OptionGroup var options: Registry.Options
    func run() async throws {
        let (store, _) = try options.open()
        print("round  outcome   stage      cohort  counted  dropped  version  seconds  reason")
        for r in try store.rounds() {
            print(
                String(
                    format: "%5lld  %-8@  %-9@  %6d  %7d  %7d  %7@  %7@  %@", r.id, r.outcome.rawValue, r.stage.rawValue, r.cohort,
                    r.contributors, r.dropped,
                    r.version.map { "\($0)" } ?? "-", r.seconds.map { String(format: "%.2f", $0) } ?? "-", r.reason ?? ""))
        }
    }
}
