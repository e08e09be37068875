/// Version tag mixed into every label the protocol derives, so that a future change of the
/// protocol can never reuse keys or seeds derived under this one.
public enum SecAggProtocol {
    public static let version = "tally-secagg/v1"
}
