public import TallyCore

extension TallyError.Code {
    // Model files and training data (Core/TallyModel). Prefixed so they cannot collide
    // with codes other parts of the package add.

    /// A safetensors file whose header or data layout breaks the format's rules.
    public static let malformedSafeTensors = Self(rawValue: "model-malformed-safetensors")
    /// A dataset file (IDX) with a wrong magic number, size or label.
    public static let malformedDataset = Self(rawValue: "model-malformed-dataset")
    /// A dataset that is not installed where it was looked for.
    public static let datasetNotFound = Self(rawValue: "model-dataset-not-found")
    /// Data that is well formed but does not fit the federation's ``DataSchema``: a missing
    /// column, another feature count, a label outside the classes.
    public static let dataSchemaMismatch = Self(rawValue: "model-data-schema-mismatch")
    /// A released statistic too noisy to give anything sensible (a moments round whose noisy
    /// record count is below one).
    public static let statisticTooNoisy = Self(rawValue: "model-statistic-too-noisy")
}
