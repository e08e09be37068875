internal import Foundation
public import TallyCore

/// One released round as the privacy ledger records it: who is in the released sum and the noise
/// that is actually in it. The accountant (``PrivacyReport``) needs nothing else.
///
/// The coordinator writes one entry per released round; a participant writes one to its own ledger
/// for every round it sends a masked input to, before sending it.
public struct LedgerEntry: Codable, Sendable, Hashable {
    /// The mechanism every new entry uses: each participant adds a discrete Gaussian share,
    /// unclamped, to its clamped signal, and only the sum of the survivors' values is released
    /// (Kairouz, Liu, Steinke 2021). δ_clamp is 0.
    public static let distributedDiscreteGaussian = DistributedDPConfiguration.mechanism
    /// The mechanism of entries written before noised values stopped being clamped: each
    /// participant clamped x̃ + Z. Still audited, with δ_clamp charged as a failure event
    /// (``FailureEventCharge``): ε at δ with δ_mech(ε) + (1 + e^ε)·Σδ_clamp ≤ δ.
    public static let clampedDistributedDiscreteGaussian = "distributed-discrete-gaussian"
    /// An organization's whole contribution to a round, replaced by zero while its noise share
    /// stays (``PrivacyUnit/organization``).
    public static let organizationUnit = PrivacyUnit.organization.rawValue
    /// One record of an organization, Poisson-sampled with the entry's q (``PrivacyUnit/record``).
    public static let recordUnit = PrivacyUnit.record.rawValue
    /// The privacy units entries may name.
    public static let privacyUnits = Set(PrivacyUnit.allCases.map(\.rawValue))
    /// The largest cohort an entry may name: secure aggregation's own limit
    /// (`SecAggConfiguration.maxCohort`). Bounds everything an auditor computes from an entry.
    public static let maxCohortSize = 1 << 16
    /// The largest dimension an entry may name (2⁴⁰ coordinates, far beyond any model).
    public static let maxDimension = 1 << 40

    public var roundID: UInt64
    /// The released model version; nil in a participant's local ledger (not known yet).
    public var modelVersion: Int64?
    /// Hex SHA-256 of the released (coordinator) or base (participant) model.
    public var modelHash: String
    /// Participants whose input is in the released sum, ascending.
    public var participants: [UInt32]
    public var cohortSize: Int
    /// What the guarantee protects: ``organizationUnit`` or ``recordUnit``. Absent in entries
    /// written before it was recorded, which were all organization-level.
    public var privacyUnit: String
    /// q in (0, 1]: the Poisson sampling rate of the privacy unit. 1 for the organization unit:
    /// cohorts are chosen by the coordinator, so no amplification by sampling is claimed; each
    /// organization's own rate for the record unit.
    public var samplingRate: Double
    /// C, in model units.
    public var clipNorm: Double
    /// The planned z: the guarantee the round was calibrated for with `threshold` shares.
    public var noiseMultiplier: Double
    /// ``distributedDiscreteGaussian``.
    public var mechanism: String
    /// σ² of each participant's discrete Gaussian share, in scaled integer units.
    public var shareSigmaSquared: Double
    /// Noise shares the guarantee counts in the released sum: the coordinator's survivors − c
    /// (colluders may have added none), a participant's t − c; never the cohort size. The sum
    /// itself may hold more noise (every honest survivor's share).
    public var noiseShares: Int
    public var threshold: Int
    /// c: colluders tolerated; shares are sized so that t − c of them carry the full noise. Absent
    /// (0) in entries written before it was recorded.
    public var collusionMargin: Int
    /// Δ₂ in scaled integer units: how far one unit moves the integers sent (after conditional
    /// randomized rounding for an organization; scale·C + √d for a record).
    public var l2Sensitivity: Double
    /// d of the released (padded) vector.
    public var dimension: Int
    /// Probability bound of any clamping of noised values in this round: 0 for
    /// ``distributedDiscreteGaussian``; charged as a failure event for
    /// ``clampedDistributedDiscreteGaussian``.
    public var deltaClamp: Double
    /// Unix seconds.
    public var recordedAt: Double

