/// A participant's side of the distributed discrete Gaussian mechanism: turns its model update
/// into the signed integers that are packed and masked.
///
/// flatten → clip to ℓ2 norm C → rotate (randomized Hadamard) → scale → conditional randomized
/// rounding (norm ≤ Δ₂) → clamp to ±B_x (``DistributedDPConfiguration/signalBound``; cannot raise
/// the norm) → add this participant's exact discrete Gaussian share, unclamped. Nothing is done to
/// a noised value: it is packed with carries (``Encoding/packed(slotWidth:)``), so the released sum
/// is a post-processing of Σ_i (x̃_i + Z_i). See ``DistributedDPConfiguration`` for why each step
/// is sized as it is. The noise comes from a cryptographically secure source and never leaves
/// this function except inside the encoding.
///
/// In record-level rounds (``DistributedDPConfiguration/records``) the input is already the sum
/// of per-record gradients each clipped to C (the model computes it); it is scaled and randomly
/// rounded once, without clipping the sum, rotating or conditioning the rounding: one record then
/// moves the integers by at most Δ₂ = scale·C + √d (``DistributedDPConfiguration``).
public struct DistributedDPEncoder: Sendable {
    public let configuration: DistributedDPConfiguration
    let rotation: RandomizedHadamard?

    /// Conditional rounding gives up after this many attempts (each succeeds with probability
    /// ≥ 1 − e^{−1/2} ≈ 0.39, so reaching it means something is wrong, not bad luck).
    public static let maxRoundingAttempts = 200

    /// The encoded vector and, for logs, what the encoding did (nothing about the noise).
    public struct Encoding: Sendable {
        /// x̃_j + Z_j in scaled integer units: usually within ±clampBound, never clamped.
        public let values: [Int64]
        /// ‖update‖₂ before clipping.
        public let norm: Double
        public let clipped: Bool
        public let roundingAttempts: Int
        /// Signal coordinates clamped to ±B_x (expected 0; accuracy only, no privacy cost).
        public let clampedCount: Int

        /// The ring element to mask: the values packed with carries into slots of `slotWidth` bits.
        public func packed(slotWidth: Int) throws(TallyError) -> PackedVector {
            try PackedVector(packingSigned: values, slotWidth: slotWidth)
        }
    }

    public init(configuration: DistributedDPConfiguration, rotationSeed: [UInt8]) throws(TallyError) {
        self.configuration = configuration
        rotation = configuration.rotate ? try RandomizedHadamard(dimension: configuration.dimension, seed: rotationSeed) : nil
    }

    /// - Parameter noise: this participant's noise share drawn ahead with
    ///   ``DistributedDPConfiguration/sampleNoiseShare(random:)`` (it depends on nothing but the
    ///   configuration, so it can be drawn while the model trains); nil draws it here.
    public func encode(_ update: [Float], noise: [Int64]? = nil, random: some CryptoRandomSource) throws(TallyError) -> Encoding {
        try encode(update.map { Double($0) }, noise: noise, random: random)
    }

    /// The same for an update held in double precision (a record-level round's clipped sum).
    public func encode(_ update: [Double], noise: [Int64]? = nil, random: some CryptoRandomSource) throws(TallyError) -> Encoding {
        let c = configuration
        guard update.count == c.parameterCount else {
            throw TallyError(.sizeMismatch, "update has \(update.count) coordinates, the round expects \(c.parameterCount)")
        }
        if let noise, noise.count != c.dimension {
            throw TallyError(.sizeMismatch, "noise share has \(noise.count) coordinates, the round encodes \(c.dimension)")
        }
        var x = [Double](repeating: 0, count: c.dimension)
        var squared = 0.0
        for i in 0..<update.count {
            let v = update[i]
            guard v.isFinite else { throw TallyError(.invalidArgument, "update coordinate \(i) is not finite") }
            x[i] = v
            squared += v * v
        }
        let norm = squared.squareRoot()
        // Record-level: the sum is not clipped (each record's gradient was).
        let clips = c.records == nil && norm > c.clipNorm
        let factor = (clips ? c.clipNorm / norm : 1) * c.scale
        for i in 0..<update.count { x[i] *= factor }
        rotation?.rotate(&x)

        // Conditional randomized rounding: unbiased per coordinate, retried until ‖x̃‖₂ ≤ Δ₂
        // (record-level: one attempt, whatever the norm; Δ₂ bounds how far one record moves it).
        // Its randomness, like the noise share's (``DistributedDPConfiguration/sampleNoiseShare``),
        // is an AES-128-CTR keystream keyed with 32 fresh bytes from `random` — the construction of
        // NIST's CTR-DRBG, at AES-NI speed instead of one DRBG call per 2 KiB.
        let limit = c.l2Sensitivity * c.l2Sensitivity
        var words = RandomWords(SeededRandom(seed: random.bytes(32), label: "tally/dp/encoding-randomness/v1"), bufferWords: 4096)
        var rounded = [Int64](repeating: 0, count: c.dimension)
        var attempts = 0
        while true {
            attempts += 1
            var sum = 0.0
            for i in 0..<c.dimension {
                let floor = x[i].rounded(.down)
                let uniform = Double(words.next() >> 11) * 0x1p-53
                let r = floor + (uniform < x[i] - floor ? 1 : 0)
                rounded[i] = Int64(r)
                sum += r * r
            }
            if sum <= limit || c.records != nil { break }
            guard attempts < Self.maxRoundingAttempts else {
                throw TallyError(
                    .valueOutOfRange, "conditional rounding failed \(attempts) times; the encoding parameters are inconsistent")
            }
        }

        // Clamp the signal (part of this participant's sensitivity-bounded function), then add
        // the noise share as it is.
        let bound = c.signalBound
        var clamped = 0
        for i in 0..<c.dimension {
            if rounded[i] > bound { rounded[i] = bound; clamped += 1 } else if rounded[i] < -bound { rounded[i] = -bound; clamped += 1 }
        }
        let share = noise ?? c.sampleNoiseShare(random: random)
        for i in 0..<c.dimension { rounded[i] += share[i] }
        return Encoding(values: rounded, norm: norm, clipped: clips, roundingAttempts: attempts, clampedCount: clamped)
    }
}
