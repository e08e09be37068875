import Foundation
import GRDB
import TallyCoordinator
import TallyCore
import TallyLedger
import TallyLocalFederation
import TallyModel
import TallyTestSupport
import TallyWire
import Testing

/// Validate before publishing, with real processes: every site scores the version a round starts
/// from on its held-out images, the sums travel with the update under secure aggregation, and a
/// candidate that does not improve on the published version is not published.
@Suite(.serialized) struct PublishGateEndToEndTests {
    /// Three organizations, three rounds, a fifth of each one's images held out, the gate on the
    /// mean loss; the server's learning rate decides whether training diverges (η = 1000 throws
    /// every step a thousand times too far).
    func run(_ name: String, serverLearningRate: Double, noiseless: Bool = false) async throws -> (LocalFederation, CoordinatorStore) {
        let federation = try makeFederation(name, participants: 3, rounds: 3) { options in
            options.training = TrainingSettings(localEpochs: 1, batchSize: 64, learningRate: 0.05, seed: 1)
            options.serverOptimizer = ServerOptimizer.Settings(kind: .fedAvg, learningRate: serverLearningRate)
            options.clipNorm = 100
            options.privacy = PrivacySettings(targetEpsilon: 100_000, delta: 1e-5)
            if noiseless { options.privacy.noiseMultiplier = 0 }
            options.participantBudgetEpsilon = 150_000
            options.heldOutFraction = 0.2
            options.validation.metric = "loss"
            // Three organizations at organization level: the loss's noise (σ ≈ 0.1–0.2) is far
            // below the divergence judged here, far above the default limit.
            options.validation.maxNoise = 1
        }
        let coordinator = try federation.startCoordinator()
        for i in 1...3 { try federation.startParticipant(i) }
        try #require(await waitForExit(coordinator, seconds: 180), "the coordinator should finish its 3 rounds")
        #expect(coordinator.exitStatus == 0, "coordinator log:\n\(readLog(federation, "coordinator"))")
        return (federation, try #require(openStore(federation)))
    }

    func manifest(_ record: CoordinatorStore.VersionRecord) throws -> ModelManifest {
        try JSONDecoder().decode(ModelManifest.self, from: Data(record.manifest))
    }

    /// An organization fetches the model it helped train over its own mTLS identity, while the
    /// federation runs: published versions only, verified before they are written; a manifest
    /// altered in the coordinator's database is refused and nothing is written.
    @Test func participantsPullPublishedVersionsAndRefuseATamperedManifest() async throws {
        // Rounds until stopped (0), so the coordinator still serves when a loaded machine gets
        // here late; without noise (benchmark mode), which a finite target cannot be.
        let federation = try makeFederation("pull", participants: 3, rounds: 0) { options in
            options.privacy = PrivacySettings(targetEpsilon: nil, noiseMultiplier: 0)
            options.heldOutFraction = 0.2
            // No candidate can improve accuracy by 10: every version after v0 stays unpublished
            // while the rounds go on, so the refusal below cannot race with the gate.
            options.validation.minImprovement = 10
        }
        defer { federation.stopAll() }
        let coordinator = try federation.startCoordinator()
        for i in 1...3 { try federation.startParticipant(i) }
        let store = try #require(await waitUntil(120) { openStore(federation) != nil } ? openStore(federation) : nil)
        #expect(await waitUntil(120) { (try? store.versions().count) ?? 0 >= 3 }, "a few versions")
        let participant = TestEnvironment.executables + "/tally-participant"
        let directory = federation.options.directory

        let list = try await Subprocess.run(
            participant, ["models", "list", "--config", federation.participantConfig(1)], timeout: .seconds(60))
        #expect(list.status == 0 && list.output.contains("published channel"), "\(list.output)")
        let published = try #require(try store.publishedVersion())
        let pulled = try await Subprocess.run(
            participant, ["models", "pull", "--config", federation.participantConfig(1), "--out", directory + "/pulled.safetensors"],
            timeout: .seconds(60))
        #expect(pulled.status == 0, "\(pulled.output)")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/pulled.safetensors")))
        let registry = try ModelRegistry(directory: federation.coordinatorData + "/registry")
        let pulledVersion = try #require(try store.versions().first { pulled.output.contains("version \($0.version),") })
        #expect(bytes == (try registry.blob(hash: pulledVersion.modelHash)), "the published model, byte for byte")
        #expect(pulledVersion.version >= published.version)

        // A version the gate did not publish is not handed out.
        #expect(published.version == 0)
        let candidate = try #require(try store.versions().last { $0.version > 0 })
        let refusedCandidate = try await Subprocess.run(
            participant,
            [
                "models", "pull", "--config", federation.participantConfig(1), "--version", "\(candidate.version)", "--out",
                directory + "/c.safetensors",
            ],
            timeout: .seconds(60))
        #expect(
            refusedCandidate.status != 0 && refusedCandidate.output.contains("is not a published version"), "\(refusedCandidate.output)")

        // Positive control: version 0 as stored pulls and verifies.
        let intact = try await Subprocess.run(
            participant,
            [
                "models", "pull", "--config", federation.participantConfig(1), "--version", "0", "--out",
                directory + "/v0-intact.safetensors",
            ],
            timeout: .seconds(60))
        #expect(intact.status == 0, "\(intact.output)")
        // Version 0's stored manifest names another model hash (its blob unchanged): the pull is
        // refused on the signature, nothing written.
        let original = try #require(try store.version(0))
        let text = String(decoding: original.manifest, as: UTF8.self)
        let forged = (original.modelHash.first == "0" ? "1" : "0") + original.modelHash.dropFirst()
        let tampered = [UInt8](text.replacingOccurrences(of: original.modelHash, with: forged).utf8)
        #expect(tampered != original.manifest)
        let writable = try CoordinatorStore(path: federation.coordinatorData + "/coordinator.sqlite")
        try await writable.pool.write { db in
            try db.execute(sql: "UPDATE versions SET manifest = ? WHERE version = 0", arguments: [Data(tampered)])
        }
        let refused = try await Subprocess.run(
            participant,
            ["models", "pull", "--config", federation.participantConfig(1), "--version", "0", "--out", directory + "/v0.safetensors"],
            timeout: .seconds(60))
        #expect(refused.status != 0 && !FileManager.default.fileExists(atPath: directory + "/v0.safetensors"), "\(refused.output)")
        #expect(refused.output.contains("does not carry a valid coordinator signature"), "\(refused.output)")
        federation.stop(coordinator)
    }

