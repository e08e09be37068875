import Logging
import TallyCore

/// What every long-running Tally executable does first: allocator settings for large vectors and
/// swift-log to stderr at the chosen level.
public enum ProcessSetup {
    public static func daemon(logLevel: String) {
        MemoryTuning.keepLargeBuffers()
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
