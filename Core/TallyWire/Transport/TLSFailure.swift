/// What a failed TLS handshake says, without BoringSSL's source paths: its reason codes (e.g.
/// `CERTIFICATE_VERIFY_FAILED`), which both sides turn into words a person can act on.
public enum TLSFailure {
    /// The reason codes in `error`'s description: upper-case words joined by underscores.
    public static func reasonCodes(in error: any Error) -> [String] {
        var codes: [String] = []
        var word = ""
        func flush() {
            let trimmed = String(word.drop { $0 == "_" }.reversed().drop { $0 == "_" }.reversed())
            if trimmed.contains("_"), trimmed.count >= 6, trimmed.first?.isLetter == true, !codes.contains(trimmed) {
                codes.append(trimmed)
            }
            word = ""
        }
        for character in "\(error)" {
            if character.isUppercase || character.isNumber || character == "_" {
                word.append(character)
            } else {
                flush()
            }
        }
        flush()
        return codes
    }

    /// Why the coordinator refused a client's handshake, in one line; the codes are kept at the end.
    public static func describeRefusedClient(_ error: any Error) -> String {
        let codes = reasonCodes(in: error)
        let meaning: String
        if codes.contains(where: { $0.contains("CERTIFICATE_VERIFY_FAILED") }) {
            meaning = "its certificate is not issued by the federation CA, or has expired"
        } else if codes.contains(where: { $0.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") || $0.contains("CERTIFICATE_REQUIRED") }) {
            meaning = "it sent no client certificate"
        } else if codes.contains(where: { $0.contains("UNKNOWN_CA") || $0.contains("BAD_CERTIFICATE") }) {
            meaning = "it does not trust the coordinator's certificate (a different federation CA?)"
        } else if codes.contains(where: { $0.contains("VERSION") || $0.contains("PROTOCOL") || $0.contains("NO_SHARED_CIPHER") }) {
            meaning = "it does not speak TLS 1.3 with the coordinator's ciphers"
        } else if codes.contains(where: { $0.contains("REVOKED") }) {
            meaning = "its certificate is revoked"
        } else if codes.isEmpty {
            return "the handshake failed: \(String("\(error)".prefix(200)))"
        } else {
            meaning = "the handshake failed"
        }
        return codes.isEmpty ? meaning : "\(meaning) (\(codes.joined(separator: ", ")))"
    }
}
