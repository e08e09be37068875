import Foundation
import Synchronization
import TallyCore
import TallyLedger

/// The organization's own privacy account: a local ledger of every round it contributed to,
/// signed with its own key, and the budget it set itself. The daemon asks it before joining a
/// round and writes to it before its masked input leaves — so a crash can only over-count.
///
/// The cost of a round is charged at the guarantee the plan makes — noise of any ≥ t shares —
/// not at what the coordinator later reports, because the participant cannot know how many
/// others survive.
struct BudgetGuard: Sendable {
    let ledger: PrivacyLedger
    let budget: PrivacyBudget
    /// The ledger's ε, kept up to date as this daemon (its only writer) records rounds, so a
    /// check costs the same in round 300 as in round 1.
    private let account: Account

    init(
        directory: String, participant: UInt32, signingKey: SigningPrivateKey, certificatePEM: String,
        budget: PrivacyBudget
    ) throws(TallyError) {
        self.budget = budget
        ledger = try PrivacyLedger(
            path: directory + "/" + Self.fileName, role: .participant(participant),
            signingKey: signingKey, certificatePEM: certificatePEM, budget: budget)
        account = Account(try RunningEpsilon(entries: try ledger.entries(), delta: budget.delta))
    }

    static let fileName = "privacy-ledger.sqlite"

    /// ε spent so far (RDP bound at the budget's δ).
    func spent() throws(TallyError) -> Double {
        try account.state.withLock { (running) throws(TallyError) in try running.epsilon() }
    }

    /// ε left, never negative.
    func remaining() throws(TallyError) -> Double { max(0, budget.epsilon - (try spent())) }

    /// The ε this organization would have spent after `round`; throws
    /// ``TallyError/Code/privacyBudgetExhausted`` when that is over budget.
    func admit(_ round: LedgerEntry) throws(TallyError) -> Double {
        let after = try account.state.withLock { (running) throws(TallyError) in try running.epsilon(adding: round) }
        guard after <= budget.epsilon else {
            let shown = after.isFinite ? String(format: "%.3f", after) : "∞ (the round adds no noise)"
            throw TallyError(
                .privacyBudgetExhausted,
                "joining round \(round.roundID) would bring ε to \(shown), over this organization's budget ε = \(budget.epsilon) at δ = \(budget.delta)"
            )
        }
        return after
    }

    /// Durably records a contribution (fsynced before returning).
    func record(_ round: LedgerEntry) throws(TallyError) {
        try account.state.withLock { (running) throws(TallyError) in try ledger.append(round, accountingIn: &running) }
    }

    private final class Account: Sendable {
        let state: Mutex<RunningEpsilon>
        init(_ running: sending RunningEpsilon) { state = Mutex(running) }
    }
}
