import Foundation
import TallyCoordinator
import TallyCore
import TallyLedger
import TallyLocalFederation
import TallyModel
import TallyParticipant
import TallyTestSupport
import TallyWire
import Testing

/// Organizations whose records hold features on wildly different scales (0.05 to 2,500, as lab
/// values do) learn the task once the federation measures each feature's mean and spread under
/// secure aggregation, with noise, charged to the ledgers like a round. Without standardization
/// the same data defeats SGD even when pooled in one place.
extension FederationEndToEndTests {
    /// Feature j of the tabular task as a site's file holds it: 2·s_j + s_j·x, x in [-1, 1].
    static let rawScales = [0.05, 2500, 1, 300, 0.2, 80, 1000, 0.5, 3, 40, 0.1, 700, 10, 2, 150, 0.05]

    static func rawRows(count: Int, seed: UInt64) -> [(features: [Double], label: Int)] {
        tabularRows(count: count, seed: seed).map { row in
            (zip(row.features, rawScales).map { x, s in 2 * s + s * x }, row.label)
        }
    }

    @Test func organizationsStandardizeRawFeaturesTogetherUnderSecureAggregationAndLearnTheTask() async throws {
        let (organizations, rounds) = (3, 11)
        let training = TrainingSettings(localEpochs: 4, batchSize: 8, learningRate: 0.1, seed: 1)
        let federation = try makeFederation("standardize", participants: organizations, rounds: rounds) { options in
            options.model.featureCount = Self.featureCount
            options.model.classCount = 2
            // Public ranges an operator knows for each measurement; the federation measures the rest.
            options.model.standardization = Standardization(lower: [0], upper: Self.rawScales.map { 4 * $0 })
            options.training = training
            options.privacy = PrivacySettings(targetEpsilon: 100_000, delta: 1e-5)
            options.participantBudgetEpsilon = 150_000
            options.clipNorm = 10
        }
        defer { federation.stopAll() }
        let directory = federation.options.directory
        try Self.giveSitesCSVFiles(federation, organizations: organizations) { Self.rawRows(count: 28, seed: UInt64(100 + $0)) }
        // The coordinator scores every version on its own CSV file (raw features, like the sites').
        let testPath = directory + "/test.csv"
        try Self.writeCSV(Self.rawRows(count: 2_000, seed: 7), to: testPath)
        var coordinatorSettings = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: federation.coordinatorConfig)))
                as? [String: Any])
        coordinatorSettings["evaluationSource"] = ["kind": "csv", "path": testPath, "labelColumn": "outcome"]
        coordinatorSettings["evaluationSchema"] = [
            "featureNames": (0..<Self.featureCount).map { "f\($0)" }, "classes": ["no", "yes"],
        ]
        try JSONSerialization.data(withJSONObject: coordinatorSettings).write(to: URL(fileURLWithPath: federation.coordinatorConfig))
        let test = try #require(try LocalData(source: try Self.csvSource(testPath)).train)

        let coordinator = try federation.startCoordinator()
        for i in 1...organizations { try federation.startParticipant(i) }
        try #require(await waitForExit(coordinator, seconds: 240), "the coordinator should finish its \(rounds) rounds")
        let coordinatorLog = readLog(federation, "coordinator")
        #expect(coordinator.exitStatus == 0, "coordinator log:\n\(coordinatorLog)")
        let store = try #require(openStore(federation))
        let registry = try ModelRegistry(directory: federation.coordinatorData + "/registry")
        func model(_ version: Int64) throws -> ModelState {
            let record = try #require(try store.versions().first { $0.version == version })
            return try ModelState(safeTensors: try SafeTensors(serialized: try registry.blob(hash: record.modelHash)))
        }

        // Version 0 carries the bounds only; the first round measured the moments and published
        // them in version 1, parameters untouched; training started from there.
        #expect(try model(0).measuresMoments == true)
        let first = try model(1)
        let measured = try #require(first.standardization)
        let initial = try model(0)
        #expect(!measured.isPending && first.parameters == initial.parameters)
        let (mean, scale) = (try #require(measured.mean), try #require(measured.scale))
        #expect(readLog(federation, "participant-1").contains("measured the features' moments"))

        // The moments round is in the ledger like any round, and in every site's own ledger.
        let entries = try PrivacyLedger.openForAudit(path: federation.coordinatorLedger).entries()
        #expect(entries.count == rounds && entries.first?.modelVersion == 1)

        // Against the sites' own training rows (equal counts, so the mean of their means is the
        // pooled one). σ per coordinate of the sum (all three noise shares), over the summed count
        // 3·C/√33, is the noise σ_v on each normalized moment; through S_v/S₀ and S_vv/S₀ − mean²
        // (the count noisy too) the mean's error has σ_v·√(1 + m²) and the variance's
        // σ_v·√(1 + 4m² + (s − 2m²)²), s = E[v²]. 32 checks: each within 6σ (a false alarm about
        // once in 10^7 runs), and together a χ² with 32 degrees of freedom below 86 (once in
        // 10^6), which catches a bias no single feature would show.
        let moments = try #require(entries.first)
        let sigmaV = moments.noiseInTheSum / (Double(organizations) * moments.clipNorm / 33.0.squareRoot())
        var rows: [Float] = []
        for i in 1...organizations {
            rows += try #require(try LocalData(source: try Self.csvSource(directory + "/site-\(i).csv", heldOut: 0.25)).train).features
        }
        let n = rows.count / Self.featureCount
        var chiSquare = 0.0
        var zScores: [String] = []
        for (j, s) in Self.rawScales.enumerated() {
            let v = (0..<n).map { 2 * (Double(rows[$0 * Self.featureCount + j]) / (4 * s)) - 1 }
            let meanV = v.reduce(0, +) / Double(n)
            let varV = v.map { ($0 - meanV) * ($0 - meanV) }.reduce(0, +) / Double(n)
            let countTerm = varV - meanV * meanV // s − 2m², with s = E[v²] = var + m²
            let zMean = (2 * mean[j] / (4 * s) - 1 - meanV) / (sigmaV * (1 + meanV * meanV).squareRoot())
            let measuredVarV = (2 * scale[j] / (4 * s)) * (2 * scale[j] / (4 * s))
            let spreadOfVar = sigmaV * (1 + 4 * meanV * meanV + countTerm * countTerm).squareRoot()
            let zVar = (measuredVarV - varV) / spreadOfVar
            chiSquare += zMean * zMean + zVar * zVar
            zScores.append(String(format: "%.2f/%.2f", zMean, zVar))
            #expect(abs(zMean) <= 6, "feature \(j): mean of v off by \(zMean)σ (σ_v \(sigmaV))")
            #expect(abs(zVar) <= 6, "feature \(j): variance of v \(measuredVarV) against \(varV), off by \(zVar)σ")
        }
        print("moments round: σ_v \(sigmaV), χ² \(chiSquare) over 32, z (mean/variance) \(zScores.joined(separator: " "))")
        #expect(chiSquare < 86, "the measured moments are off by more than their noise: χ² \(chiSquare) over 32 values")
        let own = try PrivacyLedger.openForAudit(path: federation.participantLedger(1)).entries()
        #expect(own.first?.roundID == entries.first?.roundID)

        let latest = try #require(try store.latestVersion())
        #expect(latest.version == Int64(rounds))
        let final = try model(latest.version)
        #expect(final.standardization == measured, "later versions keep the measured standardization")
        let together = try #require(try final.accuracy(on: try final.inputs(test)))
        // The coordinator scored it on its CSV file the same way.
        let scored = try #require(latest.accuracy)
        #expect(abs(scored - together) < 1e-9, "coordinator \(scored), here \(together)")

        // Positive control: the same rows pooled in one place, trained as long without
        // standardization, fail on the raw scales.
        var pooledRows: [(features: [Double], label: Int)] = []
        for i in 1...organizations { pooledRows += Self.rawRows(count: 28, seed: UInt64(100 + i)) }
        try Self.writeCSV(pooledRows, to: directory + "/pooled.csv")
        let pooled = try #require(try LocalData(source: try Self.csvSource(directory + "/pooled.csv")).train)
        var settings = training
        settings.localEpochs = (rounds - 1) * training.localEpochs
        let start = try ModelState.zeros(.logisticRegression(featureCount: Self.featureCount, classCount: 2))
        let update = try await LogisticRegressionTrainer(data: pooled).update(global: start.parameters, settings: settings)
        let raw = try #require(try start.with(parameters: zip(start.parameters, update).map { $0 + $1 }).accuracy(on: test))
        print("raw-scale tabular task, test accuracy: federation with federated standardization \(together), pooled without \(raw)")
        #expect(together >= 0.72, "federation with standardization: \(together)")
        #expect(together > raw + 0.1, "standardized federation \(together) vs pooled raw \(raw)")
    }
}
