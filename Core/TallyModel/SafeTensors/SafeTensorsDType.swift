extension SafeTensors {
    /// The element types Tally reads and writes. The raw values are the format's own dtype
    /// strings. Models are F32 (``TensorLayout`` checks); the integer types are here for data
    /// files, whose labels (and often images) are integers. Others (F16, BF16, BOOL, U64) are
    /// refused rather than silently converted.
    public enum DType: String, Sendable, Hashable, CaseIterable {
        case float32 = "F32"
        case float64 = "F64"
        case uint8 = "U8"
        case int8 = "I8"
        case int16 = "I16"
        case uint16 = "U16"
        case int32 = "I32"
        case uint32 = "U32"
        case int64 = "I64"

        /// Bytes per element.
        public var byteWidth: Int {
            switch self {
            case .uint8, .int8: 1
            case .int16, .uint16: 2
            case .float32, .int32, .uint32: 4
            case .float64, .int64: 8
            }
        }
    }
}
