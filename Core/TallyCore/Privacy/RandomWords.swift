/// A concrete, buffered view of a ``CryptoRandomSource`` for the samplers' inner loops.
///
/// Samplers draw many small integers; pulling them one virtual call at a time through a
/// protocol costs more than the arithmetic. This pulls a block at once and hands out words
/// from it. Words left in the buffer when it goes away are discarded, never reused.
struct RandomWords: RandomNumberGenerator {
    private let source: any CryptoRandomSource
    private var buffer: [UInt64]
    private var index: Int

    init(_ source: any CryptoRandomSource, bufferWords: Int = 256) {
        self.source = source
        self.buffer = [UInt64](repeating: 0, count: max(1, bufferWords))
        self.index = buffer.count
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        if index == buffer.count { refill() }
        defer { index &+= 1 }
        return buffer[index]
    }

    private mutating func refill() {
        buffer.withUnsafeMutableBytes { source.fill($0) }
        index = 0
    }

    /// Uniform in [0, bound) without bias (Lemire's multiply-and-reject).
    @inline(__always)
    mutating func uniform(below bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return product.high
    }

    /// Uniform in [0, bound) for 128-bit bounds (rare: only huge rational denominators).
    mutating func uniform(below bound: UInt128) -> UInt128 {
        if bound <= UInt128(UInt64.max) { return UInt128(uniform(below: UInt64(bound))) }
        return UInt128.random(in: 0..<bound, using: &self)
    }
}
