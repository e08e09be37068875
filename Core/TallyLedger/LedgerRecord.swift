public import TallyCore

/// One link of the ledger's hash chain: an entry's canonical bytes, chained to the record before
/// it and signed by whoever wrote it.
public struct LedgerRecord: Sendable, Hashable {
    /// How a record's hash is computed.
    public enum Format: Int, Sendable, Hashable, Comparable {
        /// Records written before the signer certificate was hashed: the certificate is outside
        /// the chain, so changing it is detected only when its key no longer verifies the
        /// signature (or, with a CA, when it no longer chains to the CA). Still verified as written.
        case v1 = 1
        /// Every record appended now: the SHA-256 of the stored certificate is part of the hash.
        case v2 = 2

        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

        /// The domain label that starts every hashed record of this format.
        public var domain: [UInt8] { Array("tally/ledger/v\(rawValue)".utf8) }
    }

    /// The format of the record's hash.
    public let format: Format
    /// 1, 2, 3, … without gaps.
    public let sequence: Int64
    /// The previous record's ``hash``; 32 zero bytes for sequence 1.
    public let previousHash: [UInt8]
    /// The entry's canonical bytes, stored and verified verbatim.
    public let body: [UInt8]
    /// ``chainHash(format:sequence:previousHash:certificatePEM:body:)`` of the record.
    public let hash: [UInt8]
    /// The signer's signature over ``hash``.
    public let signature: [UInt8]
    /// The signer's certificate, kept per record so that certificates can be renewed; its exact
    /// bytes are hashed into ``hash`` (format v2).
    public let signerCertificatePEM: String

    /// The format ``PrivacyLedger/append(_:)`` writes.
    public static let currentFormat = Format.v2

    /// The previous hash of the first record.
    public static let genesisHash = [UInt8](repeating: 0, count: SHA256Digest.byteCount)

    public init(
        format: Format = currentFormat, sequence: Int64, previousHash: [UInt8], body: [UInt8], hash: [UInt8], signature: [UInt8],
        signerCertificatePEM: String
    ) {
        self.format = format
        self.sequence = sequence
        self.previousHash = previousHash
        self.body = body
        self.hash = hash
        self.signature = signature
        self.signerCertificatePEM = signerCertificatePEM
    }

    /// The record's hash.
    ///
    /// * v2: SHA-256("tally/ledger/v2" ‖ sequence as 8 bytes big-endian ‖ previousHash ‖
    ///   SHA-256(certificate PEM as stored, UTF-8) ‖ body).
    /// * v1: SHA-256("tally/ledger/v1" ‖ sequence ‖ previousHash ‖ body): the certificate is not
    ///   covered.
    ///
    /// The label and every field before the body have fixed lengths, so the encoding is
    /// unambiguous; the labels differ, so a record cannot be re-read in the other format.
    public static func chainHash(format: Format, sequence: Int64, previousHash: [UInt8], certificatePEM: String, body: [UInt8])
        -> [UInt8]
    {
        var message = format.domain
        message.reserveCapacity(message.count + 8 + previousHash.count + SHA256Digest.byteCount + body.count)
        withUnsafeBytes(of: UInt64(bitPattern: sequence).bigEndian) { message.append(contentsOf: $0) }
        message.append(contentsOf: previousHash)
        if format >= .v2 { message.append(contentsOf: SHA256Digest.hash(Array(certificatePEM.utf8))) }
        message.append(contentsOf: body)
        return SHA256Digest.hash(message)
    }

    /// The hash this record should have, recomputed from its fields.
    public var expectedHash: [UInt8] {
        Self.chainHash(format: format, sequence: sequence, previousHash: previousHash, certificatePEM: signerCertificatePEM, body: body)
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
