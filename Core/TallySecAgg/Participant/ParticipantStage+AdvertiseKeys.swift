import TallyCore

/// After stage 1: the round's two key pairs, waiting for the key directory.
public struct AdvertiseKeysStage: Sendable {
    let encryptionKey: KeyAgreementPrivateKey
    let maskingKey: KeyAgreementPrivateKey

    static func start(_ context: ParticipantContext) throws(TallyError) -> (Self, KeyAdvertisement) {
        let random = context.randomness.make("\(SecAggLabels.protocolVersion)/keys/\(context.roundID)/\(context.id)")
        let stage = Self(
            encryptionKey: try KeyAgreementPrivateKey(rawRepresentation: random.bytes(32)),
            maskingKey: try KeyAgreementPrivateKey(rawRepresentation: random.bytes(32)))
        let signed = KeyAdvertisement.signedBytes(
            configurationDigest: context.configuration.digest, sender: context.id,
            encryptionKey: stage.encryptionKey.publicKey, maskingKey: stage.maskingKey.publicKey)
        let message = KeyAdvertisement(
            roundID: context.roundID, sender: context.id,
            encryptionKey: stage.encryptionKey.publicKey, maskingKey: stage.maskingKey.publicKey,
            signature: try context.identityKey.signature(for: signed))
        return (stage, message)
    }
}
