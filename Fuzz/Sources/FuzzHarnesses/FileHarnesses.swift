import Foundation
import TallyCoordinator
import TallyCore
import TallyLedger
import TallyModel
import TallyParticipant
import TallyWire

extension Harness {
    /// The coordinator's configuration file: `StrictJSON.decode` over the defaults (what
    /// `ConfigurationFile.load(path:)` does after reading the file), `validate()`, the round
    /// policy and the initial model it describes.
    public static let coordinatorConfig = Harness(
        name: "fuzz-coordinator-config", run: FileFuzz.coordinatorConfig, seeds: FileFuzz.coordinatorConfigSeeds)
    /// The participant's configuration file, its data source and schema, and its feature steps.
    public static let participantConfig = Harness(
        name: "fuzz-participant-config", run: FileFuzz.participantConfig, seeds: FileFuzz.participantConfigSeeds)
    /// The one strict JSON parser (configuration files, safetensors headers, trainer results).
    public static let json = Harness(name: "fuzz-json", run: FileFuzz.json, seeds: FileFuzz.jsonSeeds)
    /// Ledger rows as an auditor reads them from an untrusted ledger file: record bodies
    /// (`LedgerRecord.entry()`), and the entries through `PrivacyReport` (RDP and PLD) and
    /// `LedgerCrosscheck`.
    public static let ledgerRows = Harness(name: "fuzz-ledger-rows", run: FileFuzz.ledgerRows, seeds: FileFuzz.ledgerRowsSeeds)
    /// A whole ledger file as `tally-audit` opens it: SQLite's reading of an untrusted file, the
    /// ledger's tables and meta rows, every stored row's columns (`openForAudit`, `verify()`,
    /// `entries()`) and the entries through `PrivacyReport`. Seeds: `Fuzz/make-ledger-seeds`.
    public static let ledgerFile = Harness(name: "fuzz-ledger-file", run: FileFuzz.ledgerFile, seeds: FileFuzz.ledgerFileSeeds)
    /// Certificates, keys and revocation lists in PEM: the ledger's own DER reader
    /// (`LedgerCertificate`) and the key it finds, a public key (`SigningPublicKey(pem:)`), the
    /// federation CA and CRL (`FederationTrust(caPEM:crlPEM:)`, `RevocationList`).
    public static let certificates = Harness(name: "fuzz-certificates", run: FileFuzz.certificates, seeds: { [] })
    /// What a model version carries beside its tensors: the manifest (decoded as
    /// `ModelManifest.verified` decodes it), its federated-evaluation settings and the
    /// standardization metadata of a model file.
    public static let modelMetadata = Harness(name: "fuzz-model-metadata", run: FileFuzz.modelMetadata, seeds: FileFuzz.modelMetadataSeeds)
}

enum FileFuzz {
    // MARK: Configuration files

    @Sendable static func coordinatorConfig(_ bytes: [UInt8]) {
        guard
            let config = try? StrictJSON.decode(
                CoordinatorConfiguration.self, from: bytes, defaults: CoordinatorConfiguration(), file: "coordinator.json"),
            (try? config.validate()) != nil
        else { return }
        _ = try? config.roundPolicy(noiseMultiplier: 1)
        _ = try? config.initialModel()
    }

    @Sendable static func coordinatorConfigSeeds() -> [(name: String, bytes: [UInt8])] {
        var mlp = CoordinatorConfiguration()
        mlp.model.kind = "mlp"
        return [("defaults", try! StrictJSON.encode(CoordinatorConfiguration())), ("mlp", try! StrictJSON.encode(mlp))]
    }

    @Sendable static func participantConfig(_ bytes: [UInt8]) {
        guard
            let config = try? StrictJSON.decode(
                ParticipantConfiguration.self, from: bytes, defaults: ParticipantConfiguration(), file: "participant.json"),
            (try? config.validate()) != nil
        else { return }
        _ = try? config.data.preparedFeatures()
        _ = try? config.data.source?.validate()
    }

    @Sendable static func participantConfigSeeds() -> [(name: String, bytes: [UInt8])] {
        var csv = ParticipantConfiguration()
        csv.data.source = .csv(path: "data.csv", labelColumn: "diagnosis")
        csv.data.schema = try! DataSchema(featureNames: ["age", "weight"], classes: ["no", "yes"])
        var npy = ParticipantConfiguration()
        var source = DataSourceConfiguration(kind: .npy)
        source.featuresPath = "x.npy"
        source.labelsPath = "y.npy"
        source.heldOutFraction = 0.2
        npy.data.source = source
        npy.data.schema = try! DataSchema(featureCount: 4, classes: ["a", "b", "c"])
        return [
            ("defaults", try! StrictJSON.encode(ParticipantConfiguration())),
            ("csv", try! StrictJSON.encode(csv)),
            ("npy", try! StrictJSON.encode(npy)),
        ]
    }

