internal import CLibCrypto

/// Helpers shared by the libcrypto wrappers.
enum OpenSSL {
    /// Drains OpenSSL's thread-local error queue into one line (no secrets are ever in it).
    static func errorString() -> String {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            parts.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return parts.isEmpty ? "no detail from libcrypto" : parts.joined(separator: "; ")
    }

    static func failure(_ what: String) -> TallyError {
        TallyError(.cryptoFailure, "\(what) failed: \(errorString())")
    }

    /// Throws unless a libcrypto call returned 1.
    @inline(__always)
    static func check(_ result: Int32, _ what: @autoclosure () -> String) throws(TallyError) {
        guard result == 1 else { throw failure(what()) }
    }

    /// Zeroes memory in a way the compiler may not elide.
    static func cleanse(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { OPENSSL_cleanse(base, raw.count) }
        }
    }
}
