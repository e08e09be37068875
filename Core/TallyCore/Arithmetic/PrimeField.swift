internal import CGMP

/// Arithmetic modulo the Shamir prime p = 2^256 + 297, the smallest prime above 2^256.
///
/// Choosing p just above 2^256 means every 256-bit secret (a seed or an X25519 private key)
/// is a field element as-is — no reduction, no bias, no encoding step.
enum PrimeField {
    /// p in big-endian bytes (33 bytes: 0x01 followed by 2^256 mod ... + 297).
    static let primeBytes: [UInt8] = {
        var bytes = [UInt8](repeating: 0, count: 33)
        bytes[0] = 1
        bytes[31] = 0x01 // 297 = 0x0129
        bytes[32] = 0x29
        return bytes
    }()

    /// Serialized field elements are 33 bytes, big-endian.
    static let elementByteCount = 33

    /// The modulus (a fresh copy per call site that needs one; `GMPInteger` is not shareable).
    static func prime() -> GMPInteger { GMPInteger(bigEndian: primeBytes) }
}
