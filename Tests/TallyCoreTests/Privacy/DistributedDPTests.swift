import Testing

@testable import TallyCore

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct DistributedDPTests {
    private func vector(_ count: Int, norm: Double, random: SeededRandom) -> [Float] {
        let raw = (0..<count).map { _ in Double(random.nextWord() >> 11) * 0x1p-53 * 2 - 1 }
        let length = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return raw.map { Float($0 / length * norm) }
    }

    private func l2(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    @Test func rotationIsOrthonormalAndInverts() throws {
        let rotation = try RandomizedHadamard(dimension: 1024, seed: [UInt8](repeating: 7, count: 32))
        let random = SeededRandom(testSeed: 1)
        let x = vector(1024, norm: 3, random: random).map(Double.init)
        var y = x
        rotation.rotate(&y)
        #expect(abs(l2(y) - l2(x)) < 1e-9)
        #expect(zip(x, y).contains { abs($0 - $1) > 1e-3 })
        rotation.unrotate(&y)
        #expect(zip(x, y).allSatisfy { abs($0 - $1) < 1e-12 })
        // A spike is spread evenly: every coordinate becomes ±1/√d.
        var spike = [Double](repeating: 0, count: 1024)
        spike[5] = 1
        rotation.rotate(&spike)
        #expect(spike.allSatisfy { abs(abs($0) - 1 / 32) < 1e-12 })
        #expect(throws: TallyError.self) { try RandomizedHadamard(dimension: 1000, seed: [UInt8](repeating: 0, count: 32)) }
    }

    private func width(_ c: DistributedDPConfiguration) -> Int {
        SlotLayout.headroomWidth(valueBits: c.valueBits, summands: c.cohortSize)
    }

    @Test(arguments: [(7_850, 1.0, 16, 3, 0, 5), (1_000_000, 1.0, 20, 6, 2, 10), (100, 0.5, 12, 2, 1, 2), (7_850, 0.0, 16, 3, 0, 5)])
    func parametersFitTheSlotAndCarryTheNoise(parameters: Int, z: Double, bits: Int, t: Int, colluders: Int, n: Int) throws {
        let c = try DistributedDPConfiguration(
            parameterCount: parameters, clipNorm: 0.5, noiseMultiplier: z,
            valueBits: bits, threshold: t, collusionMargin: colluders, cohortSize: n)
        #expect(c.dimension >= parameters && c.dimension & (c.dimension - 1) == 0)
        #expect(c.guaranteedShares == t - colluders)
        let scaledClip = c.scale * c.clipNorm
        #expect(c.l2Sensitivity >= scaledClip)
        #expect(c.l2Sensitivity <= scaledClip + Double(c.dimension).squareRoot())
        let sigma = c.shareSigmaSquared.squareRoot()
        let signal = c.headroomSigmas * scaledClip / Double(c.dimension).squareRoot() + 1
        // The signal's clamp bound leaves room for the rotation's tail and rounding, and kσ of
        // noise on top of it stays within ±clampBound.
        #expect(Double(c.signalBound) >= signal)
        #expect(Double(c.signalBound) + c.headroomSigmas * sigma <= Double(c.clampBound))
        #expect(signal + c.headroomSigmas * sigma > Double(c.clampBound) * 0.999) // the scale is as fine as the bits allow
        // Any t − c honest shares carry at least z·Δ₂; one fewer would not.
        #expect(c.effectiveNoiseMultiplier(shares: t - colluders) >= z * (1 - 1e-12))
        if z > 0, t - colluders > 1 { #expect(c.effectiveNoiseMultiplier(shares: t - colluders - 1) < z) }
        #expect(c.overflowProbability <= 1e-9 * (1 + 1e-9) && c.overflowProbability > 0)
    }

    @Test func collusionMarginMustLeaveAnHonestShare() throws {
        for bad in [-1, 3, 4] {
            #expect(throws: TallyError.self) {
                try DistributedDPConfiguration(
                    parameterCount: 100, clipNorm: 1, noiseMultiplier: 1, valueBits: 16, threshold: 3,
                    collusionMargin: bad, cohortSize: 5)
            }
        }
        let sized = try DistributedDPConfiguration(
            parameterCount: 100, clipNorm: 1, noiseMultiplier: 1, valueBits: 16, threshold: 3,
            collusionMargin: 2, cohortSize: 5)
        let unsized = try DistributedDPConfiguration(
            parameterCount: 100, clipNorm: 1, noiseMultiplier: 1, valueBits: 16, threshold: 3,
            collusionMargin: 0, cohortSize: 5)
        // σ²/Δ₂² is z²/(t − c): three times larger with c = 2 than with c = 0.
        let ratio =
            (sized.shareSigmaSquared / (sized.l2Sensitivity * sized.l2Sensitivity))
            / (unsized.shareSigmaSquared / (unsized.l2Sensitivity * unsized.l2Sensitivity))
        #expect(abs(ratio - 3) < 1e-5)
    }

    @Test func tooFewBitsForTheNoiseIsRefused() {
        #expect(throws: TallyError.self) {
            try DistributedDPConfiguration(
                parameterCount: 1 << 20, clipNorm: 1, noiseMultiplier: 5, valueBits: 8, threshold: 2,
                collusionMargin: 0, cohortSize: 4)
        }
    }

    /// The z calibrated with the Gaussian RDP accountant meets the target under the bound the
    /// ledger enforces: the distributed discrete Gaussian with the t − c guaranteed shares.
    @Test func calibratedNoiseMeetsTheTargetWithTheGuaranteedShares() throws {
        let target = 4.0, delta = 1e-5, rounds = 20
        let z = try NoiseCalibration.noiseMultiplier(
            targetEpsilon: target, delta: delta, samplingRate: 1, steps: rounds,
            accountant: RDPAccountant()
        ).noiseMultiplier
        let c = try DistributedDPConfiguration(
            parameterCount: 7_850, clipNorm: 1, noiseMultiplier: z, valueBits: 16, threshold: 6,
            collusionMargin: 2, cohortSize: 10)
        func epsilon(shares: Int) throws -> Double {
            try DistributedDiscreteGaussian(
                shareSigmaSquared: c.shareSigmaSquared, shares: shares, dimension: c.dimension,
                l2Sensitivity: c.l2Sensitivity
            ).epsilon(steps: rounds, delta: delta)
        }
        let guaranteed = try epsilon(shares: c.guaranteedShares)
        #expect(guaranteed <= target && guaranteed > target * 0.99)
        #expect(try epsilon(shares: c.guaranteedShares - 1) > target)
    }

    @Test func encodingClipsRoundsWithinTheBoundAndDecodes() throws {
        let c = try DistributedDPConfiguration(
            parameterCount: 500, clipNorm: 1, noiseMultiplier: 0, valueBits: 16, threshold: 2,
            collusionMargin: 0, cohortSize: 3)
        let seed = DistributedDPConfiguration.rotationSeed(roundBytes: [UInt8](repeating: 1, count: 32))
        let encoder = try DistributedDPEncoder(configuration: c, rotationSeed: seed)
        let decoder = try DistributedDPDecoder(configuration: c, rotationSeed: seed)
        let random = SeededRandom(testSeed: 2)
        for norm in [0.3, 0.999, 40.0] {
            let update = vector(500, norm: norm, random: random)
            let encoding = try encoder.encode(update, random: random)
            #expect(encoding.clipped == (norm > 1))
            #expect(encoding.clampedCount == 0)
            #expect(encoding.values.allSatisfy { abs($0) <= c.signalBound })
            let decoded = try decoder.decodeSum(encoding.packed(slotWidth: width(c)), contributors: 1)
            #expect(decoded.overflowSuspected == 0)
            // Decoded = clipped update up to rounding (≤ √d/2 in scaled units at worst).
            let expected = update.map { Double($0) * min(1, 1 / norm) }
            let error = l2(zip(decoded.values, expected).map { $0 - $1 })
            #expect(error * c.scale <= Double(c.dimension).squareRoot())
            #expect(error < 1e-3)
            // The rounded vector respects the sensitivity the ledger records (padding included).
            #expect(l2(encoding.values.map(Double.init)) <= c.l2Sensitivity * (1 + 1e-12))
        }
        #expect(throws: TallyError.self) { try encoder.encode([Float](repeating: .nan, count: 500), random: random) }
        #expect(throws: TallyError.self) { try encoder.encode([Float](repeating: 0, count: 499), random: random) }
    }

    /// An update the rotation turns into a spike of the full clip norm: its signal is clamped to
    /// ±B_x, and the noise share is added after, unclamped (values land on both sides of B_x).
    @Test func theSignalIsClampedAndTheNoiseAddedAfter() throws {
        let seed = DistributedDPConfiguration.rotationSeed(roundBytes: [UInt8](repeating: 9, count: 32))
        let random = SeededRandom(testSeed: 9)
        for z in [0.0, 1.0] {
            let c = try DistributedDPConfiguration(
                parameterCount: 1024, clipNorm: 1, noiseMultiplier: z, valueBits: 12, threshold: 2,
                collusionMargin: 0, cohortSize: 2)
            var spike = [Double](repeating: 0, count: 1024)
            spike[0] = 1
            try RandomizedHadamard(dimension: 1024, seed: seed).unrotate(&spike)
            let encoder = try DistributedDPEncoder(configuration: c, rotationSeed: seed)
            #expect(c.scale > Double(c.signalBound) * 2) // the spike is well beyond B_x
            var offsets: [Double] = []
            for _ in 0..<(z == 0 ? 5 : 600) {
                let encoding = try encoder.encode(spike.map(Float.init), random: random)
                #expect(encoding.clampedCount == 1)
                offsets.append(Double(encoding.values[0] - c.signalBound))
            }
            if z == 0 {
                #expect(offsets.allSatisfy { $0 == 0 })
            } else {
                let n = Double(offsets.count)
                let mean = offsets.reduce(0, +) / n
                let variance = offsets.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
                #expect(offsets.filter { $0 > 0 }.count > 200 && offsets.filter { $0 < 0 }.count > 200)
                #expect(abs(mean) < 4 * (c.shareSigmaSquared / n).squareRoot())
                #expect(abs(variance / c.shareSigmaSquared - 1) < 0.25)
            }
        }
    }

    @Test func decoderReportsSuspectedOverflowAndRefusesNarrowSlots() throws {
        let c = try DistributedDPConfiguration(
            parameterCount: 4, clipNorm: 1, noiseMultiplier: 0, valueBits: 8, threshold: 1,
            collusionMargin: 0, cohortSize: 2, rotate: false)
        let decoder = try DistributedDPDecoder(configuration: c, rotationSeed: [UInt8](repeating: 0, count: 32))
        let envelope = 2 * c.clampBound // m = 2
        let sum = try PackedVector(packingSigned: [envelope + 1, -envelope - 1, envelope, -envelope], slotWidth: 9)
        let decoded = try decoder.decodeSum(sum, contributors: 2)
        #expect(decoded.overflowSuspected == 2)
        #expect(decoded.values.map { ($0 * c.scale).rounded() } == [255, -255, 254, -254])
        #expect(try decoder.decodeSum(sum, contributors: 1).overflowSuspected == 4)
        #expect(throws: TallyError.self) {
            try decoder.decodeSum(PackedVector(packingSigned: [1, 2, 3, 4], slotWidth: 8), contributors: 2)
        }
        #expect(throws: TallyError.self) { try decoder.decodeSum(PackedVector(packingSigned: [1, 2, 3], slotWidth: 9), contributors: 2) }
    }

    /// The decoded sum's error is the sum of the shares over the scale: mean 0 and variance
    /// m·σ²/s² per coordinate (rounding adds at most m/(4s²), negligible here).
    @Test(arguments: [0, 1])
    func decodedErrorMatchesTheNoiseTheory(colluders: Int) throws {
        let parameters = 128, n = 5, t = 3, trials = 300
        let c = try DistributedDPConfiguration(
            parameterCount: parameters, clipNorm: 1, noiseMultiplier: 1, valueBits: 16, threshold: t,
            collusionMargin: colluders, cohortSize: n)
        let random = SeededRandom(testSeed: 3 + UInt64(colluders))
        let updates = (0..<n).map { _ in vector(parameters, norm: 0.8, random: random) }
        let layout = try SlotLayout(slotWidth: width(c), count: c.dimension)
        for m in [n, t - colluders] { // all survive; only the guaranteed honest shares
            var errors: [Double] = []
            errors.reserveCapacity(trials * parameters)
            for trial in 0..<trials {
                var digest = [UInt8](repeating: 0, count: 32)
                digest[0] = UInt8(trial & 255)
                digest[1] = UInt8(trial >> 8)
                let seed = DistributedDPConfiguration.rotationSeed(roundBytes: digest)
                let encoder = try DistributedDPEncoder(configuration: c, rotationSeed: seed)
                var sum = PackedVector(zeros: layout)
                for update in updates.prefix(m) {
                    try sum.add(try encoder.encode(update, random: random).packed(slotWidth: layout.slotWidth))
                }
                let decoded = try DistributedDPDecoder(configuration: c, rotationSeed: seed).decodeSum(sum, contributors: m)
                #expect(decoded.overflowSuspected == 0)
                let expected = (0..<parameters).map { i in updates.prefix(m).reduce(0.0) { $0 + Double($1[i]) } }
                errors.append(contentsOf: zip(decoded.values, expected).map { $0 - $1 })
            }
            let count = Double(errors.count)
            let mean = errors.reduce(0, +) / count
            let variance = errors.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (count - 1)
            let predicted = Double(m) * c.shareSigmaSquared / (c.scale * c.scale)
            #expect(abs(mean) < 4 * (predicted / count).squareRoot(), "mean \(mean) with m = \(m)")
            // Relative standard error of a variance estimate: √(2/N) ≈ 0.8% here.
            #expect(abs(variance / predicted - 1) < 0.04, "variance \(variance), predicted \(predicted), m = \(m)")
            // Positive control: one share more or fewer would be visibly wrong.
            let other = Double(m - 1) * c.shareSigmaSquared / (c.scale * c.scale)
            #expect(abs(variance / other - 1) > 0.12)
            // The noise standard deviation is at least z·C in model units whenever m ≥ t − c.
            #expect(variance.squareRoot() >= c.noiseMultiplier * c.clipNorm * 0.97)
        }
    }

    @Test func roundingAloneIsUnbiased() throws {
        let parameters = 64, trials = 2_000
        let c = try DistributedDPConfiguration(
            parameterCount: parameters, clipNorm: 1, noiseMultiplier: 0, valueBits: 8, threshold: 1,
            collusionMargin: 0, cohortSize: 1, rotate: false)
        let encoder = try DistributedDPEncoder(configuration: c, rotationSeed: [UInt8](repeating: 0, count: 32))
        let decoder = try DistributedDPDecoder(configuration: c, rotationSeed: [UInt8](repeating: 0, count: 32))
        let random = SeededRandom(testSeed: 4)
        let update = vector(parameters, norm: 0.9, random: random)
        var total = [Double](repeating: 0, count: parameters)
        for _ in 0..<trials {
            let decoded = try decoder.decodeSum(try encoder.encode(update, random: random).packed(slotWidth: width(c)), contributors: 1)
                .values
            for i in 0..<parameters { total[i] += decoded[i] }
        }
        let step = 1 / c.scale
        for i in 0..<parameters {
            // Bernoulli rounding: standard error ≤ step/(2√trials); allow 5 of them.
            #expect(abs(total[i] / Double(trials) - Double(update[i])) < 5 * step / (2 * Double(trials).squareRoot()))
        }
    }

    /// The noise share can be drawn while the model trains: encoding adds exactly the share given,
    /// and a share drawn ahead has the sampler's variance.
    @Test func noiseShareDrawnAheadIsAddedAsGiven() throws {
        let c = try DistributedDPConfiguration(
            parameterCount: 4096, clipNorm: 1, noiseMultiplier: 1, valueBits: 16, threshold: 3,
            collusionMargin: 1, cohortSize: 5)
        let random = SeededRandom(testSeed: 11)
        let share = c.sampleNoiseShare(random: random)
        let variance = share.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(share.count)
        #expect(abs(variance / c.shareSigmaSquared - 1) < 0.1, "variance \(variance), σ² \(c.shareSigmaSquared)") // SE √(2/4096) ≈ 2.2%
        let encoder = try DistributedDPEncoder(configuration: c, rotationSeed: [UInt8](repeating: 2, count: 32))
        // A zero update rounds to exactly zero, so the encoding is the share itself.
        #expect(try encoder.encode([Float](repeating: 0, count: 4096), noise: share, random: random).values == share)
        #expect(throws: TallyError.self) {
            _ = try encoder.encode([Float](repeating: 0, count: 4096), noise: Array(share.dropLast()), random: random)
        }
        // Without noise the share is all zero.
        let quiet = try DistributedDPConfiguration(
            parameterCount: 16, clipNorm: 1, noiseMultiplier: 0, valueBits: 16, threshold: 3,
            collusionMargin: 1, cohortSize: 5)
        #expect(quiet.sampleNoiseShare(random: random).allSatisfy { $0 == 0 })
    }
}
