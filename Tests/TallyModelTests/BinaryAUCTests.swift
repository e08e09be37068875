import TallyCore
import Testing

@testable import TallyModel

/// The ROC AUC a site logs for two-class tasks: the rank statistic, checked against the pairwise
/// definition, with ties counted half, and through a model's scores.
@Suite struct BinaryAUCTests {
    /// P(score of a positive > score of a negative) + ½ P(equal), by counting every pair.
    func pairwise(_ examples: [(score: Float, positive: Bool)]) -> Double {
        var wins = 0.0, pairs = 0.0
        for p in examples where p.positive {
            for n in examples where !n.positive {
                pairs += 1
                wins += p.score > n.score ? 1 : (p.score == n.score ? 0.5 : 0)
            }
        }
        return wins / pairs
    }

    @Test func ranksEqualThePairwiseDefinitionTiesIncluded() throws {
        // 3 positives, 3 negatives; one tie between classes at 0.4: 8.5 of 9 pairs.
        let small: [(score: Float, positive: Bool)] = [(0.9, true), (0.4, true), (0.8, true), (0.4, false), (0.1, false), (0.3, false)]
        #expect(BinaryAUC.auc(small) == 8.5 / 9)
        var state: UInt64 = 11
        let many: [(score: Float, positive: Bool)] = (0..<500).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float((state >> 40) % 50), (state >> 20) % 3 == 0)
        }
        let auc = try #require(BinaryAUC.auc(many))
        #expect(abs(auc - pairwise(many)) < 1e-12)
        // Perfect, reversed, and one class only.
        #expect(BinaryAUC.auc([(1, true), (0, false)]) == 1 && BinaryAUC.auc([(0, true), (1, false)]) == 0)
        #expect(BinaryAUC.auc([(1, true), (2, true)]) == nil)
    }

    @Test func aTwoClassModelReportsItsAUCAndOthersNone() throws {
        // One feature; class 1 scores higher with it: weight row 1 = +1, row 0 = −1.
        let data = try Dataset(features: [2, -1, 0.5, -3, 1], labels: [1, 0, 0, 0, 1], featureCount: 1, classCount: 2)
        let model = ModelState(spec: .logisticRegression(featureCount: 1, classCount: 2), parameters: [-1, 1, 0, 0])
        // Positives score 4 and 2; negatives −2, 1, −6: every pair ranked right.
        #expect(try model.auc(on: data) == 1)
        let reversed = ModelState(spec: .logisticRegression(featureCount: 1, classCount: 2), parameters: [1, -1, 0, 0])
        #expect(try reversed.auc(on: data) == 0)
        let three = try Dataset(features: [1, 2, 3], labels: [0, 1, 2], featureCount: 1, classCount: 3)
        #expect(try ModelState.zeros(.logisticRegression(featureCount: 1, classCount: 3)).auc(on: three) == nil)
    }
}
