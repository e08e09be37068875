import GRPCNIOTransportHTTP2
import NIOCore
import NIOSSL
import TallyCore

/// The party's TLS private key as the transport uses it: it signs a handshake only when TLS 1.3
/// was negotiated, so both sides of the federation speak TLS 1.3 only.
///
/// Why a signing key: the gRPC transport builds its TLS configuration itself with TLS 1.2 as the
/// minimum and offers no setting for it. Every handshake a federation party completes needs its
/// key's signature — the server signs ServerKeyExchange (TLS 1.2, ECDHE with an ECDSA or Ed25519
/// key: the only kinds federation certificates carry, so there is no RSA key exchange that would
/// skip it) or CertificateVerify (TLS 1.3), and the client signs CertificateVerify for the client
/// certificate the coordinator always requests — so refusing to sign below 1.3 aborts every
/// older handshake before any application data. No TLS 1.2 session ever completes, so there is
/// none to resume without a signature.
///
/// Signing uses ``SigningPrivateKey`` (OpenSSL): ECDSA P-256 over SHA-256, DER-encoded, for
/// `ecdsa_secp256r1_sha256`, and pure Ed25519 for `ed25519` — the same bytes TLS expects.
struct TLS13SigningKey: NIOSSLCustomPrivateKey, Hashable {
    /// The key file, for messages and identity.
    let path: String
    /// nil when the file cannot be read as a federation key: then every handshake fails (closed,
    /// never open) with ``loadError``.
    let key: SigningPrivateKey?
    let loadError: String?

    init(path: String) {
        self.path = path
        do {
            key = try SigningPrivateKey(pem: FederationTrust.readPEM(path, what: "TLS private key"))
            loadError = nil
        } catch {
            key = nil
            loadError = error.message
        }
    }

    var signatureAlgorithms: [SignatureAlgorithm] {
        switch key?.algorithm {
        case .ecdsaP256: [.ecdsaSecp256R1Sha256]
        case .ed25519: [.ed25519]
        case nil: []
        }
    }

    func sign(channel: any Channel, algorithm: SignatureAlgorithm, data: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        // Called on the channel's event loop, inside the TLS handler's handshake.
        let version = try? channel.pipeline.syncOperations.handler(type: NIOSSLHandler.self).tlsVersion
        guard version == .tlsv13 else {
            return channel.eventLoop.makeFailedFuture(
                TallyError(
                    .permissionDenied,
                    "refusing a TLS handshake in \(version.map { "\($0)" } ?? "an unknown version"): the federation speaks TLS 1.3 only"))
        }
        guard let key else {
            return channel.eventLoop.makeFailedFuture(
                TallyError(.malformedKey, "the TLS private key \(path) cannot be used: \(loadError ?? "unreadable")"))
        }
        guard signatureAlgorithms.contains(algorithm) else {
            return channel.eventLoop.makeFailedFuture(
                TallyError(.invalidArgument, "the TLS private key \(path) cannot sign with algorithm \(algorithm)"))
        }
        do {
            return channel.eventLoop.makeSucceededFuture(ByteBuffer(bytes: try key.signature(for: Array(data.readableBytesView))))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    /// Only RSA key exchange decrypts, which TLS 1.3 does not have.
    func decrypt(channel: any Channel, data: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        channel.eventLoop.makeFailedFuture(TallyError(.invalidArgument, "the federation's TLS keys never decrypt (no RSA key exchange)"))
    }

    static func == (a: Self, b: Self) -> Bool {
        a.path == b.path && a.key?.publicKey.derRepresentation == b.key?.publicKey.derRepresentation
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(path)
        hasher.combine(key?.publicKey.derRepresentation)
    }
}
