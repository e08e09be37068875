internal import CZlib
import TallyCore

/// gzip decompression through zlib, streamed and bounded: output beyond `maxOutputBytes` is an
/// error, not an allocation, so a small hostile file cannot expand into gigabytes. Truncated or
/// corrupted input (bad header, bad deflate data, CRC or length mismatch) is an error too;
/// zlib checks the CRC-32 and length in each member's trailer.
enum Gzip {
    /// Decompresses every gzip member in `input` (concatenated members are valid gzip).
    static func decompress(_ input: [UInt8], maxOutputBytes: Int) throws(TallyError) -> [UInt8] {
        guard maxOutputBytes >= 0 else { throw TallyError(.invalidArgument, "maxOutputBytes must be ≥ 0") }
        guard input.count >= 18, input[0] == 0x1F, input[1] == 0x8B else {
            throw TallyError(.decompressionFailed, "input is not gzip data")
        }
        var stream = z_stream()
        guard tally_inflate_init_gzip(&stream) == Z_OK else {
            throw TallyError(.decompressionFailed, "zlib: cannot initialise the inflater")
        }
        defer { inflateEnd(&stream) }

        // The last member's trailer states its size mod 2^32: a hint for one allocation, never
        // more than deflate can expand this input to (about 1032:1), so a small file that claims
        // gigabytes does not get them reserved.
        let hint = input.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: input.count - 4, as: UInt32.self))) }
        var output: [UInt8] = []
        output.reserveCapacity(min(hint, maxOutputBytes, input.count * 1032))
        var chunk = [UInt8](repeating: 0, count: 1 << 18)
        let maxFeed = Int(UInt32.max)

        let outcome: Result<Void, TallyError> = input.withUnsafeBytes { source in
            let base = UnsafeMutablePointer(mutating: source.bindMemory(to: UInt8.self).baseAddress!)
            var consumed = 0
            while true {
                if stream.avail_in == 0 && consumed < source.count {
                    let feed = min(source.count - consumed, maxFeed)
                    stream.next_in = base + consumed
                    stream.avail_in = UInt32(feed)
                    consumed += feed
                }
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, out.count - Int(stream.avail_out))
                }
                guard output.count + produced <= maxOutputBytes else {
                    return .failure(TallyError(.sizeLimitExceeded, "gzip output exceeds the limit of \(maxOutputBytes) bytes"))
                }
                output.append(contentsOf: chunk[0..<produced])
                let remaining = Int(stream.avail_in) + (source.count - consumed)
                switch status {
                case Z_STREAM_END:
                    if remaining == 0 { return .success(()) }
                    // Another member follows; anything that is not one fails on the next call.
                    guard inflateReset(&stream) == Z_OK else {
                        return .failure(TallyError(.decompressionFailed, "zlib: cannot reset the inflater"))
                    }
                case Z_OK:
                    continue
                case Z_BUF_ERROR where remaining == 0:
                    return .failure(TallyError(.decompressionFailed, "gzip data is truncated"))
                case Z_BUF_ERROR:
                    continue
                default:
                    let detail = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    return .failure(TallyError(.decompressionFailed, "gzip data is corrupted: \(detail)"))
                }
            }
        }
        try outcome.get()
        return output
    }
}
