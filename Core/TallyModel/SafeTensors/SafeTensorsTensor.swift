public import TallyCore

extension SafeTensors {
    /// One named array in a safetensors file: element type, shape and the raw little-endian
    /// bytes exactly as they appear in the file.
    ///
    /// Keeping the bytes (not decoded floats) makes a read-then-write round trip bit-exact,
    /// NaN payloads included, which the content-addressed registry relies on.
    public struct Tensor: Sendable, Hashable {
        public let dtype: DType
        /// Dimensions, outermost first; `[]` is a scalar with one element.
        public let shape: [Int]
        /// Row-major little-endian element bytes; `count == elementCount * dtype.byteWidth`.
        public let bytes: [UInt8]

        /// Number of elements, the product of `shape`.
        public var elementCount: Int { bytes.count / dtype.byteWidth }

        /// A tensor from raw little-endian bytes, checking that they match the shape.
        public init(dtype: DType, shape: [Int], bytes: [UInt8]) throws(TallyError) {
            let byteCount = try Self.byteCount(dtype: dtype, shape: shape)
            guard byteCount == bytes.count else {
                throw TallyError(.sizeMismatch, "shape \(shape) of \(dtype.rawValue) needs \(byteCount) bytes, got \(bytes.count)")
            }
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// An F32 tensor holding `values` in row-major order.
        public init(shape: [Int], values: [Float]) throws(TallyError) {
            try self.init(dtype: .float32, shape: shape, bytes: Self.littleEndianBytes(values.map(\.bitPattern)))
        }

        /// An F64 tensor holding `values` in row-major order.
        public init(shape: [Int], values: [Double]) throws(TallyError) {
            try self.init(dtype: .float64, shape: shape, bytes: Self.littleEndianBytes(values.map(\.bitPattern)))
        }

        /// The elements of an F32 tensor.
        public func floatValues() throws(TallyError) -> [Float] {
            guard dtype == .float32 else {
                throw TallyError(.invalidArgument, "tensor is \(dtype.rawValue), not F32")
            }
            return Self.words(bytes, as: UInt32.self).map(Float.init(bitPattern:))
        }

        /// The elements of an F64 tensor.
        public func doubleValues() throws(TallyError) -> [Double] {
            guard dtype == .float64 else {
                throw TallyError(.invalidArgument, "tensor is \(dtype.rawValue), not F64")
            }
            return Self.words(bytes, as: UInt64.self).map(Double.init(bitPattern:))
        }

        /// The byte size of a tensor, checking for negative dimensions and overflow.
        static func byteCount(dtype: DType, shape: [Int]) throws(TallyError) -> Int {
            var count = 1
            for dimension in shape {
                guard dimension >= 0 else { throw TallyError(.invalidArgument, "negative dimension in shape \(shape)") }
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw TallyError(.valueOutOfRange, "shape \(shape) has too many elements") }
                count = product
            }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteWidth)
            guard !overflow else { throw TallyError(.valueOutOfRange, "shape \(shape) has too many bytes") }
            return bytes
        }

        private static func littleEndianBytes<W: FixedWidthInteger>(_ words: [W]) -> [UInt8] {
            let width = MemoryLayout<W>.size
            return [UInt8](unsafeUninitializedCapacity: words.count * width) { buffer, initialized in
                let raw = UnsafeMutableRawBufferPointer(buffer)
                for (i, word) in words.enumerated() {
                    raw.storeBytes(of: word.littleEndian, toByteOffset: i * width, as: W.self)
                }
                initialized = words.count * width
            }
        }

        private static func words<W: FixedWidthInteger>(_ bytes: [UInt8], as _: W.Type) -> [W] {
            let width = MemoryLayout<W>.size
            let count = bytes.count / width
            return bytes.withUnsafeBytes { raw in
                (0..<count).map { W(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * width, as: W.self)) }
            }
        }
    }
}
