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
    /// `firstRoundVectorLength`, when given, is the length of the first of those rounds' vector
    /// (a moments round measuring the standardization, ``ModelState/roundVectorLength``): that
    /// round is charged as its own plan derives it.
    ///
    /// Participant-level, every cohort treated as sampled with probability 1 (no amplification).
    public func calibratedNoiseMultiplier(
        targetEpsilon: Double, delta: Double, rounds: Int, cohortSizes: [Int],
        parameterCount: Int, spent: [LedgerEntry] = [], firstRoundVectorLength: Int? = nil
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
                parameterCount: parameterCount, spent: spent, firstRoundVectorLength: firstRoundVectorLength)
        } catch  where !spent.isEmpty {
            // What is left needs more noise than any plan can carry (or none is enough).
            throw TallyError(
                .privacyBudgetExhausted,
                "the federation's ledger holds ε = \(already) of its target ε = \(targetEpsilon) (δ = \(delta)); the rest is too small for \(rounds) more round(s)",
                cause: error)
        }
    }

    private func search(
        targetEpsilon: Double, delta: Double, rounds: Int, cohortSizes: [Int], parameterCount: Int, spent: [LedgerEntry],
        firstRoundVectorLength: Int?
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
                func entry(length: Int) throws(TallyError) -> LedgerEntry {
                    let agreement = try RoundAgreement.plan(
                        roundID: 1, members: members,
                        model: (hash: hash, parameterCount: length, compressedBytes: 0),
                        policy: policy)
                    return agreement.ledgerEntry(
                        agreement.participantCharge(members[0].id), modelVersion: nil, modelHash: "",
                        recordedAt: 0)
                }
                var entries = spent
                if let first = firstRoundVectorLength {
                    entries.append(try entry(length: first))
                    entries += Array(repeating: try entry(length: parameterCount), count: rounds - 1)
                } else {
                    entries += Array(repeating: try entry(length: parameterCount), count: rounds)
                }
                worst = max(worst, try PrivacyReport.epsilonRDP(entries: entries, delta: delta))
            }
            return worst
        }
    }
}
