import Foundation
import TallyCore
import Testing

@testable import TallyModel

@Suite struct ModelDirichletPartitionTests {
    /// 10 classes of unequal sizes, interleaved.
    private let labels: [UInt8] = (0..<5_000).map { UInt8(($0 * 7 + $0 / 13) % 10) }

    /// Mean total-variation distance between each organization's class mix and the global mix:
    /// 0 for a perfectly IID split, approaching 1 when organizations hold disjoint classes.
    private func skew(_ partition: DirichletPartition) -> Double {
        let global = partition.indices.flatMap { $0 }.reduce(into: [Double](repeating: 0, count: 10)) { $0[Int(labels[$1])] += 1 }
        let total = global.reduce(0, +)
        let distances = partition.classCounts(labels: labels, classCount: 10).map { counts -> Double in
            let n = Double(counts.reduce(0, +))
            return zip(counts, global).map { abs(Double($0) / n - $1 / total) }.reduce(0, +) / 2
        }
        return distances.reduce(0, +) / Double(distances.count)
    }

    @Test(arguments: [0.05, 0.5, 5.0, 1000.0])
    func everyIndexExactlyOnceAndNoOrganizationEmpty(alpha: Double) throws {
        for organizations in [1, 3, 10, 40] {
            let partition = try DirichletPartition(labels: labels, classCount: 10, organizations: organizations, alpha: alpha, seed: 11)
            #expect(partition.organizationCount == organizations)
            #expect(partition.indices.flatMap { $0 }.sorted() == Array(0..<labels.count))
            #expect(partition.indices.allSatisfy { !$0.isEmpty })
            #expect(partition.indices.allSatisfy { $0 == $0.sorted() })
        }
    }

    @Test func partitionsTheFashionMNISTTrainingSet() throws {
        let (train, _) = try ModelTestData.load()
        let partition = try DirichletPartition(dataset: train, organizations: 10, alpha: 0.5, seed: 1)
        #expect(partition.indices.flatMap { $0 }.sorted() == Array(0..<train.count))
        let perOrganization = partition.classCounts(labels: train.labels, classCount: 10)
        for c in 0..<10 { #expect(perOrganization.reduce(0) { $0 + $1[c] } == train.classCounts()[c]) }
    }

    @Test func minimumSizeIsEnforced() throws {
        // Tiny α on few examples leaves organizations empty before the top-up.
        let few = Array(labels.prefix(200))
        let partition = try DirichletPartition(
            labels: few, classCount: 10, organizations: 20, alpha: 0.01, seed: 3,
            minimumPerOrganization: 5)
        #expect(partition.indices.allSatisfy { $0.count >= 5 })
        #expect(partition.indices.flatMap { $0 }.sorted() == Array(0..<200))
        #expect(throws: TallyError.self) {
            try DirichletPartition(labels: few, classCount: 10, organizations: 41, alpha: 1, seed: 3, minimumPerOrganization: 5)
        }
    }

    @Test func deterministicPerSeed() throws {
        let a = try DirichletPartition(labels: labels, classCount: 10, organizations: 8, alpha: 0.3, seed: 42)
        let b = try DirichletPartition(labels: labels, classCount: 10, organizations: 8, alpha: 0.3, seed: 42)
        let c = try DirichletPartition(labels: labels, classCount: 10, organizations: 8, alpha: 0.3, seed: 43)
        #expect(a == b)
        #expect(a.indices != c.indices)
    }

    @Test func smallAlphaIsMoreSkewedThanLargeAlpha() throws {
        var small = 0.0, large = 0.0
        for seed in UInt64(0)..<5 {
            small += skew(try DirichletPartition(labels: labels, classCount: 10, organizations: 10, alpha: 0.1, seed: seed))
            large += skew(try DirichletPartition(labels: labels, classCount: 10, organizations: 10, alpha: 100, seed: seed))
        }
        small /= 5
        large /= 5
        // Dirichlet(0.1) puts most of a class on one or two organizations; Dirichlet(100) is near IID.
        #expect(small > 0.5)
        #expect(large < 0.1)
        #expect(small > 4 * large)
    }

    /// Marsaglia–Tsang: sample mean and variance of Gamma(k, 1) are both k.
    @Test(arguments: [0.1, 0.5, 1.0, 2.5, 30.0])
    func gammaSamplerHasTheRightMoments(shape: Double) {
        var rng = SimulationRandom(seed: UInt64(shape * 1000))
        let n = 40_000
        var sum = 0.0, sumSquares = 0.0
        for _ in 0..<n {
            let x = rng.logGamma(shape: shape).exponential
            sum += x
            sumSquares += x * x
        }
        let mean = sum / Double(n)
        let variance = sumSquares / Double(n) - mean * mean
        // Standard error of the mean is sqrt(k/n); allow 5 of them.
        #expect(abs(mean - shape) < 5 * (shape / Double(n)).squareRoot(), "mean \(mean) for shape \(shape)")
        #expect(abs(variance / shape - 1) < 0.15, "variance \(variance) for shape \(shape)")
    }

    /// The generator is the published xoshiro256** seeded by SplitMix64 (seed 0 gives the
    /// SplitMix64 reference state e220a8397b1dcdaf, …); outputs from the reference algorithm.
    @Test func simulationRandomMatchesTheReferenceAlgorithm() {
        var rng = SimulationRandom(seed: 0)
        #expect([rng.next(), rng.next(), rng.next()] == [0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0])
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<60_000 { counts[rng.uniform(below: 6)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 500 }) // ~5.5 standard deviations
    }

    @Test func apportionSumsExactly() {
        var rng = SimulationRandom(seed: 9)
        for total in [0, 1, 7, 600, 6_000] {
            for k in [1, 2, 10, 33] {
                let p = DirichletPartition.dirichlet(alpha: 0.2, count: k, rng: &rng)
                let shares = DirichletPartition.apportion(total, proportions: p)
                #expect(shares.reduce(0, +) == total)
                #expect(shares.allSatisfy { $0 >= 0 })
                #expect(zip(shares, p).allSatisfy { abs(Double($0) - $1 * Double(total)) < 1 })
            }
        }
    }

    @Test func invalidArgumentsAreRejected() {
        #expect(throws: TallyError.self) { try DirichletPartition(labels: labels, classCount: 10, organizations: 0, alpha: 1, seed: 0) }
        #expect(throws: TallyError.self) { try DirichletPartition(labels: labels, classCount: 10, organizations: 2, alpha: 0, seed: 0) }
        #expect(throws: TallyError.self) { try DirichletPartition(labels: labels, classCount: 5, organizations: 2, alpha: 1, seed: 0) }
        #expect(throws: TallyError.self) { try DirichletPartition(labels: [0, 1], classCount: 2, organizations: 3, alpha: 1, seed: 0) }
    }
}

extension Double {
    fileprivate var exponential: Double { exp(self) }
}
