import Foundation
import TallyCoordinator
import TallyCore
import TallyLocalFederation
import TallyModel
import TallyParticipant
import TallyTestSupport
import Testing

/// The operator's `model` key: checked with errors naming the key, and the model it describes is
/// what the federation publishes and every site trains.
@Suite(.serialized) struct ModelConfigurationTests {
    /// Each bad setting, by name, and what the error must say.
    static let bad: [(name: String, message: String)] = [
        ("kind", "model.kind must be one of"), ("hidden", "model.hidden must list"),
        ("activation", "model.activation must be relu or tanh"), ("external", "model.kind external needs model.initialWeights"),
        ("classCount", "classCount in 2...256"), ("features", "model.features must be one of"),
        ("featuresNotSquare", "785 features are not a square number of pixels"),
        ("featuresExternal", "model.features applies to built-in models"),
    ]

    @Test(arguments: bad)
    func badModelSettingsAreRefusedNamingTheKey(name: String, message: String) {
        var settings = ModelSettings()
        switch name {
        case "kind": settings.kind = "cnn"
        case "hidden": (settings.kind, settings.hidden) = ("mlp", [])
        case "activation": (settings.kind, settings.activation) = ("mlp", "sigmoid")
        case "external": settings.kind = "external"
        case "features": settings.features = "wavelets"
        case "featuresNotSquare": (settings.features, settings.featureCount) = ("scattering", 785)
        case "featuresExternal": (settings.kind, settings.initialWeights, settings.features) = ("external", "m.safetensors", "scattering")
        default: settings.classCount = 1
        }
        #expect(throws: TallyError.self) { try settings.validate() }
        do { try settings.validate() } catch { #expect(error.message.contains(message), "\(error.message)") }
    }

    /// ScatterNet features: the model takes what the transform makes of the sites' 28×28 images,
    /// and the transform travels in the model file, so a site cannot train on other inputs.
    @Test func scatteringFeaturesSizeTheModelAndTravelInItsFile() throws {
        var settings = ModelSettings()
        settings.features = "scattering"
        try settings.validate()
        let model = try settings.initialModel()
        #expect(model.features == .scattering && model.spec == .logisticRegression(featureCount: 81 * 7 * 7, classCount: 10))
        let file = try model.safeTensors()
        #expect(file.metadata[ModelState.featuresKey] == "scattering")
        let back = try ModelState(safeTensors: try SafeTensors(serialized: file.serialized()))
        #expect(back.features == .scattering && back.spec == model.spec)
        // Without the key (every file written before features existed): raw inputs.
        #expect(try ModelState(safeTensors: try ModelSettings().initialModel().safeTensors()).features == FeatureTransform.none)
        // A file naming a transform this build does not know is refused, naming it.
        let unknown = try model.spec.layout.safeTensors(
            model.parameters, metadata: model.spec.metadata.merging([ModelState.featuresKey: "wavelets"]) { $1 })
        #expect {
            try ModelState(safeTensors: try SafeTensors(serialized: unknown.serialized()))
        } throws: { error in
            (error as? TallyError)?.message.contains("\"wavelets\"") == true
        }
    }

    @Test func anExternalModelIsTheOperatorsFileAndOnlyF32IsAccepted() throws {
        let directory = try TestDirectories.make("external-model")
        let good = try SafeTensors(tensors: [
            "encoder.weight": .init(shape: [3, 2], values: [Float](repeating: 0.5, count: 6)),
            "encoder.bias": .init(shape: [3], values: [Float]([1, 2, 3])),
        ])
        try Data(good.serialized()).write(to: URL(fileURLWithPath: directory + "/good.safetensors"))
        var settings = ModelSettings()
        settings.kind = "external"
        settings.initialWeights = directory + "/good.safetensors"
        let model = try settings.initialModel()
        #expect(model.parameterCount == 9)
        #expect(try model.spec.layout.entries.map(\.name) == ["encoder.bias", "encoder.weight"], "byte order of the names")

        let doubles = try SafeTensors(tensors: ["w": .init(shape: [2], values: [Double]([1, 2]))])
        try Data(doubles.serialized()).write(to: URL(fileURLWithPath: directory + "/f64.safetensors"))
        settings.initialWeights = directory + "/f64.safetensors"
        #expect {
            try settings.initialModel()
        } throws: { error in
            (error as? TallyError)?.message.contains("must be F32") == true
        }
    }

    @Test func anMLPFederationPublishesAnMLPAndSitesScoreItOnTheirHeldOutPart() async throws {
        let federation = try makeFederation("mlp-federation", participants: 3, rounds: 1, stageTimeout: 30) {
            $0.training = TrainingSettings(localEpochs: 1, batchSize: 32, learningRate: 0.1, seed: 1)
            $0.model.kind = "mlp"
            $0.model.hidden = [16]
        }
        defer { federation.stopAll() }
        for i in 1...3 {
            var configuration = federation.participantConfiguration(i)
            configuration.data.heldOutFraction = 0.1
            try Data(StrictJSON.encode(configuration)).write(to: URL(fileURLWithPath: federation.participantConfig(i)))
            try federation.startParticipant(i)
        }
        let coordinator = try federation.startCoordinator()
        try #require(await waitForExit(coordinator, seconds: 180), "the round should be released:\n\(readLog(federation, "coordinator"))")
        let version = try #require(try openStore(federation)?.latestVersion())
        #expect(version.version == 1)
        let registry = try ModelRegistry(directory: federation.coordinatorData + "/registry")
        let model = try ModelState(safeTensors: SafeTensors(serialized: registry.blob(hash: version.modelHash)))
        #expect(model.spec == .multilayerPerceptron(featureCount: 784, hidden: [16], activation: .relu, classCount: 10))
        for i in 1...3 {
            let log = readLog(federation, "participant-\(i)")
            #expect(log.contains("local evaluation of the global model") && log.contains("held_out="), "participant \(i):\n\(log)")
        }
    }
}