    @Test func aDivergingCandidateIsNotPublishedAndTheChannelStays() async throws {
        let (federation, store) = try await run("gate-diverging", serverLearningRate: 1000)
        defer { federation.stopAll() }
        let versions = try store.versions()
        #expect(versions.map(\.version) == [0, 1, 2, 3])
        // v0 (all zeros: loss ln 10) was scored in round 1, v1 and v2 in rounds 2 and 3; v3 waits.
        let initial = try #require(versions[0].validationMetrics)
        // Within 6σ of the noise: σ per coordinate of the sum (every share), over a summed count of
        // 3·C·√s/√5 (s = 0.1), is σ on the count; the summed losses (capped at L = 10) carry L·σ,
        // so loss = Σℓ/count is off by σ·√(L² + ℓ²) with ℓ = ln 10. Six checks in this test, each
        // a false alarm about once in 10^9 runs.
        let entry = try #require(try PrivacyLedger.openForAudit(path: federation.coordinatorLedger).entries().first)
        let sigma = entry.noiseInTheSum / (3 * entry.clipNorm * 0.1.squareRoot() / 5.0.squareRoot())
        let lossSigma = sigma * (FederatedEvaluation.lossCap * FederatedEvaluation.lossCap + log(10) * log(10)).squareRoot()
        #expect(abs(initial.loss - log(10)) < 6 * lossSigma, "v0's federated loss \(initial.loss), σ \(lossSigma)")
        for v in versions[1...2] {
            let metrics = try #require(v.validationMetrics)
            #expect(v.status == .notPublished && metrics.loss > initial.loss, "v\(v.version): \(v.status), loss \(metrics.loss)")
        }
        #expect(versions[3].status == .candidate)
        #expect(try store.publishedVersion()?.version == 0, "the published channel does not move")
        #expect(readLog(federation, "coordinator").contains("candidate evaluated, not published"))
        // The next version's signed manifest carries its parent's federated evaluation (lineage).
        #expect(try manifest(versions[2]).parentEvaluation == versions[1].validationMetrics)
        // What the coordinator holds is the federation's sum: the count of the three organizations
        // that held records out (organization unit: each sends its mean), never one of them alone.
        let sigmaCount = 3 * sigma
        for v in versions[0...2] {
            #expect(abs((v.validationMetrics?.count ?? 0) - 3) < 6 * sigmaCount, "v\(v.version): count \(v.validationMetrics?.count ?? 0)")
        }
    }

    /// Positive control: the same federation with a learning rate that learns publishes. Without
    /// noise (benchmark mode), so that its small per-round improvements are seen exactly: with
    /// three organizations at organization level, the loss's noise (σ ≈ 0.2) exceeds them.
    @Test func anImprovingCandidateIsPublished() async throws {
        let (federation, store) = try await run("gate-learning", serverLearningRate: 1, noiseless: true)
        defer { federation.stopAll() }
        let versions = try store.versions()
        #expect(versions[1].status == .published && versions[2].status == .published, "\(versions.map(\.status))")
        #expect(versions[0...2].allSatisfy { $0.validationMetrics?.lossNoise == 0 })
        #expect(try store.publishedVersion()?.version == 2)
        let losses = versions[0...2].compactMap { $0.validationMetrics?.loss }
        #expect(losses.count == 3 && losses[2] < losses[0], "federated losses \(losses)")

        // An operator rolls the published channel back to version 1: signed, recorded, v2 rolled back.
        let coordinator = TestEnvironment.executables + "/tally-coordinator"
        let rollback = try await Subprocess.run(
            coordinator, ["registry", "rollback", "--config", federation.coordinatorConfig, "--to", "1", "--reason", "test"],
            timeout: .seconds(60))
        #expect(rollback.status == 0, "\(rollback.output)")
        #expect(try store.publishedVersion()?.version == 1)
        #expect(try store.versions()[2].status == .rolledBack)
        let move = try #require(try store.channelMoves().last)
        let statement = try JSONDecoder().decode(ChannelStatement.self, from: Data(move.statement))
        #expect(move.version == 1 && statement.publishedVersion == 1 && statement.modelHash == versions[1].modelHash)
        let trust = try FederationTrust(caFile: federation.pki + "/ca/ca.crt")
        let (identity, key) = try await trust.verify(pem: statement.coordinatorCertificate)
        #expect(identity == .coordinator)
        try key.verify(move.signature, for: move.statement)
        var tampered = move.statement
        tampered[tampered.count / 2] ^= 1
        #expect(throws: TallyError.self) { try key.verify(move.signature, for: tampered) }
        // A version that was never published cannot be rolled back to.
        let refused = try await Subprocess.run(
            coordinator, ["registry", "rollback", "--config", federation.coordinatorConfig, "--to", "3"], timeout: .seconds(60))
        #expect(refused.status != 0 && refused.output.contains("version 3 was never published"), "\(refused.output)")
        #expect(try store.publishedVersion()?.version == 1)
    }
}