    public init(
        roundID: UInt64, modelVersion: Int64?, modelHash: String, participants: [UInt32], cohortSize: Int,
        privacyUnit: String, samplingRate: Double, clipNorm: Double, noiseMultiplier: Double, mechanism: String,
        shareSigmaSquared: Double, noiseShares: Int, threshold: Int, collusionMargin: Int, l2Sensitivity: Double,
        dimension: Int, deltaClamp: Double, recordedAt: Double
    ) {
        self.roundID = roundID
        self.modelVersion = modelVersion
        self.modelHash = modelHash
        self.participants = participants
        self.cohortSize = cohortSize
        self.privacyUnit = privacyUnit
        self.samplingRate = samplingRate
        self.clipNorm = clipNorm
        self.noiseMultiplier = noiseMultiplier
        self.mechanism = mechanism
        self.shareSigmaSquared = shareSigmaSquared
        self.noiseShares = noiseShares
        self.threshold = threshold
        self.collusionMargin = collusionMargin
        self.l2Sensitivity = l2Sensitivity
        self.dimension = dimension
        self.deltaClamp = deltaClamp
        self.recordedAt = recordedAt
    }

    /// Decodes with the defaults of entries written before `privacyUnit` and `collusionMargin`
    /// existed, so old ledgers still decode and verify (records keep their bytes verbatim).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        roundID = try c.decode(UInt64.self, forKey: .roundID)
        modelVersion = try c.decodeIfPresent(Int64.self, forKey: .modelVersion)
        modelHash = try c.decode(String.self, forKey: .modelHash)
        participants = try c.decode([UInt32].self, forKey: .participants)
        cohortSize = try c.decode(Int.self, forKey: .cohortSize)
        privacyUnit = try c.decodeIfPresent(String.self, forKey: .privacyUnit) ?? Self.organizationUnit
        samplingRate = try c.decode(Double.self, forKey: .samplingRate)
        clipNorm = try c.decode(Double.self, forKey: .clipNorm)
        noiseMultiplier = try c.decode(Double.self, forKey: .noiseMultiplier)
        mechanism = try c.decode(String.self, forKey: .mechanism)
        shareSigmaSquared = try c.decode(Double.self, forKey: .shareSigmaSquared)
        noiseShares = try c.decode(Int.self, forKey: .noiseShares)
        threshold = try c.decode(Int.self, forKey: .threshold)
        collusionMargin = try c.decodeIfPresent(Int.self, forKey: .collusionMargin) ?? 0
        l2Sensitivity = try c.decode(Double.self, forKey: .l2Sensitivity)
        dimension = try c.decode(Int.self, forKey: .dimension)
        deltaClamp = try c.decode(Double.self, forKey: .deltaClamp)
        recordedAt = try c.decode(Double.self, forKey: .recordedAt)
    }

    /// The noise multiplier the guarantee counts on: √(n·σ²)/Δ₂ with n = ``noiseShares``.
    public var effectiveNoiseMultiplier: Double {
        (Double(noiseShares) * shareSigmaSquared).squareRoot() / l2Sensitivity
    }

    /// True when the released sum carries no noise (no shares, σ² = 0 or z = 0): ε is +∞.
    public var isNoiseless: Bool {
        noiseShares == 0 || shareSigmaSquared == 0 || noiseMultiplier == 0
    }

    /// The bytes that are hashed and signed: JSON with sorted keys and no whitespace. Records keep
    /// these bytes verbatim, so verification never depends on re-encoding.
    public func canonicalBytes() throws(TallyError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return [UInt8](try encoder.encode(self))
        } catch {
            throw TallyError(.invalidArgument, "ledger entry for round \(roundID) cannot be encoded", cause: error)
        }
    }

    /// Decodes an entry from a record's body.
    static func decode(_ body: [UInt8]) throws(TallyError) -> LedgerEntry {
        do {
            return try JSONDecoder().decode(LedgerEntry.self, from: Data(body))
        } catch {
            throw TallyError(.ledgerMalformed, "a ledger record's body is not a ledger entry", cause: error)
        }
    }

    /// Checks that the entry can be accounted for; ``PrivacyLedger/append(_:)`` refuses any other.
    public func validate() throws(TallyError) {
        func fail(_ what: String) -> TallyError {
            TallyError(.invalidArgument, "ledger entry for round \(roundID): \(what)")
        }
        guard mechanism == Self.distributedDiscreteGaussian || mechanism == Self.clampedDistributedDiscreteGaussian else {
            throw fail(
                "unknown mechanism \"\(mechanism)\" (only \(Self.distributedDiscreteGaussian) and \(Self.clampedDistributedDiscreteGaussian) can be accounted for)"
            )
        }
        guard Self.privacyUnits.contains(privacyUnit) else {
            throw fail("unknown privacy unit \"\(privacyUnit)\" (known: \(Self.privacyUnits.sorted().joined(separator: ", ")))")
        }
        guard zip(participants, participants.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw fail("participants must be ascending and distinct")
        }
        guard cohortSize <= Self.maxCohortSize else {
            throw fail("cohort size \(cohortSize) is over the limit of \(Self.maxCohortSize) participants")
        }
        guard cohortSize >= participants.count else {
            throw fail("cohort size \(cohortSize) is smaller than the \(participants.count) participants in the sum")
        }
        guard samplingRate.isFinite, samplingRate > 0, samplingRate <= 1 else {
            throw fail("sampling rate must be in (0, 1], got \(samplingRate)")
        }
        guard privacyUnit != Self.organizationUnit || samplingRate == 1 else {
            throw fail(
                "sampling rate must be 1 for the organization unit (coordinator-chosen cohorts give no amplification), got \(samplingRate)")
        }
        guard clipNorm.isFinite, clipNorm > 0 else { throw fail("clip norm must be positive and finite, got \(clipNorm)") }
        guard noiseMultiplier.isFinite, noiseMultiplier >= 0 else {
            throw fail("noise multiplier must be non-negative and finite, got \(noiseMultiplier)")
        }
        guard shareSigmaSquared.isFinite, shareSigmaSquared == 0 || shareSigmaSquared >= 0.25 else {
            throw fail("share σ² must be 0 (no noise) or at least 1/4 (Kairouz–Liu–Steinke need σ ≥ 1/2), got \(shareSigmaSquared)")
        }
        guard threshold >= 1 else { throw fail("threshold must be at least 1, got \(threshold)") }
        guard collusionMargin >= 0, collusionMargin < threshold else {
            throw fail("collusion margin must be in 0..<threshold = \(threshold), got \(collusionMargin)")
        }
        // Any unmaskable sum holds ≥ t shares of which ≥ t − c are honest: never fewer are charged.
        guard noiseShares == 0 || (noiseShares >= threshold - collusionMargin && noiseShares <= cohortSize) else {
            throw fail(
                "noise shares must be 0 (no noise) or in t − c = \(threshold - collusionMargin) through the cohort size \(cohortSize), got \(noiseShares)"
            )
        }
        guard l2Sensitivity.isFinite, l2Sensitivity > 0 else {
            throw fail("ℓ2 sensitivity must be positive and finite, got \(l2Sensitivity)")
        }
        guard dimension >= 1, dimension <= Self.maxDimension else {
            throw fail("dimension must be in 1 through \(Self.maxDimension), got \(dimension)")
        }
        guard deltaClamp.isFinite, deltaClamp >= 0, deltaClamp <= 1 else {
            throw fail("clamping probability must be in [0, 1], got \(deltaClamp)")
        }
        guard mechanism != Self.distributedDiscreteGaussian || deltaClamp == 0 else {
            throw fail("\(mechanism) clamps no noised value: its clamping probability must be 0, got \(deltaClamp)")
        }
        guard recordedAt.isFinite else { throw fail("recording time must be finite") }
    }
}
