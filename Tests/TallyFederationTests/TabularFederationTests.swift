import Foundation
import TallyCoordinator
import TallyCore
import TallyLocalFederation
import TallyModel
import TallyParticipant
import TallyTestSupport
import TallyWire
import Testing

/// Organizations with their own CSV files of one tabular task, each too small to learn it well
/// alone, learn it together: the released model scores better on a common test file than the model
/// each organization trains alone on its own file for as many epochs.
extension FederationEndToEndTests {
    static let featureCount = 16

    /// A linear rule in 16 features with label noise; `count` rows from `seed`.
    static func tabularRows(count: Int, seed: UInt64) -> [(features: [Double], label: Int)] {
        var state = seed
        func uniform() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        let weights = [1.5, -2.0, 0.8, 1.1, -0.6, 2.2, -1.3, 0.4, 0.9, -1.7, 1.2, -0.3, 0.7, -1.0, 1.8, -0.5]
        return (0..<count).map { _ in
            let x = (0..<featureCount).map { _ in uniform() * 2 - 1 }
            let margin = zip(weights, x).reduce(0) { $0 + $1.0 * $1.1 }
            let flip = uniform() < 0.05
            return (x, (margin > 0) != flip ? 1 : 0)
        }
    }

    static func writeCSV(_ rows: [(features: [Double], label: Int)], to path: String) throws {
        let header = (0..<featureCount).map { "f\($0)" } + ["outcome"]
        let lines = rows.map { row in
            (row.features.map { String(format: "%.5f", $0) } + [row.label == 1 ? "yes" : "no"]).joined(separator: ",")
        }
        try Data(([header.joined(separator: ",")] + lines).joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
    }

    static func csvSource(_ path: String, heldOut: Double = 0) throws -> ParticipantConfiguration.DataSource {
        var data = ParticipantConfiguration.DataSource()
        data.heldOutFraction = heldOut
        data.source = DataSourceConfiguration(kind: .csv)
        data.source?.path = path
        data.source?.labelColumn = "outcome"
        data.schema = try DataSchema(featureNames: (0..<featureCount).map { "f\($0)" }, classes: ["no", "yes"])
        return data
    }

    /// Writes each organization's CSV file (`rows(i)`, a quarter held out) and points its
    /// configuration's `data` at it.
    static func giveSitesCSVFiles(
        _ federation: LocalFederation, organizations: Int, rows: (Int) -> [(features: [Double], label: Int)]
    ) throws {
        for i in 1...organizations {
            let path = federation.options.directory + "/site-\(i).csv"
            try writeCSV(rows(i), to: path)
            let configPath = federation.participantConfig(i)
            var settings = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as? [String: Any])
            settings["data"] = [
                "source": ["kind": "csv", "path": path, "labelColumn": "outcome"],
                "schema": ["featureNames": (0..<featureCount).map { "f\($0)" }, "classes": ["no", "yes"]],
                "heldOutFraction": 0.25,
            ]
            try JSONSerialization.data(withJSONObject: settings).write(to: URL(fileURLWithPath: configPath))
        }
    }

    @Test func organizationsWithTheirOwnCSVFilesLearnATabularTaskBetterTogether() async throws {
        let (organizations, rounds) = (3, 10)
        let training = TrainingSettings(localEpochs: 4, batchSize: 8, learningRate: 0.1, seed: 1)
        let federation = try makeFederation("tabular", participants: organizations, rounds: rounds) { options in
            options.model.featureCount = Self.featureCount
            options.model.classCount = 2
            options.training = training
            options.privacy = PrivacySettings(targetEpsilon: 100_000, delta: 1e-5)
            options.participantBudgetEpsilon = 150_000
            options.clipNorm = 10
        }
        defer { federation.stopAll() }
        let directory = federation.options.directory
        // Each organization holds 28 rows of its own (a quarter held out for its local evaluation);
        // the test file is common and never trained on.
        try Self.giveSitesCSVFiles(federation, organizations: organizations) { Self.tabularRows(count: 28, seed: UInt64(100 + $0)) }
        try Self.writeCSV(Self.tabularRows(count: 2_000, seed: 7), to: directory + "/test.csv")
        let test = try #require(try LocalData(source: try Self.csvSource(directory + "/test.csv")).train)

        let coordinator = try federation.startCoordinator()
        for i in 1...organizations { try federation.startParticipant(i) }
        try #require(await waitForExit(coordinator, seconds: 180), "the coordinator should finish its \(rounds) rounds")
        #expect(coordinator.exitStatus == 0, "coordinator log:\n\(readLog(federation, "coordinator"))")
        let store = try #require(openStore(federation))
        let latest = try #require(try store.latestVersion())
        #expect(latest.version == Int64(rounds))
        let registry = try ModelRegistry(directory: federation.coordinatorData + "/registry")
        let federated = try ModelState(safeTensors: try SafeTensors(serialized: try registry.blob(hash: latest.modelHash)))
        let together = try #require(try federated.accuracy(on: test))

        // Each alone: the same 21 training rows, the same local training, as many epochs as the federation ran.
        var alone: [Double] = []
        for i in 1...organizations {
            let own = try #require(try LocalData(source: try Self.csvSource(directory + "/site-\(i).csv", heldOut: 0.25)).train)
            var settings = training
            settings.localEpochs = rounds * training.localEpochs
            let start = try ModelState.zeros(.logisticRegression(featureCount: Self.featureCount, classCount: 2))
            let update = try await LogisticRegressionTrainer(data: own).update(global: start.parameters, settings: settings)
            let trained = ModelState(spec: start.spec, parameters: zip(start.parameters, update).map { $0 + $1 })
            alone.append(try #require(try trained.accuracy(on: test)))
        }
        let best = try #require(alone.max())
        #expect(together > best, "together \(together) vs alone \(alone)")
        print("tabular task, test accuracy: federation \(together), each organization alone \(alone)")
        #expect(readLog(federation, "participant-1").contains("auc="), "two-class local evaluation logs the AUC")
    }
}
