extension SafeTensors {
    /// The element types Tally reads and writes. The raw values are the format's own dtype
    /// strings; other dtypes (F16, BF16, integers) are refused rather than silently converted.
    public enum DType: String, Sendable, Hashable, CaseIterable {
        case float32 = "F32"
        case float64 = "F64"

        /// Bytes per element.
        public var byteWidth: Int {
            switch self {
            case .float32: 4
            case .float64: 8
            }
        }
    }
}
