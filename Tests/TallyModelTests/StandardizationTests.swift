import Foundation
import TallyCore
import Testing

@testable import TallyModel

@Suite struct StandardizationTests {
    /// 400 rows of 3 features on very different scales, with a known mean and spread each.
    static func data(seed: UInt64 = 5) throws -> Dataset {
        var random = SimulationRandom(seed: seed)
        func gaussian() -> Double {
            (-2 * Foundation.log(random.openUnitInterval())).squareRoot() * Foundation.cos(2 * Double.pi * random.unitInterval())
        }
        var features: [Float] = []
        var labels: [UInt8] = []
        for i in 0..<400 {
            features += [Float(0.05 + 0.02 * gaussian()), Float(1500 + 300 * gaussian()), Float(random.unitInterval())]
            labels.append(UInt8(i % 2))
        }
        return try Dataset(features: features, labels: labels, featureCount: 3, classCount: 2)
    }

    static let bounds = Standardization(lower: [-0.1, 0, 0], upper: [0.2, 5000, 1])

    static func columnStatistics(_ data: Dataset, _ j: Int) -> (mean: Double, std: Double) {
        let values = (0..<data.count).map { Double(data.features(of: $0)[data.features(of: $0).startIndex + j]) }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        return (mean, variance.squareRoot())
    }

    @Test func momentsWithoutNoiseGiveEachFeaturesMeanAndSpread() throws {
        let data = try Self.data()
        for clipNorm in [0.5, 10] {
            let sum = try Self.bounds.momentsSum(of: data, indices: Array(0..<data.count), clipNorm: clipNorm)
            #expect(sum.count == Standardization.momentsLength(featureCount: 3))
            let measured = try Self.bounds.measured(fromMomentsSum: sum, clipNorm: clipNorm)
            for j in 0..<3 {
                let (mean, std) = Self.columnStatistics(data, j)
                #expect(abs(measured.mean![j] - mean) < 1e-6 * max(1, abs(mean)), "feature \(j)")
                #expect(abs(measured.scale![j] - std) < 1e-5 * max(1, std), "feature \(j)")
            }
            // An organization's mean of the record vectors gives the same ratios.
            let perRecord = sum.map { $0 / Double(data.count) }
            let fromMean = try Self.bounds.measured(fromMomentsSum: perRecord, clipNorm: clipNorm)
            #expect(zip(fromMean.mean!, measured.mean!).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($1)) })
        }
    }

    @Test func oneRecordMovesTheSumByAtMostTheClipNormWhateverItsValues() throws {
        // Values far outside the bounds, and inside them.
        let extreme = try Dataset(features: [1e30, -1e30, 0.5, 0.1, 2500, 0.3], labels: [0, 1], featureCount: 3, classCount: 2)
        for i in 0..<2 {
            let sum = try Self.bounds.momentsSum(of: extreme, indices: [i], clipNorm: 2)
            let norm = sum.map { $0 * $0 }.reduce(0, +).squareRoot()
            #expect(norm <= 2 + 1e-12, "record \(i): \(norm)")
        }
        // The worst case (every u at 1) reaches it exactly: the bound is tight, not loose.
        let top = try Dataset(features: [0.2, 5000, 1], labels: [0], featureCount: 3, classCount: 2)
        let norm = try Self.bounds.momentsSum(of: top, indices: [0], clipNorm: 2).map { $0 * $0 }.reduce(0, +).squareRoot()
        #expect(abs(norm - 2) < 1e-12)
    }

    @Test func appliedStandardizationCentresAndScalesEveryFeature() throws {
        let data = try Self.data()
        let sum = try Self.bounds.momentsSum(of: data, indices: Array(0..<data.count), clipNorm: 1)
        let standardized = try Self.bounds.measured(fromMomentsSum: sum, clipNorm: 1).apply(to: data)
        for j in 0..<3 {
            let (mean, std) = Self.columnStatistics(standardized, j)
            #expect(abs(mean) < 1e-3 && abs(std - 1) < 1e-3, "feature \(j): mean \(mean), std \(std)")
        }
        #expect(try Self.bounds.apply(to: data).features == data.features, "pending: nothing applied")
    }

    @Test func noiseThatLeavesTheUnitIntervalIsClampedAndTooMuchNoiseIsRefused() throws {
        let d = 2
        let c = 1 / Double(Standardization.momentsLength(featureCount: d)).squareRoot()
        let bounds = Standardization(lower: [0], upper: [10])
        // A count of 100 with a negative second moment and a mean above 1: noise did that.
        let noisy = [100 * c, 150 * c, 0, -5 * c, 30 * c]
        let measured = try bounds.measured(fromMomentsSum: noisy, clipNorm: 1)
        #expect(measured.mean == [10, 5])
        #expect(measured.scale![0] == 10 * Standardization.minimumRelativeScale)
        #expect(measured.scale!.allSatisfy { $0 > 0 && $0 <= 5 })
        #expect(throws: TallyError.self) { try bounds.measured(fromMomentsSum: [-3 * c, 0, 0, 0, 0], clipNorm: 1) }
    }

    @Test func theModelFileCarriesItUnderItsHashAndRefusesWhatDoesNotFit() throws {
        let spec = ModelSpec.logisticRegression(featureCount: 3, classCount: 2)
        let pending = try ModelState.zeros(spec).with(standardization: Self.bounds)
        #expect(pending.measuresMoments && pending.roundVectorLength == 7)
        let read = try ModelState(safeTensors: try SafeTensors(serialized: try pending.safeTensors().serialized()))
        #expect(read.standardization == Self.bounds && read.roundVectorLength == 7)
        let fixed = pending.with(standardization: Standardization(mean: [1, 2, 3], scale: [1, 1, 2]))
        #expect(!fixed.measuresMoments && fixed.roundVectorLength == fixed.parameterCount)

        func file(_ json: String) throws -> [UInt8] {
            var metadata = spec.metadata
            metadata[Standardization.metadataKey] = json
            return try spec.layout.safeTensors(pending.parameters, metadata: metadata).serialized()
        }
        for (json, words) in [
            ("{\"mean\":[1,2],\"scale\":[1,1]}", "the model has 3 features"),
            ("{\"mean\":[1,2,3],\"scale\":[1,0,1]}", "scale[1] must be positive"),
            ("{\"lower\":[0],\"upper\":[1,0,1]}", "feature 1 has 0.0 and 0.0"),
            ("{\"lower\":[0],\"uper\":[1]}", "unknown key"),
            ("{}", "give lower and upper"),
        ] {
            let error = #expect(throws: TallyError.self) { try ModelState(safeTensors: try SafeTensors(serialized: try file(json))) }
            #expect("\(error.map { "\($0)" } ?? "")".contains(words), "\(json): \(String(describing: error))")
        }
    }
}
