import Foundation
import TallyCore
import TallyModel
import TallyParticipant
import TallyTestSupport
import Testing

/// A participant configuration whose `data` names a source of the organization's own loads it
/// against the schema it gives, with the held-out part split off; the keys existing files use
/// keep their meaning.
@Suite struct ParticipantDataSourceTests {
    func participant(_ text: String) throws -> ParticipantConfiguration {
        try StrictJSON.decode(
            ParticipantConfiguration.self, from: Array(text.utf8), defaults: ParticipantConfiguration(), file: "participant.json")
    }

    func message(_ text: String) -> String? {
        do {
            let configuration = try participant(text)
            _ = try LocalData(source: configuration.data)
            return nil
        } catch let error as TallyError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func aCSVSourceLoads() throws {
        let directory = try TestDirectories.make("data-source")
        let rows = (0..<40).map { i in "\(i),\(Double(i) / 4),\"\(["low", "high"][i % 2])\"" }
        try Data((["height,weight,class"] + rows).joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: directory + "/site.csv"))
        let text = """
            {
              "data": {
                "source": {"kind": "csv", "path": "\(directory)/site.csv", "labelColumn": "class"},
                "schema": {"featureNames": ["weight", "height"], "classes": ["low", "high"]},
                "heldOutFraction": 0.25,
                "heldOutSeed": 5
              }
            }
            """
        let configuration = try participant(text)
        #expect(configuration.data.source?.kind == .csv)
        let data = try LocalData(source: configuration.data)
        let train = try #require(data.train)
        let heldOut = try #require(data.heldOut)
        #expect(train.count == 30 && heldOut.count == 10 && data.exampleCount == 30)
        #expect(train.featureCount == 2 && train.classCount == 2)
        // Features in the schema's order (weight, then height), whatever the file's.
        let first = Int(train.features[1])
        #expect(train.features[0] == Float(first) / 4 && train.labels[0] == UInt8(first % 2))
        // Never trained on: the held-out heights are not among the training heights.
        let trainedHeights = Set(stride(from: 1, to: train.features.count, by: 2).map { train.features[$0] })
        #expect(stride(from: 1, to: heldOut.features.count, by: 2).allSatisfy { !trainedHeights.contains(heldOut.features[$0]) })
        #expect(configuration.data.summary == "csv \(directory)/site.csv")
    }

