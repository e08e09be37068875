public import TallyCore
public import TallyLedger
import TallySecAgg

extension RoundPolicy {
    /// The smallest noise multiplier z whose privacy cost, over `rounds` rounds, stays within
    /// (`targetEpsilon`, `delta`) for every participant — computed by the one function that also
    /// enforces budgets and writes reports (``PrivacyReport/epsilonRDP(entries:delta:)``), over the
    /// ledger entries a participant would be charged (``RoundAgreement/participantCharge(_:)``: the
    /// distributed discrete Gaussian with t − c shares, σ² and τ as a plan of that cohort derives
    /// them). The worst of the cohort sizes given counts, so any cohort in between is covered as
    /// long as ε is monotone in n between them (τ grows with the cohort, t − c with it).
    ///
    /// `spent` is what the federation's ledger already holds (a restarted coordinator's earlier
    /// rounds): the target covers those and the `rounds` still to run together, so a restart
    /// never starts a fresh budget.
    ///
    /// Participant-level, every cohort treated as sampled with probability 1 (no amplification).
    public func calibratedNoiseMultiplier(
        targetEpsilon: Double, delta: Double, rounds: Int, cohortSizes: [Int],
        parameterCount: Int, spent: [LedgerEntry] = []
    ) throws(TallyError) -> NoiseCalibration.Result {
        guard rounds > 0 else {
            throw TallyError(.invalidArgument, "a target ε needs a finite number of rounds; set rounds, or set privacy.noiseMultiplier")
        }
        guard !cohortSizes.isEmpty, cohortSizes.allSatisfy({ $0 >= 2 }) else {
            throw TallyError(.invalidArgument, "calibration needs cohort sizes of at least 2, got \(cohortSizes)")
        }
        let already = try PrivacyReport.epsilonRDP(entries: spent, delta: delta)
        guard already < targetEpsilon else {
            throw TallyError(
                .privacyBudgetExhausted,
                "the federation's ledger already holds ε = \(already) of its target ε = \(targetEpsilon) (δ = \(delta)); no more rounds fit within it"
            )
        }
        do {
            return try search(
                targetEpsilon: targetEpsilon, delta: delta, rounds: rounds, cohortSizes: cohortSizes,
                parameterCount: parameterCount, spent: spent)
        } catch  where !spent.isEmpty {
            // What is left needs more noise than any plan can carry (or none is enough).
            throw TallyError(
                .privacyBudgetExhausted,
                "the federation's ledger holds ε = \(already) of its target ε = \(targetEpsilon) (δ = \(delta)); the rest is too small for \(rounds) more round(s)",
                cause: error)
        }
    }

    private func search(
        targetEpsilon: Double, delta: Double, rounds: Int, cohortSizes: [Int], parameterCount: Int, spent: [LedgerEntry]
    ) throws(TallyError) -> NoiseCalibration.Result {
        let hash = [UInt8](repeating: 0, count: 32)
        return try NoiseCalibration.search(targetEpsilon: targetEpsilon) { (z: Double) throws(TallyError) -> Double in
            var policy = self
            policy.noiseMultiplier = z
            // The noise a masked round carries. A benchmark round without masking is charged
            // ε = ∞ whatever z is; its noise is still this calibrated z.
            policy.unmasked = false
            var worst = 0.0
            for n in Set(cohortSizes) {
                let members = (1...n).map { (id: ParticipantID(UInt32($0)), certificate: "") }
                let agreement = try RoundAgreement.plan(
                    roundID: 1, members: members,
                    model: (hash: hash, parameterCount: parameterCount, compressedBytes: 0),
                    policy: policy)
                let entry = agreement.ledgerEntry(
                    agreement.participantCharge(members[0].id), modelVersion: nil, modelHash: "",
                    recordedAt: 0)
                worst = max(worst, try PrivacyReport.epsilonRDP(entries: spent + Array(repeating: entry, count: rounds), delta: delta))
            }
            return worst
        }
    }
}
