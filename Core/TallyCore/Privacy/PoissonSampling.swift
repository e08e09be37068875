/// The record-level round's sample: each record independently with probability q, decided with
/// randomness only this organization holds. Amplification by sampling needs the sample to be
/// secret, so it never comes from the round plan's training seed (which the coordinator picks).
public enum PoissonSampling {
    /// The elements of `population` kept, each independently with probability `rate`, in order.
    /// A 53-bit uniform per element from an AES-CTR keystream keyed with 32 fresh bytes of
    /// `random` (the construction of the noise shares).
    public static func sample(_ population: [Int], rate q: Double, random: some CryptoRandomSource) throws(TallyError) -> [Int] {
        guard q.isFinite, q > 0, q <= 1 else {
            throw TallyError(.invalidArgument, "sampling rate must be in (0, 1], got \(q)")
        }
        var words = RandomWords(SeededRandom(seed: random.bytes(32), label: "tally/dp/poisson-sample/v1"), bufferWords: 4096)
        var kept: [Int] = []
        kept.reserveCapacity(Int(Double(population.count) * q * 1.2) + 16)
        for element in population where Double(words.next() >> 11) * 0x1p-53 < q {
            kept.append(element)
        }
        return kept
    }
}
