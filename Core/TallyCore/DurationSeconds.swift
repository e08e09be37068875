extension Duration {
    /// The duration in seconds, for logs, metrics and benchmark reports (one conversion for all).
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

extension ContinuousClock.Instant {
    /// Seconds from this instant to now: the clock is read once.
    public var secondsElapsed: Double { (ContinuousClock.now - self).seconds }
}
