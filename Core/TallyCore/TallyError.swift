/// The one error type Tally throws: a stable machine-readable ``code`` (safe to match on, log
/// and document) and a human ``message`` that says what went wrong and what to do.
///
/// Messages never carry secret material: no keys, seeds, shares or plaintext values.
public struct TallyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable error code. New codes may be added; existing ones never change meaning.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
    }

    public let code: Code
    public let message: String
    /// The error underneath, when this one wraps another (a decoder's, a database's). Shown by
    /// ``description``; not part of equality or hashing, which stay on code and message.
    public let cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String) {
        self.init(code, message, cause: nil)
    }

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)?) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        guard let cause else { return "[\(code)] \(message)" }
        return "[\(code)] \(message): \(cause)"
    }

    public static func == (a: Self, b: Self) -> Bool { a.code == b.code && a.message == b.message }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}

extension TallyError.Code {
    // Arithmetic and encoding
    public static let invalidArgument = Self(rawValue: "invalid-argument")
    public static let valueOutOfRange = Self(rawValue: "value-out-of-range")
    public static let sizeMismatch = Self(rawValue: "size-mismatch")
    // Secret sharing
    public static let tooFewShares = Self(rawValue: "too-few-shares")
    public static let duplicateShare = Self(rawValue: "duplicate-share")
    public static let malformedShare = Self(rawValue: "malformed-share")
    // Crypto
    public static let cryptoFailure = Self(rawValue: "crypto-failure")
    public static let authenticationFailed = Self(rawValue: "authentication-failed")
    public static let badSignature = Self(rawValue: "bad-signature")
    public static let malformedKey = Self(rawValue: "malformed-key")
    // Compression and framing
    public static let compressionFailed = Self(rawValue: "compression-failed")
    public static let decompressionFailed = Self(rawValue: "decompression-failed")
    public static let sizeLimitExceeded = Self(rawValue: "size-limit-exceeded")
    public static let malformedMessage = Self(rawValue: "malformed-message")
    /// Stored or received data does not match its hash or signature.
    public static let integrityFailure = Self(rawValue: "integrity-failure")
    /// A file that does not exist, is not a regular file, or cannot be read.
    public static let fileReadFailed = Self(rawValue: "file-read-failed")
    /// A peer is not allowed: wrong role, not on the allowlist, revoked, or speaking for another.
    public static let permissionDenied = Self(rawValue: "permission-denied")
}
