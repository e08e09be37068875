/// A participant's local training step: from the global model of a round to the update it
/// contributes to the secure sum.
///
/// The update is a difference, Δ = trained − global, not the trained parameters: that is what is
/// clipped, noised and averaged, and what an ``Aggregator`` adds back to the global model.
///
/// Training runs while the round's clock runs. A conformer checks for cancellation between its
/// units of work (epochs, batches) and throws `CancellationError` once cancelled, so a round
/// that ends or is abandoned does not leave a trainer burning a core.
public protocol Trainer: Sendable {
    /// The local update to `global` (one value per parameter, `global.count` in all) after
    /// training with `settings`.
    ///
    /// - Throws: `CancellationError` if the task is cancelled before training finishes;
    ///   `TallyError` if the parameters or settings do not fit this trainer.
    func update(global: [Float], settings: TrainingSettings) async throws -> [Float]
}
