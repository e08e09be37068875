import ArgumentParser

/// What every command that reads a ledger takes, with the same meaning everywhere: the file, the
/// federation CA that signer certificates must chain to, and a head hash published earlier.
struct LedgerOptions: ParsableArguments {
    @Argument(help: "The ledger file (coordinator's or a participant's); a regular file.") var ledger: String
    @Option(name: .customLong("ca"), help: "The federation CA certificate (PEM): check every signer certificate was issued by it.")
    var ca: String?
    @Option(help: "A head hash (hex) published earlier: check the ledger still contains that record.") var head: String?

    /// A malformed head is a usage error, not an altered ledger.
    func validate() throws {
        if let head, head.count != 64 || !head.allSatisfy(\.isHexDigit) {
            throw ValidationError("--head must be a SHA-256 hash, 64 hex digits (as `verify` prints it), got \"\(head.prefix(80))\"")
        }
    }
}
