import Testing

@testable import TallyCore

@Suite struct ShamirTests {
    /// Random (t, n) up to n = 1000: any t shares, in any order, reconstruct the secret.
    @Test func randomThresholdsReconstruct() throws {
        let rng = SeededRandom(testSeed: 2024)
        var cases: [(Int, Int)] = [(1, 1), (1, 5), (5, 5), (2, 3), (501, 1000), (1000, 1000)]
        for _ in 0..<12 {
            var generator = RandomWords(rng)
            let n = Int.random(in: 2...300, using: &generator)
            cases.append((Int.random(in: 1...n, using: &generator), n))
        }
        for (t, n) in cases {
            let scheme = try ShamirSecretSharing(threshold: t, shareCount: n)
            let secret = rng.bytes(32)
            let shares = try scheme.split(secret: secret, using: rng)
            #expect(shares.count == n)
            #expect(Set(shares.map(\.x)) == Set((1...n).map(UInt32.init)))
            var generator = RandomWords(rng)
            let subset = Array(shares.shuffled(using: &generator).prefix(t))
            #expect(try scheme.reconstruct(subset) == secret, "t=\(t) n=\(n)")
            if t > 1 {
                // t − 1 shares are not enough: the library refuses …
                #expect(throws: TallyError.self) { try scheme.reconstruct(Array(subset.dropLast())) }
                // … and interpolating them anyway yields something other than the secret.
                let lagrange = try LagrangeCoefficients(at: subset.dropLast().map(\.x))
                let guess = try? lagrange.interpolateSecret(ys: subset.dropLast().map(\.y))
                #expect(guess != secret)
            }
        }
    }

    @Test func extremeSecretsSurvive() throws {
        let scheme = try ShamirSecretSharing(threshold: 3, shareCount: 5)
        let rng = SeededRandom(testSeed: 1)
        for secret in [[UInt8](repeating: 0, count: 32), [UInt8](repeating: 0xFF, count: 32)] {
            let shares = try scheme.split(secret: secret, using: rng)
            #expect(try scheme.reconstruct([shares[4], shares[0], shares[2]]) == secret)
        }
    }

    @Test func rejectsDuplicatesTooFewAndMalformed() throws {
        let scheme = try ShamirSecretSharing(threshold: 3, shareCount: 5)
        let rng = SeededRandom(testSeed: 3)
        let shares = try scheme.split(secret: rng.bytes(32), using: rng)
        func code(_ body: () throws -> Void) -> TallyError.Code? {
            do { try body(); return nil } catch let e as TallyError { return e.code } catch { return nil }
        }
        #expect(code { _ = try scheme.reconstruct([shares[0], shares[1], shares[0]]) } == .duplicateShare)
        #expect(code { _ = try scheme.reconstruct([shares[0], shares[1]]) } == .tooFewShares)
        #expect(code { _ = try scheme.reconstruct([shares[0], shares[1], ShamirShare(x: 9, y: shares[2].y)]) } == .malformedShare)
        #expect(code { _ = try scheme.reconstruct([shares[0], shares[1], ShamirShare(x: 3, y: [1, 2])]) } == .malformedShare)
        // A y at or above the prime is not a field element.
        #expect(
            code { _ = try scheme.reconstruct([shares[0], shares[1], ShamirShare(x: 3, y: [UInt8](repeating: 0xFF, count: 33))]) }
                == .malformedShare)
        #expect(code { _ = try scheme.split(secret: [1, 2, 3], using: rng) } == .invalidArgument)
        #expect(code { _ = try ShamirSecretSharing(threshold: 6, shareCount: 5) } == .invalidArgument)
    }

    /// The field modulus really is the prime 2^256 + 297.
    @Test func modulusIsPrime() {
        let p = PrimeField.prime()
        #expect(p.bigEndianBytes(length: 33) == [1] + [UInt8](repeating: 0, count: 30) + [0x01, 0x29])
        #expect(p.primality > 0)
    }
}
