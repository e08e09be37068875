import Foundation
import TallyCore
import Testing

@testable import TallyModel

@Suite struct FederatedEvaluationTests {
    /// A 3-class logistic regression that predicts class 0 for examples with a large first
    /// feature, class 1 otherwise (never class 2); 6 examples, 5 of them right.
    static func fixture() throws -> (LogisticRegression, Dataset) {
        // Parameters: weights [class][feature] then biases.
        let model = try LogisticRegression(featureCount: 2, classCount: 3, parameters: [5, 0, 0, 0, 0, 0, 0, 1, -5])
        let data = try Dataset(
            features: [1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 0], labels: [0, 0, 1, 2, 0, 1], featureCount: 2, classCount: 3)
        return (model, data)
    }

    @Test func theSumsGiveAccuracyLossAndPerClassRecall() throws {
        let (model, data) = try Self.fixture()
        let evaluation = FederatedEvaluation()
        for recordUnit in [true, false] {
            let c = evaluation.recordScale(clipNorm: 3, recordUnit: recordUnit)
            let sum = try FederatedEvaluation.sum(model, on: data, indices: Array(0..<6), scale: c)
            #expect(sum.count == FederatedEvaluation.length(classCount: 3))
            let metrics = try #require(FederatedEvaluation.metrics(fromSum: sum, scale: c))
            #expect(abs(metrics.count - 6) < 1e-9)
            #expect(abs(metrics.accuracy - (try model.accuracy(on: data))) < 1e-12)
            #expect(abs(metrics.loss - (try model.loss(on: data))) < 1e-6, "no loss here reaches the cap")
            let predictions = try model.predictions(on: data)
            for k in 0..<3 {
                let members = (0..<6).filter { data.labels[$0] == k }
                let right = members.filter { predictions[$0] == k }.count
                #expect(metrics.classRecall[k] == Double(right) / Double(members.count), "class \(k)")
            }
            #expect(metrics.accuracyNoise == nil)
        }
    }

    @Test func oneRecordMovesTheSumByAtMostItsShareOfTheClipNorm() throws {
        let (model, data) = try Self.fixture()
        // Records the model gets right and one it gets wrong (with a loss of about 6).
        let evaluation = FederatedEvaluation(organizationShare: 0.3)
        for (recordUnit, bound) in [(true, 3.0), (false, 3 * 0.3.squareRoot())] {
            let c = evaluation.recordScale(clipNorm: 3, recordUnit: recordUnit)
            var largest = 0.0
            for i in 0..<6 {
                let one = try FederatedEvaluation.sum(model, on: data, indices: [i], scale: c)
                largest = max(largest, one.map { $0 * $0 }.reduce(0, +).squareRoot())
            }
            #expect(largest <= bound + 1e-12, "record unit \(recordUnit): \(largest) against \(bound)")
        }
        // The update keeps the rest: ‖(Δ, e)‖² ≤ C²(1 − s) + C²s = C².
        #expect(abs(pow(evaluation.updateClipNorm(clipNorm: 3), 2) + pow(3 * 0.3.squareRoot(), 2) - 9) < 1e-12)
    }

    @Test func noisySumsAreClampedAndAnEmptyOneGivesNothing() {
        let c = 0.5
        // 10 records, "12" correct and a negative loss sum: noise did that.
        let noisy = [10 * c, 12 * c, -1 * c, 5 * c, 5 * c, 0.5 * c, 0.2 * c, 0, 0]
        let metrics = FederatedEvaluation.metrics(fromSum: noisy, scale: c, noise: 0.1)
        #expect(metrics?.accuracy == 1 && metrics?.loss == 0)
        #expect(metrics?.classRecall == [0.04, 0, nil], "class 2's noisy count is below one")
        #expect((metrics?.accuracyNoise ?? 0) > 0 && (metrics?.lossNoise ?? 0) > 0)
        #expect(FederatedEvaluation.metrics(fromSum: [0.4 * c, 0, 0, 0, 0, 0, 0, 0, 0], scale: c) == nil, "below one record")
        #expect(FederatedEvaluation.metrics(fromSum: [1, 2], scale: c) == nil, "not a sum of this shape")
    }

    @Test func theRoundVectorGrowsOnlyForTrainingRoundsOfBuiltInClassifiers() throws {
        let model = try ModelState.zeros(.logisticRegression(featureCount: 4, classCount: 3))
        #expect(model.roundVectorLength(evaluating: FederatedEvaluation()) == model.parameterCount + 9)
        #expect(model.roundVectorLength(evaluating: nil) == model.parameterCount)
        let pending = model.with(standardization: Standardization(lower: [0], upper: [1]))
        #expect(pending.roundVectorLength(evaluating: FederatedEvaluation()) == 9, "a moments round evaluates nothing")
        let flat = try ModelState.zeros(.flat(dimension: 10))
        #expect(flat.roundVectorLength(evaluating: FederatedEvaluation()) == 10)
    }

    /// A share outside (0, 1) would break an organization's clip (√(1 − s) undefined or the two
    /// parts over C): refused, naming where it came from.
    @Test func aShareOutsideTheUnitIntervalIsRefused() throws {
        try FederatedEvaluation(organizationShare: 0.1).validate(what: "manifest")
        for share in [0, 1, 5, -0.5, Double.nan] {
            let error = #expect(throws: TallyError.self) { try FederatedEvaluation(organizationShare: share).validate(what: "manifest") }
            #expect(error?.message.contains("manifest.organizationShare") == true, "\(share)")
        }
    }
}
