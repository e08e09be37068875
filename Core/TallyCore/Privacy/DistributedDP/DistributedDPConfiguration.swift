#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// The numbers that fix one round's distributed-DP encoding — integer scale, noise share,
/// sensitivity, headroom — derived deterministically from round-plan fields, so that the
/// coordinator and every participant compute exactly the same ones without sending them.
///
/// Units: a participant's clipped update (ℓ2 norm ≤ C) is rotated, multiplied by ``scale`` and
/// randomly rounded to integers ("scaled units"). Conditional randomized rounding keeps the
/// rounded vector's norm at most ``l2Sensitivity`` (Kairouz–Liu–Steinke 2021, §4.1 and Lemma 26
/// with β = e^{−1/2}):
///
///     Δ₂² = min{ c² + d/4 + √(2 ln 1/β)·(c + √d/2),  (c + √d)² },   c = scale·C.
///
/// Each participant adds a discrete Gaussian share with σ² = z²·Δ₂²/(t − c), c the collusion
/// margin: any sum the coordinator can unmask holds at least t shares, and at least t − c of them
/// come from honest participants whose noise the coordinator and its c colluders do not know, so
/// the noise they cannot subtract has variance ≥ (z·Δ₂)².
///
/// Clamping and headroom: a participant's rounded vector x̃ is clamped coordinate-wise to
/// ±``signalBound`` (clamping cannot raise its norm, so Δ₂ still holds: it is part of the
/// participant's own sensitivity-bounded function), and the noise share is added *unclamped*.
/// The values are packed with carries (``PackedVector/init(packingSigned:slotWidth:)``), so what
/// the coordinator unmasks is a function of Σ_i (x̃_i + Z_i) alone and the ledger charges no
/// clamping δ. The bit width only affects accuracy: the rotated signal exceeds k·c/√d with
/// probability ≤ 2e^{−k²/2} (Hoeffding over the random signs) and a discrete Gaussian exceeds kσ
/// with probability ≤ 2e^{−k²/2} (it is σ-subgaussian: Canonne–Kamath–Steinke 2020, Proposition
/// 25). The scale is the largest one for which k·c/√d + 1 + k·σ fits in ±(2^{b−1}−1), so with
/// probability ≥ 1 − ``overflowProbability`` no signal coordinate is clamped and every sum of
/// m ≤ n values fits its slot of w = b + ⌈log2 n⌉ bits.
///
/// Record-level rounds (``records``): a participant's signal is the sum S of its Poisson-sampled
/// records' gradients, each clipped to C before summing, scaled and randomly rounded once, with
/// no rotation. One record moves S by at most c = scale·C; randomized rounding is ⌊x + U⌋ with U
/// uniform on [0, 1)^d independent of the data, and for any fixed U each coordinate of
/// ⌊x + U⌋ − ⌊x' + U⌋ is below |x_j − x'_j| + 1 in magnitude, so the integers sent move by at most
///
///     Δ₂ = c + √d
///
/// (Minkowski); the released distribution is a mixture over U of mechanisms each with that
/// sensitivity, and Rényi divergence is jointly quasi-convex, so the bound carries over
/// (docs/accounting.md). Every coordinate of a sum of R clipped gradients is at most R·c in
/// magnitude, so the scale is the largest with R·c + 1 + kσ within ±(2^{b−1}−1), R the
/// ``RecordSampling/capacity``: no clamping unless a participant samples more than R records,
/// and clamping, a contraction, never raises Δ₂.
public struct DistributedDPConfiguration: Sendable, Hashable {
    /// Record-level rounds: what every participant samples and what the sum is divided by.
    public struct RecordSampling: Sendable, Hashable {
        /// q in (0, 1): each record is in a round's sample independently with this probability.
        public let samplingRate: Double
        /// B: the federation's expected sample size per round (q times the records the operator
        /// expects), public; the coordinator divides the decoded sum by it, never by a count that
        /// depends on the data.
        public let expectedBatchSize: Int

