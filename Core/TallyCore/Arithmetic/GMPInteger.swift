internal import CGMP

/// An owned GMP `mpz_t`. Internal: only the prime-field code uses arbitrary precision, and it
/// never lets these escape its own scope (so no sharing across threads).
final class GMPInteger {
    let pointer: UnsafeMutablePointer<__mpz_struct>

    init() {
        pointer = .allocate(capacity: 1)
        __gmpz_init(pointer)
    }

    convenience init(_ value: UInt) {
        self.init()
        __gmpz_set_ui(pointer, value)
    }

    /// Big-endian unsigned bytes.
    convenience init(bigEndian bytes: some Collection<UInt8>) {
        self.init()
        let array = Array(bytes)
        array.withUnsafeBytes { raw in
            __gmpz_import(pointer, raw.count, 1, 1, 1, 0, raw.baseAddress)
        }
    }

    deinit {
        __gmpz_clear(pointer)
        pointer.deallocate()
    }

    /// Big-endian unsigned bytes, left-padded with zeros to exactly `length`.
    func bigEndianBytes(length: Int) -> [UInt8] {
        let bits = __gmpz_sizeinbase(pointer, 2)
        precondition(__gmpz_sgn(pointer) >= 0 && (bits + 7) / 8 <= length, "integer does not fit in \(length) bytes")
        var out = [UInt8](repeating: 0, count: length)
        if __gmpz_sgn(pointer) == 0 { return out }
        let used = (bits + 7) / 8
        out.withUnsafeMutableBytes { raw in
            var written = 0
            __gmpz_export(raw.baseAddress! + (length - used), &written, 1, 1, 1, 0, pointer)
        }
        return out
    }

    func compare(_ other: GMPInteger) -> Int32 { __gmpz_cmp(pointer, other.pointer) }
    var isZero: Bool { __gmpz_sgn(pointer) == 0 }
}

// `mpz_sgn` is a macro in gmp.h.
@inline(__always)
func __gmpz_sgn(_ z: UnsafePointer<__mpz_struct>) -> Int32 {
    z.pointee._mp_size < 0 ? -1 : (z.pointee._mp_size > 0 ? 1 : 0)
}

extension GMPInteger {
    /// Miller–Rabin with 50 rounds: 2 = prime, 1 = probably prime, 0 = composite.
    var primality: Int32 { __gmpz_probab_prime_p(pointer, 50) }
}
