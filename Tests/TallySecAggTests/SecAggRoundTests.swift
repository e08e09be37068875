import TallyCore
import Testing

@testable import TallySecAgg

@Suite struct SecAggRoundTests {
    @Test(arguments: [2, 3, 10, 100])
    func exactSumWithoutDropouts(n: Int) async throws {
        let (config, inputs) = try configuration(n: n, dimension: n >= 100 ? 200 : 1000)
        let outcome = try await RoundSimulator(configuration: config, seed: [1]).run(input: inputs.vector)
        let result = try outcome.result.get()
        #expect(result.contributors == config.cohort)
        #expect(result.dropped.isEmpty)
        #expect(result.sum.unpacked() == inputs.sum(of: config.cohort))
        #expect(outcome.participantErrors.isEmpty)
    }

    /// Dropping n − t participants at any stage still yields the exact sum of those whose input
    /// was counted; dropping one more aborts the round and releases nothing.
    @Test(arguments: RoundSimulator.DropStage.allCases)
    func dropoutsAtEveryStage(stage: RoundSimulator.DropStage) async throws {
        for n in [3, 10] {
            let (config, inputs) = try configuration(n: n, dimension: 300)
            let t = config.threshold
            let simulator = try RoundSimulator(configuration: config, seed: [2])
            for dropCount in [1, n - t, n - t + 1] where dropCount >= 1 {
                let dropped = Array(config.cohort.suffix(dropCount))
                let outcome = await simulator.run(
                    input: inputs.vector, drops: Dictionary(uniqueKeysWithValues: dropped.map { ($0, stage) }))
                if dropCount <= n - t {
                    let result = try outcome.result.get()
                    // Dropping after the masked input was sent: the input is counted.
                    let counted = stage > .beforeMaskedInput ? config.cohort : config.cohort.filter { !dropped.contains($0) }
                    #expect(result.contributors == counted, "n=\(n) stage=\(stage) drop=\(dropCount)")
                    #expect(result.sum.unpacked() == inputs.sum(of: counted))
                    #expect(result.dropped == (stage == .beforeMaskedInput ? dropped : []))
                } else {
                    guard case .failure(let error) = outcome.result else {
                        Issue.record("n=\(n) stage=\(stage): \(dropCount) dropouts with t=\(t) must abort")
                        continue
                    }
                    #expect(error.code == .belowThreshold)
                }
            }
        }
    }

    @Test func maximumDropoutAtScaleHundred() async throws {
        let (config, inputs) = try configuration(n: 100, dimension: 100)
        let dropped = Array(config.cohort.suffix(100 - config.threshold))
        let outcome = try await RoundSimulator(configuration: config, seed: [3])
            .run(input: inputs.vector, drops: Dictionary(uniqueKeysWithValues: dropped.map { ($0, .beforeMaskedInput) }))
        let result = try outcome.result.get()
        #expect(result.dropped == dropped)
        #expect(result.sum.unpacked() == inputs.sum(of: result.contributors))
    }

    @Test func hararyGraphWithDropouts() async throws {
        let n = 60
        let (config, inputs) = try configuration(n: n, threshold: 8, dimension: 200, graph: .harary(degree: 12))
        let graph = try NeighbourGraph(configuration: config)
        for id in config.cohort {
            let neighbours = graph.neighbours(of: id)
            #expect(neighbours.count == 12 && !neighbours.contains(id))
            for peer in neighbours { #expect(graph.areNeighbours(peer, id)) }
        }
        // Drop every fifth participant at different stages.
        var drops: [ParticipantID: RoundSimulator.DropStage] = [:]
        for (i, id) in config.cohort.enumerated() where i % 5 == 0 {
            drops[id] = RoundSimulator.DropStage.allCases[(i / 5) % RoundSimulator.DropStage.allCases.count]
        }
        let outcome = try await RoundSimulator(configuration: config, seed: [4]).run(input: inputs.vector, drops: drops)
        let result = try outcome.result.get()
        #expect(result.sum.unpacked() == inputs.sum(of: result.contributors))
        #expect(result.contributors.count == n - drops.values.filter { $0 <= .beforeMaskedInput }.count)
    }

    @Test func parametersForLargeCohorts() throws {
        let choice = try SecAggPlusParameters.choose(cohortSize: 1000, dropoutRate: 0.1, corruptionRate: 0.05)
        guard case .harary(let k) = choice.graph else { Issue.record("n = 1000 should use a sparse graph"); return }
        #expect(k < 200 && k % 2 == 0)
        #expect(choice.threshold > (k + 1) / 2 && choice.threshold <= k + 1)
        #expect(choice.log2PrivacyFailure <= -40 && choice.log2CorrectnessFailure <= -20)
        // Higher dropout needs at least as large a neighbourhood.
        let worse = try SecAggPlusParameters.choose(cohortSize: 1000, dropoutRate: 0.3, corruptionRate: 0.05)
        #expect(worse.graph.neighbourhoodSize(cohortSize: 1000) >= choice.graph.neighbourhoodSize(cohortSize: 1000))
        // A small cohort gets the complete graph.
        #expect(try SecAggPlusParameters.choose(cohortSize: 10, dropoutRate: 0.1, corruptionRate: 0.05).graph == .complete)
    }

    @Test func configurationRejectsBadThresholds() throws {
        let layout = try SlotLayout(slotWidth: 20, count: 10)
        #expect(code { _ = try SecAggConfiguration(roundID: 1, cohort: cohort(10), threshold: 5, layout: layout) } == .invalidArgument)
        #expect(code { _ = try SecAggConfiguration(roundID: 1, cohort: cohort(10), threshold: 11, layout: layout) } == .invalidArgument)
        #expect(
            code { _ = try SecAggConfiguration(roundID: 1, cohort: [ParticipantID(1)], threshold: 1, layout: layout) } == .invalidArgument)
        #expect(
            code { _ = try SecAggConfiguration(roundID: 1, cohort: [ParticipantID(1), ParticipantID(1)], threshold: 2, layout: layout) }
                == .invalidArgument)
    }
}