    // MARK: JSON

    @Sendable static func json(_ bytes: [UInt8]) {
        _ = try? JSONParser.parse(bytes)
        _ = try? JSONParser.parse(bytes, maxDepth: 8, allowByteOrderMark: true)
    }

    @Sendable static func jsonSeeds() -> [(name: String, bytes: [UInt8])] {
        [
            ("object", Array(#"{"a": [1, -2.5e3, true, false, null], "b": {"c": "\u00e9\n"}, "d": 0}"#.utf8)),
            ("bom", [0xEF, 0xBB, 0xBF] + Array(#"[{"x": "snow ☃"}, 12345678901234567890, 1E-400]"#.utf8)),
            ("configuration", try! StrictJSON.encode(ParticipantConfiguration())),
        ]
    }

    // MARK: Ledger rows

    /// The input: up to three record bodies as ``FuzzInput`` parts.
    @Sendable static func ledgerRows(_ bytes: [UInt8]) {
        var entries: [LedgerEntry] = []
        for (index, body) in FuzzInput.split(bytes, into: 3).enumerated() where !body.isEmpty {
            let sequence = Int64(index + 1)
            let hash = LedgerRecord.chainHash(
                format: .v2, sequence: sequence, previousHash: LedgerRecord.genesisHash, certificatePEM: "", body: body)
            let record = LedgerRecord(
                sequence: sequence, previousHash: LedgerRecord.genesisHash, body: body, hash: hash, signature: [],
                signerCertificatePEM: "")
            guard let entry = try? record.entry() else { continue }
            _ = try? entry.canonicalBytes()
            entries.append(entry)
        }
        guard !entries.isEmpty else { return }
        _ = try? PrivacyReport(entries: entries, delta: 1e-5, budget: PrivacyBudget(epsilon: 10, delta: 1e-5), accountants: .rdp)
        // The PLD accountant on a coarse grid: on the default one a report takes about a second.
        _ = try? PrivacyReport(entries: entries, delta: 1e-5, budget: nil, accountants: .both, pldInterval: 0.5)
        _ = try? PrivacyReport.epsilonRDP(entries: entries, delta: 1e-6)
        _ = try? LedgerCrosscheck(own: entries, coordinator: Array(entries.reversed()))
    }

    static func entry(round: UInt64, participants: [UInt32], unit: String = LedgerEntry.organizationUnit, rate: Double = 1) -> LedgerEntry {
        LedgerEntry(
            roundID: round, modelVersion: Int64(round), modelHash: String(repeating: "ab", count: 32), participants: participants,
            cohortSize: participants.count + 1, privacyUnit: unit, samplingRate: rate, clipNorm: 1, noiseMultiplier: 1.1,
            mechanism: LedgerEntry.distributedDiscreteGaussian, shareSigmaSquared: 40, noiseShares: participants.count, threshold: 2,
            collusionMargin: 1, l2Sensitivity: 30, dimension: 100, deltaClamp: 0, recordedAt: 1_700_000_000)
    }

    @Sendable static func ledgerRowsSeeds() -> [(name: String, bytes: [UInt8])] {
        let first = try! entry(round: 1, participants: [1, 2, 3]).canonicalBytes()
        let second = try! entry(round: 2, participants: [2, 3]).canonicalBytes()
        let record = try! entry(round: 3, participants: [1, 3], unit: LedgerEntry.recordUnit, rate: 0.01).canonicalBytes()
        return [("one", first), ("three", FuzzInput.join([first, second, record]))]
    }

    @Sendable static func ledgerFile(_ bytes: [UInt8]) {
        let name = "ledger.sqlite"
        // Companions a previous input's open left behind must not leak into this one.
        for suffix in ["-wal", "-shm", "-journal"] { unlink(FuzzFiles.directory + "/" + name + suffix) }
        let path = FuzzFiles.scratch(name, bytes)
        guard let ledger = try? PrivacyLedger.openForAudit(path: path) else { return }
        _ = try? ledger.verify()
        guard let entries = try? ledger.entries(), !entries.isEmpty else { return }
        _ = try? PrivacyReport(entries: entries, delta: 1e-5, budget: ledger.budget, accountants: .rdp)
    }

    /// Ledgers signed with the key and certificate in FUZZ_LEDGER_SIGNER (a participant folder
    /// of `certs/issue-certificate.sh`, participant 7), as `Fuzz/make-ledger-seeds` runs it; no
    /// seeds without it. The script then rewrites them compact (512-byte pages, no WAL).
    @Sendable static func ledgerFileSeeds() -> [(name: String, bytes: [UInt8])] {
        guard let signer = getenv("FUZZ_LEDGER_SIGNER").map({ String(cString: $0) }),
            let keyPEM = try? String(contentsOfFile: signer + "/key.pem", encoding: .utf8),
            let certificatePEM = try? String(contentsOfFile: signer + "/cert.pem", encoding: .utf8)
        else { return [] }
        var seeds: [(name: String, bytes: [UInt8])] = []
        for (name, rounds) in [("one-record", 1), ("three-records", 3)] {
            let path = FuzzFiles.directory + "/seed-\(name).sqlite"
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
            do {
                let ledger = try PrivacyLedger(
                    path: path, role: .participant(7), signingKey: try SigningPrivateKey(pem: keyPEM), certificatePEM: certificatePEM,
                    budget: PrivacyBudget(epsilon: 10, delta: 1e-5))
                for round in 1...rounds {
                    try ledger.append(
                        entry(
                            round: UInt64(round), participants: [7, 8, 9],
                            unit: round == 3 ? LedgerEntry.recordUnit : LedgerEntry.organizationUnit, rate: round == 3 ? 0.01 : 1))
                }
            } catch {
                fatalError("cannot write the seed ledger \(path): \(error)")
            }
            guard let bytes = FileManager.default.contents(atPath: path) else { fatalError("cannot read \(path)") }
            seeds.append((name, [UInt8](bytes)))
        }
        return seeds
    }

    // MARK: Certificates

    /// The input: (certificate PEM, revocation list PEM) as ``FuzzInput`` parts.
    @Sendable static func certificates(_ bytes: [UInt8]) {
        let parts = FuzzInput.split(bytes, into: 2).map { String(decoding: $0, as: UTF8.self) }
        if let certificate = try? LedgerCertificate(pem: parts[0]) {
            _ = try? certificate.publicKey()
            // The second part as its issuer (a CA certificate; a CRL simply fails to parse).
            if let issuer = try? LedgerCertificate(pem: parts[1]) { _ = try? certificate.checkIssued(by: issuer) }
            _ = try? certificate.checkIssued(by: certificate)
        }
        _ = try? SigningPublicKey(pem: parts[0])
        _ = try? FederationTrust(caPEM: parts[0], crlPEM: parts[1].isEmpty ? nil : parts[1])
    }

    // MARK: Model metadata

    /// The input: (manifest JSON, standardization metadata) as ``FuzzInput`` parts.
    @Sendable static func modelMetadata(_ bytes: [UInt8]) {
        let parts = FuzzInput.split(bytes, into: 2)
        if let manifest = try? JSONDecoder().decode(ModelManifest.self, from: Data(parts[0])) {
            _ = try? manifest.evaluation?.validate(what: "the manifest's evaluation")
            _ = try? manifest.canonicalBytes()
        }
        for featureCount in [1, 3] {
            _ = try? Standardization.fromMetadata(String(decoding: parts[1], as: UTF8.self), featureCount: featureCount)
        }
    }

    @Sendable static func modelMetadataSeeds() -> [(name: String, bytes: [UInt8])] {
        let manifest = ModelManifest(
            version: 3, parent: 2, roundID: 9, modelHash: String(repeating: "cd", count: 32), cohortSize: 5, contributors: 4,
            training: TrainingSettings(), metrics: ["accuracy": 0.8], createdAt: Date(timeIntervalSince1970: 1_700_000_000),
            coordinatorCertificate: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
            lineage: .init(
                privacyUnit: "organization", epsilonSpent: 1.5, delta: 1e-5, noiseMultiplier: 1.1, serverOptimizer: .init()),
            evaluation: FederatedEvaluation(organizationShare: 0.1))
        let standardization = try! Standardization(lower: [0, 0, -1], upper: [1, 2, 1]).metadataValue()
        let measured = try! Standardization(mean: [0.5, 1, 0], scale: [1, 2, 0.5]).metadataValue()
        return [
            ("manifest-bounds", FuzzInput.join([try! manifest.canonicalBytes(), Array(standardization.utf8)])),
            ("measured", FuzzInput.join([Array("{}".utf8), Array(measured.utf8)])),
        ]
    }
}
