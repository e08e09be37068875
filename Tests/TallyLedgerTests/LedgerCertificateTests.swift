import Foundation
import TallyCore
import TallyTestSupport
import Testing

@testable import TallyLedger

@Suite struct LedgerCertificateTests {
    @Test func readsRoleKeyAndName() throws {
        let pki = TestPKI.shared
        let coordinator = try LedgerCertificate(pem: try pki.coordinator.certificatePEM)
        #expect(coordinator.tallyRole == .coordinator)
        #expect(coordinator.subjectCommonName == "Tally coordinator")
        #expect(coordinator.subjectPublicKeyInfo == (try pki.coordinator.key.publicKey.derRepresentation))
        let participant = try LedgerCertificate(pem: try pki.participant(2).certificatePEM)
        #expect(participant.tallyRole == .participant(2))
        let plain = try LedgerCertificate(pem: try pki.plain.certificatePEM)
        #expect(plain.tallyRole == nil)
        #expect(plain.subjectCommonName == "test")
        // Valid for 2 days from today, shown as dates.
        #expect(plain.notBefore.count == 23 && plain.notBefore.hasSuffix(" UTC") && plain.notBefore.hasPrefix("20"))
        #expect(plain.notAfter > plain.notBefore)
    }

    @Test func issuerCheck() throws {
        let pki = TestPKI.shared
        let ca = try LedgerCertificate(pem: try pki.caPEM), otherCA = try LedgerCertificate(pem: try pki.otherCAPEM)
        let coordinator = try LedgerCertificate(pem: try pki.coordinator.certificatePEM)
        try coordinator.checkIssued(by: ca)
        try LedgerCertificate(pem: try pki.participant(1).certificatePEM).checkIssued(by: ca)
        #expect(throws: TallyError.self) { try coordinator.checkIssued(by: otherCA) }
        #expect(throws: TallyError.self) {
            try LedgerCertificate(pem: try pki.identity("coordinator", other: true).certificatePEM).checkIssued(by: ca)
        }
        #expect(throws: TallyError.self) { try LedgerCertificate(pem: try pki.plain.certificatePEM).checkIssued(by: ca) }
        // A certificate whose signed part was changed (one byte of the subject key) fails the check.
        var der = coordinator.der
        let keyStart = (0..<der.count).first {
            Array(der[$0..<min($0 + coordinator.subjectPublicKeyInfo.count, der.count)]) == coordinator.subjectPublicKeyInfo
        }!
        der[keyStart + coordinator.subjectPublicKeyInfo.count - 1] ^= 1
        let altered = try? LedgerCertificate(der: der, pem: "")
        if let altered { #expect(throws: TallyError.self) { try altered.checkIssued(by: ca) } }
    }

    @Test func malformedCertificatesAreErrorsNotCrashes() throws {
        let der = try LedgerCertificate(pem: try TestPKI.shared.coordinator.certificatePEM).der
        #expect(throws: TallyError.self) { try LedgerCertificate(pem: "not a certificate") }
        #expect(throws: TallyError.self) { try LedgerCertificate(pem: "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n") }
        // Every truncation, and many single-byte changes, either parse or throw.
        for length in 0..<der.count {
            _ = try? LedgerCertificate(der: Array(der.prefix(length)), pem: "")
        }
        for index in stride(from: 0, to: der.count, by: 3) {
            for flip: UInt8 in [0x01, 0x80, 0xff] {
                var changed = der
                changed[index] ^= flip
                _ = try? LedgerCertificate(der: changed, pem: "")
            }
        }
        #expect(throws: TallyError.self) { try LedgerCertificate(der: Array(der.prefix(der.count - 1)), pem: "") }
    }
}
