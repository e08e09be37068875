import ArgumentParser
import TallyCore
import TallyLocalFederation

/// `tally-bench primitives --json`: masks, packed arithmetic, Shamir and the sampler, each next
/// to the raw limit it is bounded by.
struct PrimitivesBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "primitives",
        abstract: "Mask generation vs raw AES-CTR, packed add vs raw mpn_add_n, Shamir, sampler.")

    @Flag(help: "Print JSON (the only output format).") var json = false
    @Option(help: "Dimensions for the mask and add benchmarks.") var dimensions: [Int] = [100_000, 1_000_000, 10_000_000]
    @Option(help: "Slot width in bits.") var slotWidth = 20
    @Option(help: "Shamir share counts (t = n/2 + 1).") var shamirShares: [Int] = [10, 100, 1000]

    struct MaskRow: Encodable {
        let dimension: Int, slotWidth: Int, maskBytes: Int
        let maskExpandGBps: Double, maskAddGBps: Double, rawAESCTRGBps: Double
        let expandToRawRatio: Double, addToRawRatio: Double
    }
    struct AddRow: Encodable {
        let dimension: Int, slotWidth: Int, bytes: Int
        let packedAddGBps: Double, packedSubtractGBps: Double, rawMpnAddGBps: Double, addToRawRatio: Double
    }
    struct ShamirRow: Encodable {
        let shares: Int, threshold: Int, splitPerSecond: Double, reconstructPerSecond: Double, splitAndReconstructPerSecond: Double
    }
    struct SamplerRow: Encodable { let sigma: Double; let samplesPerSecond: Double }
    /// What a round costs each participant per peer: ECDSA P-256 signatures (key advertisements,
    /// survivor lists, the manifest) and X25519 agreements, through Tally's wrappers, next to
    /// `openssl speed` on the same library in the same run.
    struct SignatureRow: Encodable {
        let signPerSecond: Double, verifyPerSecond: Double, x25519AgreementsPerSecond: Double
        let opensslSpeedSignPerSecond: Double?, opensslSpeedVerifyPerSecond: Double?
        let verifyToOpenSSLRatio: Double?
    }
    struct Report: Encodable {
        let benchmark = "primitives"
        let machine = MachineInfo()
        let masks: [MaskRow], packedAdd: [AddRow], shamir: [ShamirRow], sampler: [SamplerRow]
        let signatures: SignatureRow
    }

    func run() throws {
        var masks: [MaskRow] = [], adds: [AddRow] = []
        let random = SystemRandom()
        for d in dimensions {
            let layout = try SlotLayout(slotWidth: slotWidth, count: d)
            let bytes = layout.limbCount * 8
            let seed = random.bytes(32)
            var mask = PackedVector(zeros: layout)
            var raw = [UInt8](repeating: 0, count: bytes)
            let reps = d >= 10_000_000 ? 3 : 7
            // Interleave ours and raw so both see the same machine state.
            var expand = Double.infinity, add = Double.infinity, rawAES = Double.infinity
            for _ in 0..<3 {
                expand = min(expand, try Measure.best(repetitions: reps) { try MaskGenerator.expand(seed: seed, label: [1], into: &mask) })
                add = min(add, try Measure.best(repetitions: reps) { try MaskGenerator.apply(seed: seed, label: [2], to: &mask) })
                rawAES = min(rawAES, raw.withUnsafeMutableBytes { MachineLimits.aesCTRSeconds(into: $0, repetitions: reps) })
            }
            let gb = Double(bytes) / 1e9
            masks.append(
                MaskRow(
                    dimension: d, slotWidth: slotWidth, maskBytes: bytes,
                    maskExpandGBps: gb / expand, maskAddGBps: gb / add, rawAESCTRGBps: gb / rawAES,
                    expandToRawRatio: rawAES / expand, addToRawRatio: rawAES / add))

            var a = mask, b = mask
            try MaskGenerator.expand(seed: random.bytes(32), label: [3], into: &b)
            var packedAdd = Double.infinity, packedSub = Double.infinity, rawAdd = Double.infinity
            for _ in 0..<3 {
                packedAdd = min(packedAdd, try Measure.best(repetitions: reps) { try a.add(b) })
                packedSub = min(packedSub, try Measure.best(repetitions: reps) { try a.subtract(b) })
                rawAdd = min(rawAdd, MachineLimits.mpnAddSeconds(limbs: layout.limbCount, repetitions: reps))
            }
            adds.append(
                AddRow(
                    dimension: d, slotWidth: slotWidth, bytes: bytes, packedAddGBps: gb / packedAdd,
                    packedSubtractGBps: gb / packedSub, rawMpnAddGBps: gb / rawAdd, addToRawRatio: rawAdd / packedAdd))
        }

        var shamir: [ShamirRow] = []
        for n in shamirShares {
            let scheme = try ShamirSecretSharing(threshold: n / 2 + 1, shareCount: n)
            let secret = random.bytes(32)
            var shares = try scheme.split(secret: secret, using: random)
            let split = try Measure.rate { shares = try scheme.split(secret: secret, using: random) }
            let reconstruct = try Measure.rate {
                let r = try scheme.reconstruct(shares); precondition(r == secret)
            }
            shamir.append(
                ShamirRow(
                    shares: n, threshold: scheme.threshold, splitPerSecond: split, reconstructPerSecond: reconstruct,
                    splitAndReconstructPerSecond: 1 / (1 / split + 1 / reconstruct)))
        }

        var sampler: [SamplerRow] = []
        for sigma in [0.5, 3.0, 1000.0, 100_000.0] {
            let s = try DiscreteGaussianSampler(sigma: sigma)
            let batch = 100_000
            let perBatch = Measure.rate { _ = s.sample(count: batch, using: random) }
            sampler.append(SamplerRow(sigma: sigma, samplesPerSecond: perBatch * Double(batch)))
        }
        try Measure.printJSON(Report(masks: masks, packedAdd: adds, shamir: shamir, sampler: sampler, signatures: try signatures()))
    }

    private func signatures() throws -> SignatureRow {
        let key = try SigningPrivateKey(generating: .ecdsaP256)
        let message = [UInt8](repeating: 7, count: 200)
        let signature = try key.signature(for: message)
        let publicKey = key.publicKey
        let sign = try Measure.rate { _ = try key.signature(for: message) }
        let verify = try Measure.rate { try publicKey.verify(signature, for: message) }
        let mine = try KeyAgreementPrivateKey(), peer = try KeyAgreementPrivateKey().publicKey
        let agree = try Measure.rate { _ = try mine.sharedKey(with: peer, context: [1, 2, 3]) }
        // "256 bits ecdsa (nistp256)   0.0000s   0.0001s  39589.9  12956.0": the last two are sign/s and verify/s.
        let speed = try? Subprocess.check("/usr/bin/env", ["openssl", "speed", "-seconds", "1", "ecdsap256"])
        let line = speed?.split(separator: "\n").last { $0.contains("ecdsa (nistp256)") }
        let fields = line?.split(separator: " ").compactMap { Double($0) } ?? []
        let (opensslSign, opensslVerify) = fields.count >= 2 ? (fields[fields.count - 2], fields[fields.count - 1]) : (nil, nil)
        return SignatureRow(
            signPerSecond: sign, verifyPerSecond: verify, x25519AgreementsPerSecond: agree,
            opensslSpeedSignPerSecond: opensslSign, opensslSpeedVerifyPerSecond: opensslVerify,
            verifyToOpenSSLRatio: opensslVerify.map { verify / $0 })
    }
}
