extension TallyError.Code {
    /// Taking part would carry a participant past the privacy budget it set itself.
    public static let privacyBudgetExhausted = Self(rawValue: "privacy-budget-exhausted")
}
