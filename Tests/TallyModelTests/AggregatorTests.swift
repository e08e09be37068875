import TallyCore
import TallyModel
import Testing

@Suite struct ModelAggregatorTests {
    @Test func federatedAveragingAddsTheMeanUpdate() throws {
        var aggregator: any Aggregator = FederatedAveraging()
        let next = try aggregator.aggregate(global: [1, 2, 3, -4], meanUpdate: [0.5, -1, 0, 0.25])
        #expect(next == [1.5, 1, 3, -3.75])
        #expect(try aggregator.aggregate(global: [], meanUpdate: []).isEmpty)
    }

    @Test func federatedAveragingRefusesAMeanOfAnotherSize() {
        #expect(throws: TallyError.self) { try FederatedAveraging().aggregate(global: [1, 2, 3], meanUpdate: [1, 2]) }
        #expect(throws: TallyError.self) { try FederatedAveraging().aggregate(global: [1], meanUpdate: [1, 2]) }
    }
}
