import Testing

@testable import TallyCore

@Suite struct MaskGeneratorTests {
    /// NIST SP 800-38A F.5.1 (CTR-AES128.Encrypt): keystream = ciphertext ⊕ plaintext; checked
    /// against `openssl enc -aes-128-ctr` as well.
    @Test func aesCTRKnownAnswer() throws {
        let stream = try AESCTRStream(
            key: [UInt8](hex: "2b7e151628aed2a6abf7158809cf4f3c"),
            iv: [UInt8](hex: "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"))
        var out = [UInt8](repeating: 0, count: 64)
        out.withUnsafeMutableBytes { stream.keystream(into: $0) }
        #expect(
            out.hex
                == "ec8cdf7398607cb0f2d21675ea9ea1e4362b7c3c6773516318a077d7fc5073ae6a2cc3787889374fbeb4c81b17ba6c44e89c399ff0f198c6d40a31db156cabfe"
        )
    }

    /// RFC 5869 test case 1.
    @Test func hkdfKnownAnswer() throws {
        let okm = try HKDF.deriveKey(
            inputKeyMaterial: [UInt8](repeating: 0x0b, count: 22),
            salt: [UInt8](hex: "000102030405060708090a0b0c"),
            info: [UInt8](hex: "f0f1f2f3f4f5f6f7f8f9"), length: 42)
        #expect(okm.hex == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    }

    /// Mask = AES-128-CTR keystream under HKDF-SHA256(seed, "tally/prg/aes128ctr/v1|" ‖ label),
    /// truncated to exactly w·d bits. Expected bytes from the OpenSSL CLI:
    /// `openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:<seed> -kdfopt hexsalt:<32 zero bytes> -kdfopt hexinfo:<info> HKDF`
    /// then `openssl enc -aes-128-ctr -K <first 16> -iv <last 16>` over zeros.
    @Test func maskKnownAnswerFromOpenSSLCLI() throws {
        let seed = (0..<32).map { UInt8($0) }
        var mask = PackedVector(zeros: try SlotLayout(slotWidth: 19, count: 16)) // 304 bits = 38 bytes
        try MaskGenerator.expand(seed: seed, label: Array("kat".utf8), into: &mask)
        let expected = "e51102ddfbce75ab8434edba4e7930b2aaf5d7a8bd74e72790a52aa12bfecf509db3d8b69b97"
        #expect(mask.serialized().hex == expected)
        #expect(mask.limbs[4] >> 48 == 0, "bits above w·d must be zero")

        // Adding the mask to zero gives the mask itself (chunked path agrees with expansion).
        var added = PackedVector(zeros: mask.layout)
        try MaskGenerator.apply(seed: seed, label: Array("kat".utf8), to: &added)
        #expect(added == mask)
    }

    @Test func labelsSeparateDomains() throws {
        let seed = [UInt8](repeating: 7, count: 32)
        let layout = try SlotLayout(slotWidth: 20, count: 1000)
        var a = PackedVector(zeros: layout), b = PackedVector(zeros: layout)
        try MaskGenerator.expand(seed: seed, label: Array("round-1/self".utf8), into: &a)
        try MaskGenerator.expand(seed: seed, label: Array("round-2/self".utf8), into: &b)
        #expect(a != b)
        #expect(throws: TallyError.self) { try MaskGenerator.expand(seed: [1, 2, 3], label: [], into: &a) }
    }

    /// Add then subtract the same mask restores the vector, across many chunks and carries.
    @Test(arguments: [19, 20, 64])
    func maskCancelsAcrossChunks(width: Int) throws {
        let count = 3 * MaskGenerator.chunkLimbs * 64 / width + 17 // spans several chunks
        let rng = SeededRandom(testSeed: 42)
        let values = (0..<count).map { _ in rng.nextWord() & ((width == 64 ? ~0 : (1 << UInt64(width)) - 1)) }
        let original = try PackedVector(packing: values, slotWidth: width)
        var v = original
        let seed = rng.bytes(32)
        try MaskGenerator.apply(seed: seed, label: [1], to: &v)
        #expect(v != original)
        // The chunked add equals expand-then-mpn_add over the whole vector.
        var reference = original
        var mask = PackedVector(zeros: original.layout)
        try MaskGenerator.expand(seed: seed, label: [1], into: &mask)
        try reference.add(mask)
        #expect(v == reference)
        try MaskGenerator.apply(seed: seed, label: [1], to: &v, subtract: true)
        #expect(v == original)
    }

    /// Masked inputs of several parties, summed, minus all masks, equal the plain packed sum.
    @Test func maskedSumUnmasksToExactSum() throws {
        let n = 5, valueBits = 16, d = 5000
        let width = SlotLayout.headroomWidth(valueBits: valueBits, summands: n)
        let rng = SeededRandom(testSeed: 9)
        let layout = try SlotLayout(slotWidth: width, count: d)
        var total = PackedVector(zeros: layout)
        var expected = [UInt64](repeating: 0, count: d)
        var seeds: [[UInt8]] = []
        for _ in 0..<n {
            let values = (0..<d).map { _ in rng.nextWord() & 0xFFFF }
            for i in 0..<d { expected[i] += values[i] }
            var x = try PackedVector(packing: values, slotWidth: width)
            let seed = rng.bytes(32)
            seeds.append(seed)
            try MaskGenerator.apply(seed: seed, label: [], to: &x)
            try total.add(x)
        }
        for seed in seeds { try MaskGenerator.apply(seed: seed, label: [], to: &total, subtract: true) }
        #expect(total.unpacked() == expected)
    }
}
