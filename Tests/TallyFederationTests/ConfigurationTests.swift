import Foundation
import Testing
import TallyCoordinator
import TallyCore
import TallyParticipant
import TallyTestSupport
import TallyWire

/// Numbers a coordinator turns into durations, counts or wire fields: each out-of-range value is
/// an error naming its key, where it used to trap inside a round.
@Suite struct CoordinatorConfigurationTests {
    func message(_ change: (inout CoordinatorConfiguration) -> Void) -> String? {
        var c = CoordinatorConfiguration()
        change(&c)
        do { try c.validate(); return nil } catch { return error.message }
    }

    @Test func outOfRangeNumbersNameTheirKey() {
        let cases: [(String, (inout CoordinatorConfiguration) -> Void)] = [
            ("syntheticDimension", { $0.syntheticDimension = -1 }),
            ("stageTimeoutSeconds", { $0.stageTimeoutSeconds = 1e300 }),
            ("roundIntervalSeconds", { $0.roundIntervalSeconds = 1e300 }),
            ("roundIntervalSeconds", { $0.roundIntervalSeconds = -1 }),
            ("training.localEpochs", { $0.training.localEpochs = -1 }),
            ("training.batchSize", { $0.training.batchSize = -32 }),
            ("training.batchSize", { $0.training.batchSize = 1 << 40 }),
            ("training.learningRate", { $0.training.learningRate = .nan }),
            ("collusionMargin", { $0.collusionMargin = 5 }),  // 3 participants cannot tolerate 5
        ]
        for (key, change) in cases {
            let text = message(change)
            #expect(text?.contains(key) == true, "\(key): \(text ?? "accepted")")
        }
        // The control: with the defaults every number passes, and only the (absent) TLS files of
        // the default data directory are reported.
        #expect(message { _ in }?.hasPrefix("certificate file") == true)
    }
}

/// The same for a participant daemon's configuration.
@Suite struct ParticipantConfigurationTests {
    func message(_ change: (inout ParticipantConfiguration) -> Void) -> String? {
        var c = ParticipantConfiguration()
        change(&c)
        do { try c.validate(); return nil } catch { return error.message }
    }

    @Test func outOfRangeNumbersNameTheirKey() {
        let cases: [(String, (inout ParticipantConfiguration) -> Void)] = [
            ("coordinatorPort", { $0.coordinatorPort = -1 }),
            ("coordinatorPort", { $0.coordinatorPort = 70_000 }),
            ("reconnectInitialSeconds", { $0.reconnectInitialSeconds = -1 }),
            ("reconnectInitialSeconds", { $0.reconnectInitialSeconds = 0 }),
            ("reconnectMaxSeconds", { $0.reconnectMaxSeconds = -1 }),
            ("maxMessageBytes", { $0.maxMessageBytes = 100 }),
            ("privacyBudget", { $0.privacyBudget.delta = 0 }),
            ("roundRequirements", { $0.roundRequirements.minimumThresholdFraction = 2 }),
        ]
        for (key, change) in cases {
            let text = message(change)
            #expect(text?.contains(key) == true, "\(key): \(text ?? "accepted")")
        }
        #expect(message { _ in }?.hasPrefix("certificate file") == true, "the defaults pass every number check")
    }
}

/// The fingerprint organizations pin is the one OpenSSL prints for the same certificate.
@Suite struct CertificateFingerprintTests {
    @Test func matchesOpenSSL() throws {
        let federation = try makeFederation("fingerprint", participants: 2, rounds: 1)
        defer { try? FileManager.default.removeItem(atPath: federation.options.directory) }
        let path = federation.pki + "/participant-2/cert.pem"
        let printed = try TestEnvironment.openssl(["x509", "-in", path, "-noout", "-fingerprint", "-sha256"])
        let expected = try #require(printed.split(separator: "=").last).replacingOccurrences(of: ":", with: "")
            .trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        #expect(expected.count == 64)
        #expect(try CertificateFingerprint.sha256(pem: String(contentsOfFile: path, encoding: .utf8)) == expected)
        // Another certificate has another fingerprint.
        #expect(try CertificateFingerprint.sha256(pem: String(contentsOfFile: federation.pki + "/participant-1/cert.pem", encoding: .utf8)) != expected)
    }
}
