import Testing

@testable import TallyCore

@Suite struct ZstdTests {
    @Test func roundTrip() throws {
        let rng = SeededRandom(testSeed: 5)
        for input in [[], Array("model weights".utf8), rng.bytes(200_000), [UInt8](repeating: 3, count: 1 << 20)] {
            let compressed = try Zstd.compress(input)
            #expect(try Zstd.decompress(compressed, maxOutputBytes: input.count) == input)
        }
    }

    /// 256 MiB of zeros compresses to a few KiB; with a 1 MiB cap it is refused before allocating.
    @Test func decompressionBombIsRefused() throws {
        let bomb = try Zstd.compress([UInt8](repeating: 0, count: 256 << 20), level: 1)
        #expect(bomb.count < 64 << 10)
        do {
            _ = try Zstd.decompress(bomb, maxOutputBytes: 1 << 20)
            Issue.record("a decompression bomb was accepted")
        } catch {
            #expect(error.code == .sizeLimitExceeded)
        }
    }

    @Test func garbageAndTruncationAreErrors() throws {
        #expect(throws: TallyError.self) { try Zstd.decompress([1, 2, 3, 4, 5, 6, 7, 8], maxOutputBytes: 100) }
        let compressed = try Zstd.compress(SeededRandom(testSeed: 6).bytes(10_000))
        #expect(throws: TallyError.self) { try Zstd.decompress(Array(compressed.dropLast(5)), maxOutputBytes: 20_000) }
    }
}