    /// A site's 28×28 images become the task's ScatterNet features, training and held-out part
    /// alike, computed once; data that is not square images is refused, naming the transform.
    @Test func scatteringFeaturesAreComputedOnceForBothParts() throws {
        let directory = try TestDirectories.make("data-features")
        let names = (0..<784).map { "p\($0)" }
        var state: UInt64 = 3
        let rows = (0..<12).map { i in
            let pixels = (0..<784).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return String(format: "%.3f", Double((state >> 33) % 1000) / 1000)
            }
            return (pixels + ["\(i % 2)"]).joined(separator: ",")
        }
        try Data(([(names + ["label"]).joined(separator: ",")] + rows).joined(separator: "\n").utf8)
            .write(to: URL(fileURLWithPath: directory + "/images.csv"))
        var configuration = ParticipantConfiguration()
        configuration.data.source = DataSourceConfiguration(kind: .csv)
        configuration.data.source?.path = directory + "/images.csv"
        configuration.data.source?.labelColumn = "label"
        configuration.data.schema = try DataSchema(featureNames: names, classes: ["0", "1"])
        configuration.data.heldOutFraction = 0.25
        let data = try LocalData(source: configuration.data)
        let first = try #require(try data.examples(for: .scattering))
        #expect(first.train.featureCount == 3969 && first.train.count == 9 && first.heldOut?.count == 3)
        #expect(
            first.train.features == (try FeatureTransform.scattering.apply(to: try #require(data.train), height: 28, width: 28)).features)
        let again = try #require(try data.examples(for: .scattering))
        #expect(again.train.features == first.train.features && again.heldOut?.features == first.heldOut?.features)
        #expect(try data.examples(for: .none)?.train.featureCount == 784)

        // Two columns are no image.
        let pairs = (0..<8).map { i in "\(i),\(i * 2),\(i % 2)" }
        try Data((["a,b,label"] + pairs).joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: directory + "/pairs.csv"))
        configuration.data.source?.path = directory + "/pairs.csv"
        configuration.data.schema = try DataSchema(featureNames: ["a", "b"], classes: ["0", "1"])
        let tabular = try LocalData(source: configuration.data)
        #expect {
            try tabular.examples(for: .scattering)
        } throws: { error in
            (error as? TallyError)?.message.contains("model features scattering") == true
        }
        #expect(message("{\"data\": {\"prepareFeatures\": [\"wavelets\"]}}")?.contains("data.prepareFeatures: \"wavelets\"") == true)
    }

    /// A moments round's contribution: the organization unit sends the mean of its records'
    /// vectors, the record unit the sum over its Poisson sample; training and evaluation then see
    /// the standardized examples once the model carries the measured scaling.
    @Test func momentsAreContributedPerUnitAndTheMeasuredScalingIsApplied() throws {
        let directory = try TestDirectories.make("moments")
        let rows = (0..<40).map { i in "\(i),\(Double(i) * 100),\(i % 2)" }
        try Data((["a,b,label"] + rows).joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: directory + "/site.csv"))
        var source = ParticipantConfiguration.DataSource()
        source.source = .csv(path: directory + "/site.csv")
        source.schema = try DataSchema(featureNames: ["a", "b"], classes: ["0", "1"])
        let data = try LocalData(source: source)
        let bounds = Standardization(lower: [0], upper: [40, 4000])
        let model = try ModelState.zeros(.logisticRegression(featureCount: 2, classCount: 2)).with(standardization: bounds)
        let train = try #require(data.train)
        let all = try bounds.momentsSum(of: train, indices: Array(0..<40), clipNorm: 2)

        let organization = try data.momentsContribution(model: model, samplingRate: nil, clipNorm: 2, random: SystemRandom())
        #expect(organization.records == 40 && zip(organization.vector, all).allSatisfy { abs($0 * 40 - $1) < 1e-9 })
        let everyRecord = try data.momentsContribution(model: model, samplingRate: 1, clipNorm: 2, random: SystemRandom())
        #expect(everyRecord.records == 40 && everyRecord.vector == all)
        let sampled = try data.momentsContribution(model: model, samplingRate: 0.25, clipNorm: 2, random: SystemRandom())
        #expect(sampled.records < 40 && sampled.vector[0] < all[0], "a Poisson sample at q = 0.25 of 40 records")

        // Nothing left to measure on a model whose scaling is measured; its examples are standardized.
        let measured = model.with(standardization: try bounds.measured(fromMomentsSum: all, clipNorm: 2))
        #expect(throws: TallyError.self) {
            try data.momentsContribution(model: measured, samplingRate: nil, clipNorm: 2, random: SystemRandom())
        }
        let standardized = try #require(try data.examples(for: measured)?.train)
        let column = (0..<40).map { Double(standardized.features(of: $0)[standardized.features(of: $0).startIndex + 1]) }
        #expect(abs(column.reduce(0, +) / 40) < 1e-4 && abs(column.map { $0 * $0 }.reduce(0, +) / 40 - 1) < 1e-3)
        #expect(try data.examples(for: model)?.train.features == train.features, "pending: the raw examples")
    }

    @Test func mistakesInTheSourceNameTheirKeyAndLine() {
        #expect(
            message("{\"data\": {\n\"source\": {\"kind\": \"csv\",\n\"pth\": \"x.csv\"}}}")
                == "participant.json line 3: invalid value for \"data.source.pth\": unknown key \"pth\" in a data source; did you mean \"path\"?"
        )
        #expect(
            message("{\"data\": {\"schema\": {\"featureCount\": 2,\n \"clases\": [\"a\"]}}}")
                == "participant.json line 2: invalid value for \"data.schema.clases\": unknown key \"clases\" in a data schema; did you mean \"classes\"?"
        )
        #expect(
            message("{\"data\": {\"source\": {\"kind\": \"csv\", \"path\": \"x.csv\"}}}")
                == "data.schema with featureNames is needed for a csv source (its columns are matched by name)")
        #expect(
            message(
                "{\"data\": {\"source\": {\"kind\": \"npy\", \"featuresPath\": \"x\", \"labelsPath\": \"y\", \"heldOutFraction\": 0.1}}}")
                == "data.source: set the held-out part with data.heldOutFraction and data.heldOutSeed")
        #expect(message("{\"data\": {\"heldOutFraction\": 1.5}}") == "data.heldOutFraction must be in [0, 1), got 1.5")
        let missing = message(
            "{\"data\": {\"source\": {\"kind\": \"csv\", \"path\": \"/nonexistent/x.csv\"}, \"schema\": {\"featureNames\": [\"a\"], \"classes\": [\"x\"]}}}"
        )
        #expect(missing?.contains("/nonexistent/x.csv") == true, "\(missing ?? "accepted")")
    }

    /// Today's keys still select the Fashion-MNIST partition, and a held-out part of it never
    /// overlaps the part trained on.
    @Test func theFashionMNISTKeysKeepWorking() throws {
        let configuration = try participant("{\"data\": {\"organizations\": 3, \"index\": 1, \"alpha\": 0.5, \"seed\": 4}}")
        let source = configuration.data.resolvedSource
        #expect(source.kind == .fashionMNISTPartition && source.organizations == 3 && source.index == 1 && source.seed == 4)
        #expect(configuration.data.resolvedSchema == DataSchema.fashionMNIST)
        guard BoundedFile.isRegularFile(FashionMNIST.defaultDirectory + "/train-labels-idx1-ubyte.gz") else { return }
        let data = try LocalData(source: configuration.data)
        let full = try FashionMNIST.loadSplit(prefix: "train")
        let partition = try DirichletPartition(dataset: full, organizations: 3, alpha: 0.5, seed: 4)
        #expect(data.exampleCount == partition.indices[1].count)
        #expect(data.heldOut?.count == 0)
        #expect(data.train?.labels == partition.indices[1].map { full.labels[$0] })
    }
}
