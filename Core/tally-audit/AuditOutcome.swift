import Foundation
import TallyCore
import TallyLedger

/// A ledger opened read-only and verified, with the CLI's extra checks (CA, published head).
struct AuditOutcome {
    let ledger: PrivacyLedger
    let verification: LedgerVerification
    let problems: [String]
    let certificateLines: [String]
    let checkedAgainstCA: Bool
    let expectedHead: String?

    var isIntact: Bool { problems.isEmpty }

    init(_ options: LedgerOptions) throws(TallyError) {
        try self.init(path: options.ledger, caPath: options.ca, head: options.head)
    }

    init(path: String, caPath: String?, head: String?) throws(TallyError) {
        ledger = try PrivacyLedger.openForAudit(path: path)
        verification = try ledger.verify()
        var problems = verification.problems
        var lines: [String] = []
        let ca = try caPath.map { (path) throws(TallyError) -> LedgerCertificate in try LedgerCertificate(pem: try readPEM(path)) }
        for (index, pem) in verification.signerCertificates.enumerated() {
            let label = "certificate \(index + 1)"
            do {
                let certificate = try LedgerCertificate(pem: pem)
                lines.append(
                    "  \(label): \(certificate.displayName), \(certificate.tallyRole.map { "\($0)" } ?? "no Tally role"), valid \(certificate.notBefore) to \(certificate.notAfter)"
                )
                if let ca {
                    do {
                        try certificate.checkIssued(by: ca)
                    } catch {
                        problems.append(
                            "\(label) (\(certificate.displayName)) was not issued by the CA \(ca.displayName): \(error.message)")
                    }
                }
            } catch {
                lines.append("  \(label): unreadable (\(error.message))")
            }
        }
        if let head {
            let wanted = head.lowercased()
            let hashes = try ledger.records().map { Hex.encode($0.hash) }
            if let position = hashes.firstIndex(of: wanted) {
                if position + 1 < hashes.count {
                    lines.append(
                        "  published head \(wanted) is record \(position + 1); \(hashes.count - position - 1) records were appended since")
                }
            } else {
                problems.append(
                    "the published head \(wanted) is not in the ledger: records were removed or rewritten since it was published")
            }
        }
        self.problems = problems
        certificateLines = lines
        checkedAgainstCA = ca != nil
        expectedHead = head
    }

    func summary() -> [String] {
        var out = ["ledger: \(ledger.path) (\(ledger.role))", "records checked: \(verification.records)"]
        out.append("head hash: \(verification.headHash.map { Hex.encode($0) } ?? "none (empty ledger)")")
        let legacy = verification.legacyRecords
        out.append(
            legacy == 0
                ? "record format: v2 (each record's hash covers its signer certificate)"
                : "record formats: \(verification.records - legacy) v2, \(legacy) v1 (the v1 records' hashes do not cover their signer certificate\(checkedAgainstCA ? "" : "; pass --ca to check those certificates"))"
        )
        out.append("signer certificates: \(verification.signerCertificates.count)")
        out += certificateLines
        if checkedAgainstCA {
            out.append("signer certificates were checked against the CA")
        } else {
            out.append(
                "signatures were checked against the certificates embedded in the ledger (pass --ca CA.pem to check those certificates against the federation CA)"
            )
        }
        for note in verification.notes { out.append("note: \(note)") }
        let shown = problems.prefix(100)
        for problem in shown { out.append("problem: \(problem)") }
        if problems.count > shown.count { out.append("… and \(problems.count - shown.count) more problems") }
        out.append(isIntact ? "ledger intact" : "LEDGER ALTERED")
        return out
    }
}

/// A PEM file: a regular file of at most 1 MiB (a FIFO or device is refused, not waited on).
func readPEM(_ path: String) throws(TallyError) -> String {
    String(decoding: try BoundedFile.read(path, maxBytes: 1 << 20, what: "CA certificate"), as: UTF8.self)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
