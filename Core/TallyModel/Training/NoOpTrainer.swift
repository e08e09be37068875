/// The round benchmark's trainer: no data, no work, an all-zero update of the model's size.
///
/// It lets a benchmark measure what a round costs on its own (secure aggregation, encoding,
/// transport) at any model dimension, with training contributing nothing.
public struct NoOpTrainer: Trainer {
    public init() {}

    public func update(global: [Float], settings: TrainingSettings) async throws -> [Float] {
        try Task.checkCancellation()
        return [Float](repeating: 0, count: global.count)
    }
}
