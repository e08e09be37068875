public import TallyCore

/// One link of the ledger's hash chain: an entry's canonical bytes, chained to the record before
/// it and signed by whoever wrote it.
public struct LedgerRecord: Sendable, Hashable {
    /// 1, 2, 3, … without gaps.
    public let sequence: Int64
    /// The previous record's ``hash``; 32 zero bytes for sequence 1.
    public let previousHash: [UInt8]
    /// The entry's canonical bytes, stored and verified verbatim.
    public let body: [UInt8]
    /// ``chainHash(sequence:previousHash:body:)`` of the three fields above.
    public let hash: [UInt8]
    /// The signer's signature over ``hash``.
    public let signature: [UInt8]
    /// The signer's certificate, kept per record so that certificates can be renewed.
    public let signerCertificatePEM: String

    /// The domain label that starts every hashed record.
    public static let domain: [UInt8] = Array("tally/ledger/v1".utf8)

    /// The previous hash of the first record.
    public static let genesisHash = [UInt8](repeating: 0, count: SHA256Digest.byteCount)

    public init(sequence: Int64, previousHash: [UInt8], body: [UInt8], hash: [UInt8], signature: [UInt8], signerCertificatePEM: String) {
        self.sequence = sequence
        self.previousHash = previousHash
        self.body = body
        self.hash = hash
        self.signature = signature
        self.signerCertificatePEM = signerCertificatePEM
    }

    /// SHA-256("tally/ledger/v1" ‖ sequence as 8 bytes big-endian ‖ previousHash ‖ body). The label
    /// and the first two fields have fixed lengths, so the encoding is unambiguous.
    public static func chainHash(sequence: Int64, previousHash: [UInt8], body: [UInt8]) -> [UInt8] {
        var message = domain
        message.reserveCapacity(domain.count + 8 + previousHash.count + body.count)
        withUnsafeBytes(of: UInt64(bitPattern: sequence).bigEndian) { message.append(contentsOf: $0) }
        message.append(contentsOf: previousHash)
        message.append(contentsOf: body)
        return SHA256Digest.hash(message)
    }

    /// The entry this record holds.
    public func entry() throws(TallyError) -> LedgerEntry {
        do {
            return try LedgerEntry.decode(body)
        } catch {
            throw TallyError(.ledgerMalformed, "ledger record \(sequence): \(error.message)")
        }
    }
}
