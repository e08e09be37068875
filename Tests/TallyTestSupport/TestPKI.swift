import Foundation
import TallyCore

/// A federation PKI made once per test process with the repository's own scripts (never
/// committed): a CA, the coordinator, participants 1 and 2, a second CA with its own coordinator,
/// and a self-signed certificate without a Tally role.
public final class TestPKI: Sendable {
    public static let shared: TestPKI = {
        do { return try TestPKI() } catch { fatalError("cannot create the test PKI: \(error)") }
    }()

    public let directory: String
    public let otherDirectory: String

    private init() throws {
        directory = try TestDirectories.make("pki")
        otherDirectory = try TestDirectories.make("other-pki")
        try TestEnvironment.certsScript("create-federation-ca.sh", [directory, "Test CA", "2"])
        try TestEnvironment.certsScript("issue-certificate.sh", [directory, "coordinator"])
        try TestEnvironment.certsScript("issue-certificate.sh", [directory, "participant", "1", "2"])
        try TestEnvironment.certsScript("issue-certificate.sh", [directory, "participant", "2", "2"])
        try TestEnvironment.certsScript("create-federation-ca.sh", [otherDirectory, "Another CA", "2"])
        try TestEnvironment.certsScript("issue-certificate.sh", [otherDirectory, "coordinator"])
        try TestEnvironment.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/CN=test", "-days", "2", "-keyout", directory + "/plain.key", "-out", directory + "/plain.crt",
        ])
    }

    /// A signing key and the certificate that goes with it.
    public struct Identity: Sendable {
        public let key: SigningPrivateKey
        public let certificatePEM: String
    }

    /// The identity issued as `name` (`coordinator`, `participant-1`, …), by the first CA or the other.
    public func identity(_ name: String, other: Bool = false) throws -> Identity {
        let dir = (other ? otherDirectory : directory) + "/" + name
        return try Self.identity(key: dir + "/key.pem", certificate: dir + "/cert.pem")
    }

    public var coordinator: Identity { get throws { try identity("coordinator") } }
    public func participant(_ id: UInt32) throws -> Identity { try identity("participant-\(id)") }
    /// The self-signed certificate with no Tally role.
    public var plain: Identity { get throws { try Self.identity(key: directory + "/plain.key", certificate: directory + "/plain.crt") } }
    public var caPEM: String { get throws { try String(contentsOfFile: directory + "/ca/ca.crt", encoding: .utf8) } }
    public var otherCAPEM: String { get throws { try String(contentsOfFile: otherDirectory + "/ca/ca.crt", encoding: .utf8) } }

    private static func identity(key: String, certificate: String) throws -> Identity {
        Identity(
            key: try SigningPrivateKey(pem: try String(contentsOfFile: key, encoding: .utf8)),
            certificatePEM: try String(contentsOfFile: certificate, encoding: .utf8))
    }
}
