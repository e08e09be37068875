import Synchronization

/// Values remembered by key, shared across threads, for results that are pure functions of the
/// key (a certificate's validation or fingerprint). Bounded: a full memo is emptied, not grown.
final class BoundedMemo<Value: Sendable>: Sendable {
    private let entries = Mutex<[String: Value]>([:])
    private let capacity: Int

    init(capacity: Int = 4096) { self.capacity = capacity }

    subscript(key: String) -> Value? { entries.withLock { $0[key] } }

    func remember(_ value: Value, for key: String) {
        entries.withLock {
            if $0.count >= capacity { $0.removeAll() }
            $0[key] = value
        }
    }
}