        public init(samplingRate: Double, expectedBatchSize: Int) throws(TallyError) {
            guard samplingRate.isFinite, samplingRate > 0, samplingRate < 1 else {
                throw TallyError(.invalidArgument, "record sampling rate q must be in (0, 1), got \(samplingRate)")
            }
            guard (1...Self.maxExpectedBatchSize).contains(expectedBatchSize) else {
                throw TallyError(
                    .invalidArgument, "expected batch size must be in 1...\(Self.maxExpectedBatchSize), got \(expectedBatchSize)")
            }
            self.samplingRate = samplingRate
            self.expectedBatchSize = expectedBatchSize
        }

        /// The largest expected batch a plan may announce.
        public static let maxExpectedBatchSize = 1 << 24

        /// R = B + ⌈6√B⌉ + 1: the most sampled records one participant's sum is sized for. A
        /// participant's sample is part of the federation's, whose size has mean B and standard
        /// deviation below √B, so exceeding R is a six-sigma event (then the sum is clamped:
        /// accuracy only).
        public var capacity: Int {
            let b = Double(expectedBatchSize)
            return expectedBatchSize + Int((6 * b.squareRoot()).rounded(.up)) + 1
        }
    }

    /// The mechanism name written to the privacy ledger: noise shares added unclamped to the
    /// clamped signal, released only as the packed sum (no clamping δ).
    public static let mechanism = "distributed-discrete-gaussian/v2"
    /// Bits per quantized coordinate (b) the encoding supports: slots of b + ⌈log2 n⌉ bits must fit
    /// the packing, and b ≥ 2 leaves a sign and a magnitude.
    public static let valueBitsRange = 2...30

    /// d: the encoded dimension of `parameterCount` parameters (padded to a power of two for the rotation).
    public static func paddedDimension(parameterCount: Int, rotate: Bool = true) -> Int {
        rotate ? RandomizedHadamard.paddedDimension(parameterCount) : parameterCount
    }
    /// Conditional-rounding failure probability per attempt (KLS use e^{−1/2}).
    public static let roundingBeta = exp(-0.5)
    /// The overflow probability every round aims for: a protocol constant, so both sides derive
    /// the same k. Accuracy only; it costs no privacy.
    public static let overflowProbabilityTarget = 1e-9

    public let parameterCount: Int
    /// C: the ℓ2 clip norm of one participant's update, in model units.
    public let clipNorm: Double
    /// z: noise standard deviation over Δ₂ in the honest shares of any unmaskable sum; 0 turns
    /// noise off.
    public let noiseMultiplier: Double
    /// b: bits of one participant's encoded coordinate (before noise: see ``signalBound``).
    public let valueBits: Int
    /// t: the secure-aggregation threshold, the fewest shares any unmasked sum can contain.
    public let threshold: Int
    /// c: participants that may collude with the coordinator (their shares give no protection).
    public let collusionMargin: Int
    /// n: the cohort size.
    public let cohortSize: Int
    /// Whether to apply the randomized Hadamard rotation (never in record-level rounds).
    public let rotate: Bool
    /// Record-level sampling; nil for organization-level rounds.
    public let records: RecordSampling?
    /// What the round's guarantee protects.
    public var unit: PrivacyUnit { records == nil ? .organization : .record }

    /// d: the encoded dimension (parameterCount padded to a power of two when rotating).
    public let dimension: Int
    /// k: headroom in standard deviations.
    public let headroomSigmas: Double
    /// Integer units per model unit.
    public let scale: Double
    /// Δ₂ in scaled units: the ℓ2 norm of any participant's rounded contribution is at most this.
    public let l2Sensitivity: Double
    /// The exact sampler for one participant's share; nil when z = 0 (no noise: no privacy).
    public let noise: DiscreteGaussianSampler?
    /// Upper bound on the probability that, in the round, some participant's signal coordinate is
    /// clamped or some noise coordinate exceeds kσ (then a sum may overflow its slot). An accuracy
    /// figure: neither event affects privacy.
    public let overflowProbability: Double

