internal import CZstd

/// zstd compression for model blobs, with decompression bounded by a hard cap so that a
/// decompression bomb yields an error instead of an allocation.
public enum Zstd {
    public static let defaultLevel: Int32 = 3

    public static func compress(_ input: [UInt8], level: Int32 = defaultLevel) throws(TallyError) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var out = [UInt8](repeating: 0, count: bound)
        let n = out.withUnsafeMutableBytes { dst in
            input.withUnsafeBytes { src in
                ZSTD_compress(dst.baseAddress, dst.count, src.baseAddress, src.count, level)
            }
        }
        guard ZSTD_isError(n) == 0 else {
            throw TallyError(.compressionFailed, "zstd: \(String(cString: ZSTD_getErrorName(n)))")
        }
        out.removeSubrange(n...)
        return out
    }

    /// Decompresses one or more frames, refusing to produce more than `maxOutputBytes`.
    ///
    /// The declared content size (if the frame has one) is checked before any allocation, and
    /// decoding is streamed so a frame that lies about its size is still stopped at the cap.
    public static func decompress(_ input: [UInt8], maxOutputBytes: Int) throws(TallyError) -> [UInt8] {
        guard maxOutputBytes >= 0 else { throw TallyError(.invalidArgument, "maxOutputBytes must be ≥ 0") }
        let declared = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        if declared == tally_zstd_contentsize_error() {
            throw TallyError(.decompressionFailed, "input is not a zstd frame")
        }
        if declared != tally_zstd_contentsize_unknown(), declared > UInt64(maxOutputBytes) {
            throw TallyError(.sizeLimitExceeded, "zstd frame declares \(declared) bytes, over the limit of \(maxOutputBytes)")
        }
        guard let stream = ZSTD_createDStream() else { throw TallyError(.decompressionFailed, "zstd: out of memory") }
        defer { ZSTD_freeDStream(stream) }
        var output: [UInt8] = []
        output.reserveCapacity(declared == tally_zstd_contentsize_unknown() ? min(maxOutputBytes, 1 << 20) : Int(declared))
        let chunk = ZSTD_DStreamOutSize()
        var buffer = [UInt8](repeating: 0, count: chunk)
        let outcome: Result<Void, TallyError> = input.withUnsafeBytes { src in
            var inBuffer = ZSTD_inBuffer(src: src.baseAddress, size: src.count, pos: 0)
            while true {
                let consumedBefore = inBuffer.pos
                let (result, produced) = buffer.withUnsafeMutableBytes { dst in
                    var outBuffer = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: 0)
                    let r = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                    return (r, outBuffer.pos)
                }
                guard ZSTD_isError(result) == 0 else {
                    return .failure(TallyError(.decompressionFailed, "zstd: \(String(cString: ZSTD_getErrorName(result)))"))
                }
                guard output.count + produced <= maxOutputBytes else {
                    return .failure(TallyError(.sizeLimitExceeded, "zstd output exceeds the limit of \(maxOutputBytes) bytes"))
                }
                output.append(contentsOf: buffer[0..<produced])
                // 0 means a frame ended and was fully flushed; more input may hold more frames.
                if result == 0 && inBuffer.pos == inBuffer.size { return .success(()) }
                if inBuffer.pos == consumedBefore && produced == 0 {
                    return .failure(TallyError(.decompressionFailed, "zstd input ends in the middle of a frame"))
                }
            }
        }
        try outcome.get()
        return output
    }
}
