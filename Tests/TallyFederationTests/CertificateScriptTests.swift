import TallyTestSupport
import Testing

/// The certificate scripts as an operator runs them.
@Suite struct CertificateScriptTests {
    @Test func theCoordinatorCertificateNamesExtraDNSNamesAndIPAddresses() throws {
        let directory = try TestDirectories.make("san")
        try TestEnvironment.certsScript("create-federation-ca.sh", [directory, "SAN CA", "2"])
        try TestEnvironment.certsScript("issue-certificate.sh", [directory, "coordinator", "tally.example.org", "10.1.2.3", "fd00::5"])
        let san = try TestEnvironment.openssl(["x509", "-in", directory + "/coordinator/cert.pem", "-noout", "-ext", "subjectAltName"])
        for expected in ["DNS:tally.example.org", "IP Address:10.1.2.3", "IP Address:FD00:0:0:0:0:0:0:5", "URI:tally://coordinator"] {
            #expect(san.contains(expected), "\(expected) missing from \(san)")
        }
        #expect(!san.contains("DNS:10.1.2.3"), "an IP address is not a DNS name")
        #expect(throws: (any Error).self, "a name that is neither is refused") {
            try TestEnvironment.certsScript("issue-certificate.sh", [directory, "coordinator", "bad name"])
        }
    }
}