    /// - Parameters:
    ///   - collusionMargin: c, with 0 ≤ c < t; shares are sized for t − c honest ones.
    ///   - records: record-level sampling; nil for the organization unit. Record-level rounds
    ///     never rotate.
    ///   - overflowProbability: the overflow probability to aim for; k is chosen from it.
    public init(
        parameterCount: Int, clipNorm: Double, noiseMultiplier: Double, valueBits: Int, threshold: Int,
        collusionMargin: Int, cohortSize: Int, rotate: Bool = true, records: RecordSampling? = nil,
        overflowProbability: Double = Self.overflowProbabilityTarget
    ) throws(TallyError) {
        let rotate = records == nil && rotate
        guard parameterCount >= 1 else { throw TallyError(.invalidArgument, "parameter count must be at least 1") }
        guard clipNorm.isFinite, clipNorm > 0 else {
            throw TallyError(.invalidArgument, "clip norm C must be positive and finite, got \(clipNorm)")
        }
        guard noiseMultiplier.isFinite, noiseMultiplier >= 0 else {
            throw TallyError(.invalidArgument, "noise multiplier z must be finite and ≥ 0, got \(noiseMultiplier)")
        }
        guard Self.valueBitsRange.contains(valueBits) else {
            throw TallyError(.invalidArgument, "value bits must be \(Self.valueBitsRange), got \(valueBits)")
        }
        guard cohortSize >= 1, (1...cohortSize).contains(threshold) else {
            throw TallyError(.invalidArgument, "threshold \(threshold) must be in 1...\(cohortSize)")
        }
        guard (0..<threshold).contains(collusionMargin) else {
            throw TallyError(.invalidArgument, "collusion margin c = \(collusionMargin) must be in 0..<t = \(threshold)")
        }
        guard overflowProbability > 0, overflowProbability < 1 else {
            throw TallyError(.invalidArgument, "overflow probability must be in (0, 1), got \(overflowProbability)")
        }
        self.parameterCount = parameterCount
        self.clipNorm = clipNorm
        self.noiseMultiplier = noiseMultiplier
        self.valueBits = valueBits
        self.threshold = threshold
        self.collusionMargin = collusionMargin
        self.cohortSize = cohortSize
        self.rotate = rotate
        self.records = records
        let d = Self.paddedDimension(parameterCount: parameterCount, rotate: rotate)
        dimension = d

        // Tail events per participant-coordinate: rotation and noise, each ≤ 2e^{−k²/2}.
        let tails = 2.0 * ((rotate ? 1 : 0) + (noiseMultiplier > 0 ? 1 : 0))
        let events = Double(cohortSize) * Double(d) * tails
        let k = tails > 0 ? (2 * log(events / overflowProbability)).squareRoot() : 0
        headroomSigmas = k
        self.overflowProbability = tails > 0 ? min(1, events * exp(-k * k / 2)) : 0

        let bound = Double((Int64(1) << (valueBits - 1)) - 1)
        let rootD = Double(d).squareRoot()
        let z = noiseMultiplier, rootShares = Double(threshold - collusionMargin).squareRoot()
        let capacity = Double(records?.capacity ?? 1)
        func sensitivity(_ c: Double) -> Double {
            if records != nil { return c + rootD }
            let conditional = c * c + Double(d) / 4 + (2 * log(1 / Self.roundingBeta)).squareRoot() * (c + rootD / 2)
            return min(conditional, (c + rootD) * (c + rootD)).squareRoot()
        }
        func extent(_ c: Double) -> Double {
            (rotate ? k * c / rootD : capacity * c) + 1 + k * z * sensitivity(c) / rootShares
        }
        guard extent(1) <= bound - 2 else {
            let what = records.map { "sums of up to \($0.capacity) records, " } ?? ""
            throw TallyError(
                .invalidArgument,
                "\(valueBits) value bits leave no room for \(what)the noise at z = \(z), t − c = \(threshold - collusionMargin) and d = \(d); raise valueBits"
            )
        }
        // Largest c (scaled clip norm) whose extent fits, two units short of the bound: one for
        // rounding kσ up to an integer in ``signalBound``, one for rounding σ² up to the sampler's
        // grid below (it moves kσ by less than 0.01). Bisection.
        let target = bound - 2
        var low = 1.0, high = 2.0
        while extent(high) <= target { low = high; high *= 2 }
        for _ in 0..<200 {
            let mid = (low + high) / 2
            if extent(mid) <= target { low = mid } else { high = mid }
            if high - low <= low * 1e-12 { break }
        }
        scale = low / clipNorm
        l2Sensitivity = sensitivity(low)
        if z > 0 {
            let sigma = z * l2Sensitivity / rootShares
            // σ² rounded up to an integer when it is large (a relative change below 10⁻⁶): the
            // sampler's rationals then stay within 64 bits, which makes it several times faster.
            let sigmaSquared: Double = sigma * sigma
            let integral: Bool = sigmaSquared >= 0x1p20 && sigmaSquared < 0x1p52
            let sampler: DiscreteGaussianSampler
            if integral {
                sampler = try DiscreteGaussianSampler(sigmaSquaredNumerator: UInt64(sigmaSquared.rounded(.up)), sigmaSquaredDenominator: 1)
            } else {
                sampler = try DiscreteGaussianSampler(sigma: sigma)
            }
            noise = sampler
        } else {
            noise = nil
        }
        // The slack above keeps the signal's range at least k·c/√d + 1 (c + 1 without rotation).
        guard Double(signalBound) >= (rotate ? k * low / rootD : capacity * low) + 1 - 1e-9 else {
            throw TallyError(.invalidArgument, "the noise share does not fit \(valueBits) value bits")
        }
    }

