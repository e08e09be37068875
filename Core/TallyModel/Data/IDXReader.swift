public import TallyCore

/// Reads IDX files (http://yann.lecun.com/exdb/mnist/, the format Fashion-MNIST ships in),
/// optionally gzip-compressed as Debian installs them.
///
/// An IDX file is a big-endian magic number (two zero bytes, a type code, the rank), one
/// big-endian 32-bit size per dimension, then the elements. Only unsigned bytes (type 0x08) are
/// needed for images and labels, and only they are accepted. Everything is checked before use:
/// the magic, the rank, and that the data is exactly as long as the dimensions say.
public enum IDXReader {
    /// Magic of a rank-3 unsigned-byte array (images: count × rows × columns).
    public static let imagesMagic: UInt32 = 0x0000_0803
    /// Magic of a rank-1 unsigned-byte array (labels).
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// Type code of unsigned bytes, the only element type accepted.
    static let unsignedByteType: UInt8 = 0x08

    /// Parses an uncompressed IDX file. `expectedMagic`, if given, must match exactly.
    public static func parse(_ bytes: [UInt8], expectedMagic: UInt32? = nil) throws(TallyError) -> IDXArray {
        guard bytes.count >= 4 else {
            throw TallyError(.malformedDataset, "IDX data is \(bytes.count) bytes, too short for a magic number")
        }
        let magic = bigEndianWord(bytes, at: 0)
        if let expectedMagic, magic != expectedMagic {
            throw TallyError(.malformedDataset, "IDX magic is \(hex(magic)), expected \(hex(expectedMagic))")
        }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw TallyError(.malformedDataset, "IDX magic \(hex(magic)) does not start with two zero bytes")
        }
        guard bytes[2] == unsignedByteType else {
            throw TallyError(
                .malformedDataset, "IDX element type 0x\(String(bytes[2], radix: 16)) is not supported (only unsigned bytes, 0x08)")
        }
        let rank = Int(bytes[3])
        guard rank >= 1 else { throw TallyError(.malformedDataset, "IDX rank must be at least 1") }
        let headerCount = 4 + 4 * rank
        guard bytes.count >= headerCount else {
            throw TallyError(.malformedDataset, "IDX data is \(bytes.count) bytes, too short for \(rank) dimensions")
        }
        var dimensions: [Int] = []
        var elementCount = 1
        for i in 0..<rank {
            let dimension = Int(bigEndianWord(bytes, at: 4 + 4 * i))
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw TallyError(.malformedDataset, "IDX dimensions overflow") }
            dimensions.append(dimension)
            elementCount = product
        }
        guard bytes.count - headerCount == elementCount else {
            throw TallyError(
                .malformedDataset,
                "IDX dimensions \(dimensions) need \(elementCount) data bytes, found \(bytes.count - headerCount)")
        }
        return IDXArray(dimensions: dimensions, bytes: Array(bytes[headerCount...]))
    }

    /// Reads an IDX file, decompressing it first if it is gzip. The decompressed size (and the
    /// file size) may not exceed `maxBytes`.
    public static func read(path: String, expectedMagic: UInt32? = nil, maxBytes: Int) throws(TallyError) -> IDXArray {
        // Deflate cannot shrink data by more than ~1032:1, but a compressed file is never much
        // larger than its contents; cap the compressed read at the output cap plus slack.
        let raw = try BoundedFile.read(path, maxBytes: maxBytes + maxBytes / 64 + (1 << 16), what: "dataset")
        let isGzip = raw.count >= 2 && raw[0] == 0x1F && raw[1] == 0x8B
        do throws(TallyError) {
            let plain = isGzip ? try Gzip.decompress(raw, maxOutputBytes: maxBytes) : raw
            guard plain.count <= maxBytes else {
                throw TallyError(.sizeLimitExceeded, "\(plain.count) bytes, over the limit of \(maxBytes)")
            }
            return try parse(plain, expectedMagic: expectedMagic)
        } catch {
            throw TallyError(error.code, "\(path): \(error.message)")
        }
    }

    private static func bigEndianWord(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    private static func hex(_ word: UInt32) -> String {
        let digits = String(word, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}
