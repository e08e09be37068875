import Foundation
import TallyCore
import TallySecAgg

extension Tally_V1_SecAggMessage {
    /// A TallySecAgg message's canonical bytes as one or more wire chunks.
    public static func chunks(
        round: UInt64, kind: MessageKind, payload: [UInt8],
        chunkBytes: Int = MessageChunking.defaultChunkBytes
    ) -> [Self] {
        let pieces = MessageChunking.split(payload, chunkBytes: chunkBytes)
        return pieces.enumerated().map { i, piece in
            var m = Self()
            m.roundID = round
            m.kind = UInt32(kind.rawValue)
            m.index = UInt32(i)
            m.count = UInt32(pieces.count)
            m.data = Data(piece)
            return m
        }
    }

    /// Feeds this chunk to an assembler; returns the kind and the whole payload when complete.
    public func assemble(into assembler: inout ChunkAssembler) throws(TallyError) -> (MessageKind, [UInt8])? {
        guard let kind = MessageKind(rawValue: UInt8(truncatingIfNeeded: self.kind)), self.kind <= UInt32(UInt8.max) else {
            throw TallyError(.malformedMessage, "unknown secure-aggregation message kind \(self.kind)")
        }
        guard let payload = try assembler.add(round: roundID, kind: self.kind, index: index, count: count, data: [UInt8](data)) else {
            return nil
        }
        return (kind, payload)
    }
}