    /// One participant's noise share: d exact discrete Gaussian samples N_ℤ(0, σ²) (~20 random
    /// words each), all zero without noise. The randomness is an AES-CTR keystream keyed with 32
    /// fresh bytes from `random`.
    public func sampleNoiseShare(random: some CryptoRandomSource) -> [Int64] {
        guard let sampler = noise else { return [Int64](repeating: 0, count: dimension) }
        var words = RandomWords(SeededRandom(seed: random.bytes(32), label: "tally/dp/noise-share/v1"), bufferWords: 4096)
        var share = [Int64](repeating: 0, count: dimension)
        for i in 0..<dimension { share[i] = sampler.sample(using: &words) }
        return share
    }

    /// σ² of one participant's noise share (0 without noise).
    public var shareSigmaSquared: Double { noise?.sigmaSquared ?? 0 }
    /// 2^{b−1} − 1: the magnitude a participant's noised coordinate stays within except with
    /// probability ``overflowProbability``; m of them sum to at most m times this.
    public var clampBound: Int64 { (Int64(1) << (valueBits - 1)) - 1 }
    /// B_x = clampBound − ⌈kσ⌉: the signal x̃ is clamped to ±B_x before the noise share is added.
    /// The scale makes it at least k·c/√d + 1, so clamping is as rare as the rotation's tail.
    public var signalBound: Int64 {
        clampBound - Int64((headroomSigmas * shareSigmaSquared.squareRoot()).rounded(.up))
    }
    /// t − c: the honest shares every unmaskable sum is guaranteed to contain.
    public var guaranteedShares: Int { threshold - collusionMargin }

    /// The noise multiplier actually present in a sum of `shares` noise shares: √(shares·σ²)/Δ₂.
    public func effectiveNoiseMultiplier(shares: Int) -> Double {
        (Double(shares) * shareSigmaSquared).squareRoot() / l2Sensitivity
    }

    /// The per-round seed of the shared rotation, from public bytes both sides hold: the
    /// secure-aggregation session id (fixed only after every participant committed its keys, so
    /// the coordinator cannot choose it), or the plan digest in benchmark rounds without masking.
    /// Independent of every update either way.
    public static func rotationSeed(roundBytes: [UInt8]) -> [UInt8] {
        SHA256Digest.hash(Array("tally/dp/rotation/v1".utf8) + roundBytes)
    }
}
