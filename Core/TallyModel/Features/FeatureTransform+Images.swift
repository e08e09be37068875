public import TallyCore

extension FeatureTransform {
    /// The side of the square image that `featureCount` pixels make (28 for 784): the only image
    /// shape a task states today. An error names the count when it is not a square.
    public static func squareSide(featureCount: Int) throws(TallyError) -> Int {
        let side = Int(Double(max(featureCount, 0)).squareRoot().rounded())
        guard featureCount > 0, side * side == featureCount else {
            throw TallyError(
                .invalidArgument, "image features need square images; \(featureCount) features are not a square number of pixels")
        }
        return side
    }

    /// ``apply(to:height:width:)`` for examples that are square images.
    public func apply(toSquareImages dataset: Dataset) throws(TallyError) -> Dataset {
        guard self != .none else { return dataset }
        let side = try Self.squareSide(featureCount: dataset.featureCount)
        return try apply(to: dataset, height: side, width: side)
    }
}
