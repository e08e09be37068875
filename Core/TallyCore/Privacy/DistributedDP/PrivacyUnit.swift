/// What a federation's guarantee protects, stated in its configuration, every round plan, every
/// ledger entry and every budget.
///
/// - ``organization``: an organization's whole contribution to a round (its update replaced by
///   zero while its noise share stays). Cohorts are chosen by the coordinator, so no
///   amplification by sampling is claimed (q = 1).
/// - ``record``: one record (a person, a transaction) of any organization. Each organization
///   Poisson-samples its own records with a public rate q and sends the sum of their clipped
///   gradients: DP-SGD on the union of the data, with the noise spread over the organizations.
///   An organization-level guarantee implies the record-level one at the same ε (a record is part
///   of the organization's contribution), never the converse.
public enum PrivacyUnit: String, Sendable, Hashable, Codable, CaseIterable {
    case organization
    case record
}
