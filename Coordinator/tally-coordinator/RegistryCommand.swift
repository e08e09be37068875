import ArgumentParser
import Foundation
import TallyCoordinator
import TallyCore
import TallyWire

/// Offline access to the registry in a data directory.
struct Registry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show, verify and export published model versions (offline, on the data directory).",
        subcommands: [List.self, Show.self, Verify.self, Export.self, Rollback.self])

    struct Options: ParsableArguments {
        @Option(help: "The coordinator's data directory.") var data = "tally-data/coordinator"

        init() {}
        init(data: String) { self.data = data }

        /// The data directory's database, read-only unless `writing` (rollback): a reading
        /// command never creates or changes a table, whatever file it is pointed at.
        func open(writing: Bool = false) throws -> (CoordinatorStore, ModelRegistry) {
            let path = data + "/coordinator.sqlite"
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("no coordinator database at \(path)")
            }
            do {
                return (try CoordinatorStore(path: path, readOnly: !writing), try ModelRegistry(directory: data + "/registry"))
            } catch {
                throw ValidationError(error.message)
            }
        }
    }

    /// Which federation CA manifests are checked against: `--ca`, else the CA of the coordinator
    /// configuration `--config`, else the data directory's sibling `pki/coordinator/ca.crt` (the
    /// layout `tally-coordinator demo` and `certs/` create) if it exists.
    struct TrustOptions: ParsableArguments {
        @Option(help: "Federation CA certificate (PEM) manifests must be signed under.") var ca: String?
        @Option(help: "Coordinator configuration file whose CA to use when --ca is not given.") var config: String?

        func caPath(data: String) throws -> String {
            if let ca { return ca }
            if let config { return try CoordinatorConfiguration.load(path: config).tls.certificateAuthority }
            let sibling = URL(fileURLWithPath: data).deletingLastPathComponent().appendingPathComponent("pki/coordinator/ca.crt").path
            guard FileManager.default.fileExists(atPath: sibling) else {
                throw ValidationError(
                    "no federation CA to verify manifests with: pass --ca CA.pem or --config coordinator.json (or --skip-signature to only check blobs)"
                )
            }
            return sibling
        }
    }

    /// Checks one version: blob hash, manifest signature under the CA, and that the manifest
    /// describes this version and blob. Returns the problems found (empty: verified).
    static func check(_ record: CoordinatorStore.VersionRecord, registry: ModelRegistry, trust: FederationTrust?) async -> [String] {
        var problems: [String] = []
        do { _ = try registry.blob(hash: record.modelHash) } catch {
            problems.append("version \(record.version): blob \(record.modelHash): \(error.message)")
        }
        if let trust {
            do {
                let manifest = try await ModelManifest.verified(bytes: record.manifest, signature: record.signature, trust: trust)
                if manifest.version != record.version || manifest.modelHash != record.modelHash {
                    problems.append(
                        "version \(record.version): its signed manifest describes version \(manifest.version), model \(manifest.modelHash)")
                }
            } catch {
                problems.append("version \(record.version): manifest signature: \(error.message)")
            }
        }
        return problems
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One line per version: the publish gate's decision, the federated evaluation and the coordinator's test accuracy.")
        @OptionGroup var options: Options
        func run() async throws {
            let (store, _) = try options.open()
            let published = try store.publishedVersion()?.version
            print("version  parent  round  status         fed. acc.  fed. loss  test acc.  model")
            for v in try store.versions() {
                let metrics = v.validationMetrics
                print(
                    String(
                        format: "%7lld  %6@  %5@  %-13@  %9@  %9@  %9@  %@%@", v.version, v.parent.map { "\($0)" } ?? "-",
                        v.roundID.map { "\($0)" } ?? "-", v.status.rawValue,
                        metrics.map { String(format: "%.4f", $0.accuracy) } ?? "-", metrics.map { String(format: "%.4f", $0.loss) } ?? "-",
                        v.accuracy.map { String(format: "%.4f", $0) } ?? "-", v.modelHash,
                        v.version == published ? "  ← published channel" : ""))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a version's manifest and verify its blob and its signature under the federation CA.",
            discussion: "Exit status: 0 verified, 1 a check failed.")
        @OptionGroup var options: Options
        @OptionGroup var trustOptions: TrustOptions
        @Argument(help: "Version number (default: latest).") var version: Int64?
        @Flag(help: "Do not check the manifest's signature (only the blob's hash).") var skipSignature = false
        func run() async throws {
            let (store, registry) = try options.open()
            let versions = try store.versions()
            let selected: CoordinatorStore.VersionRecord? =
                if let version { versions.first { $0.version == version } } else { versions.last }
            guard let record = selected else {
                throw ValidationError("no such version")
            }
            print(String(decoding: record.manifest, as: UTF8.self))
            print(
                "status: \(record.status.rawValue)\(try store.publishedVersion()?.version == record.version ? " (the published channel)" : "")"
            )
            if let metrics = record.validationMetrics {
                print(
                    "federated evaluation: accuracy \(String(format: "%.4f", metrics.accuracy)), loss \(String(format: "%.4f", metrics.loss)) over \(String(format: "%.0f", metrics.count)) (noisy count)"
                )
            }
            let ca = skipSignature ? nil : try trustOptions.caPath(data: options.data)
            let trust = try ca.map { (path) throws(TallyError) in try FederationTrust(caFile: path) }
            let problems = await Registry.check(record, registry: registry, trust: trust)
            for problem in problems { print("problem: \(problem)") }
            guard problems.isEmpty else { throw ExitCode(1) }
            print("blob: \(registry.blobPath(hash: record.modelHash)) (hash verified)")
            if let ca {
                print("signature: valid (coordinator certificate chains to \(ca)); version \(record.version)")
            } else {
                print("signature: NOT checked (--skip-signature)")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify every published version: blob hash, manifest signature under the federation CA, and lineage.",
            discussion: "Exit status: 0 every version verified, 1 a check failed.")
        @OptionGroup var options: Options
        @OptionGroup var trustOptions: TrustOptions
        func run() async throws {
            let (store, registry) = try options.open()
            let ca = try trustOptions.caPath(data: options.data)
            let trust = try FederationTrust(caFile: ca)
            let versions = try store.versions()
            var problems: [String] = []
            var known = Set<Int64>()
            for record in versions {
                problems += await Registry.check(record, registry: registry, trust: trust)
                if let parent = record.parent, !known.contains(parent) {
                    problems.append("version \(record.version): its parent \(parent) is not an earlier published version")
                }
                known.insert(record.version)
            }
            print("versions checked: \(versions.count) (CA \(ca))")
            for problem in problems { print("problem: \(problem)") }
            print(problems.isEmpty ? "registry verified" : "REGISTRY NOT VERIFIED")
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Point the published channel back at an earlier published version, signed with the coordinator's key and recorded.",
            discussion:
                "Newer published versions become rolled-back; training is not affected. The statement, signed like a manifest, is kept in the database and printed."
        )
        @Option(help: "The coordinator's configuration (its data directory and signing key).") var config: String
        @Option(help: "The version the published channel is to point at.") var to: Int64
        @Option(help: "Why, recorded in the signed statement.") var reason = ""
        func run() async throws {
            let c = try CoordinatorConfiguration.load(path: config)
            let (store, _) = try Options(data: c.dataDirectory).open(writing: true)
            guard let target = try store.versions().first(where: { $0.version == to }) else {
                throw ValidationError("there is no version \(to) in \(c.dataDirectory)")
            }
            let key = try SigningPrivateKey(pem: try FederationTrust.readPEM(c.tls.privateKey, what: "coordinator private key"))
            let statement = ChannelStatement(
                publishedVersion: to, modelHash: target.modelHash, reason: reason, at: ISO8601DateFormatter().string(from: Date()),
                coordinatorCertificate: try FederationTrust.readPEM(c.tls.certificate, what: "coordinator certificate"))
            let bytes = try statement.canonicalBytes()
            let rolledBack = try store.rollBack(to: to, statement: bytes, signature: try key.signature(for: bytes))
            print(
                "published channel → version \(to) (\(target.modelHash.prefix(12))); rolled back: \(rolledBack.isEmpty ? "none" : rolledBack.map { "v\($0)" }.joined(separator: ", "))"
            )
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
