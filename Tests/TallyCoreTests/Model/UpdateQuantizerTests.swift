import Testing
@testable import TallyCore

@Suite struct ModelUpdateQuantizerTests {
    private func vector(_ count: Int, scale: Float, random: SeededRandom) -> [Float] {
        (0..<count).map { _ in (Float(random.nextWord() >> 40) / Float(1 << 24) * 2 - 1) * scale }
    }

    @Test(arguments: [(8, 0.5), (16, 1.0), (24, 3.0)])
    func sumOfEncodingsDecodesToTheSum(bits: Int, range: Double) throws {
        let quantizer = try UpdateQuantizer(valueBits: bits, range: range)
        let n = 12, d = 2_000
        let random = SeededRandom(testSeed: UInt64(bits))
        // Some coordinates fall outside the range and are clamped.
        let updates = (0..<n).map { _ in vector(d, scale: Float(range) * 1.2, random: random) }
        var sum = [UInt64](repeating: 0, count: d)
        var clampedTotal = 0
        for update in updates {
            let (values, clamped) = try quantizer.encode(update, random: random)
            #expect(values.count == d)
            #expect(values.allSatisfy { $0 <= quantizer.maxLevel })
            for k in 0..<d { sum[k] += values[k] }
            clampedTotal += clamped
        }
        let decoded = try quantizer.decodeSum(sum, count: n)
        let clampedSum = (0..<d).map { k in updates.reduce(0.0) { $0 + min(range, max(-range, Double($1[k]))) } }
        let expectedClamps = updates.joined().filter { abs(Double($0)) > range }.count
        #expect(clampedTotal == expectedClamps && expectedClamps > 0)
        // Each summand is off by less than one step; allow Float rounding of the result on top.
        let tolerance = Double(n) * quantizer.step + Double(n) * range * 1e-6
        let worst = zip(decoded, clampedSum).map { abs(Double($0) - $1) }.max()!
        #expect(worst < tolerance, "worst error \(worst), tolerance \(tolerance)")
    }

    @Test func randomizedRoundingIsUnbiased() throws {
        let quantizer = try UpdateQuantizer(valueBits: 4, range: 1)  // a coarse grid: step 2/15
        let random = SeededRandom(testSeed: 77)
        let samples = 20_000
        for x: Float in [0.05, -0.61, 0.93, 0.3] {
            let position = (Double(x) + 1) / quantizer.step
            let fraction = position - position.rounded(.down)
            var total: UInt64 = 0
            for _ in 0..<samples {
                total += try quantizer.encode([x], random: random).values[0]
            }
            let mean = try quantizer.decodeSum([total], count: samples)[0] / Float(samples)
            // Standard error of the mean of a two-point distribution.
            let sigma = quantizer.step * (fraction * (1 - fraction) / Double(samples)).squareRoot()
            #expect(abs(Double(mean) - Double(x)) < 5 * sigma + 1e-6, "x \(x) mean \(mean) sigma \(sigma)")
            // Deterministic rounding to nearest would be biased by up to half a step here.
            #expect(fraction > 0.05 && fraction < 0.95)
        }
        // Grid points round to themselves exactly (range 7.5 on 4 bits: step exactly 1).
        let unitStep = try UpdateQuantizer(valueBits: 4, range: 7.5)
        #expect(unitStep.step == 1)
        let encoded = try unitStep.encode([-0.5, -7.5, 7.5, 2.5], random: random).values
        #expect(encoded == [7, 0, unitStep.maxLevel, 10])
    }

    @Test func clampingIsCountedAndSaturates() throws {
        let quantizer = try UpdateQuantizer(valueBits: 12, range: 0.25)
        let random = SeededRandom(testSeed: 3)
        let update: [Float] = [0.3, -0.3, 0.25, -0.25, 0, 1e30, -.infinity, 0.2500001]
        let expected = update.filter { Double($0) > 0.25 || Double($0) < -0.25 }.count
        let (values, clamped) = try quantizer.encode(update, random: random)
        #expect(clamped == expected)
        let decoded = try quantizer.decode(values)
        for (x, y) in zip(update, decoded) {
            #expect(abs(Double(y) - min(0.25, max(-0.25, Double(x)))) <= quantizer.step)
        }
        #expect(throws: TallyError.self) { try quantizer.encode([.nan], random: random) }
    }

    @Test func encodingIsDeterministicGivenTheRandomSource() throws {
        let quantizer = try UpdateQuantizer(valueBits: 16, range: 1)
        let update = vector(500, scale: 1, random: SeededRandom(testSeed: 1))
        let a = try quantizer.encode(update, random: SeededRandom(testSeed: 2)).values
        let b = try quantizer.encode(update, random: SeededRandom(testSeed: 2)).values
        let c = try quantizer.encode(update, random: SeededRandom(testSeed: 3)).values
        // Compared by count of differing coordinates, to keep failure messages short.
        #expect(zip(a, b).filter { $0 != $1 }.count == 0)
        #expect(zip(a, c).filter { $0 != $1 }.count > 0)
    }

    @Test func invalidParametersAndImpossibleSumsAreRejected() throws {
        #expect(throws: TallyError.self) { try UpdateQuantizer(valueBits: 0, range: 1) }
        #expect(throws: TallyError.self) { try UpdateQuantizer(valueBits: UpdateQuantizer.maxValueBits + 1, range: 1) }
        #expect(throws: TallyError.self) { try UpdateQuantizer(valueBits: 8, range: 0) }
        #expect(throws: TallyError.self) { try UpdateQuantizer(valueBits: 8, range: .infinity) }
        let quantizer = try UpdateQuantizer(valueBits: 8, range: 1)
        #expect(try quantizer.decodeSum([3 * 255], count: 3) == [3])
        #expect(throws: TallyError.self) { try quantizer.decodeSum([3 * 255 + 1], count: 3) }
        #expect(throws: TallyError.self) { try quantizer.decodeSum([0], count: 0) }
        let wide = try UpdateQuantizer(valueBits: 32, range: 1)
        #expect(throws: TallyError.self) { try wide.decodeSum([0], count: 1 << 22) }
    }
}
