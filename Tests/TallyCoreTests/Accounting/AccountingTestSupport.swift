@testable import TallyCore

/// True when `body` throws a ``TallyError`` with code `.invalidArgument`.
func accountingRejects(_ body: () throws -> Void) -> Bool {
    do {
        try body()
        return false
    } catch {
        return (error as? TallyError)?.code == .invalidArgument
    }
}
