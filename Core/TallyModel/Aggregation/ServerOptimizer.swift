public import TallyCore

/// The server optimizers of adaptive federated optimization (Reddi et al., *Adaptive Federated
/// Optimization*, ICLR 2021, Algorithm 2): the round's decoded mean update Δ is a pseudo-gradient,
/// and the server takes one optimizer step with it. All of them are post-processing of the noisy
/// mean the coordinator already learned, so none costs privacy.
///
/// With Δ the mean update, m and v per-parameter moments, η the server learning rate:
/// - FedAvg: x ← x + η·Δ (η = 1 is McMahan et al.'s FedAvg)
/// - FedAvgM: m ← β₁·m + Δ; x ← x + η·m
/// - FedAdagrad: m ← β₁·m + (1 − β₁)·Δ; v ← v + Δ²; x ← x + η·m/(√v + τ)
/// - FedAdam: m as above; v ← β₂·v + (1 − β₂)·Δ²; x ← x + η·m/(√v + τ)
/// - FedYogi: m as above; v ← v − (1 − β₂)·Δ²·sign(v − Δ²); x ← x + η·m/(√v + τ)
///
/// v starts at τ² (the paper's v₋₁ ≥ τ²), m at 0. The moments are state that must survive a
/// coordinator restart: ``stateTensors`` and ``init(settings:parameterCount:state:)``.
public struct ServerOptimizer: Aggregator {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case fedAvg = "fedavg"
        case fedAvgM = "fedavgm"
        case fedAdagrad = "fedadagrad"
        case fedAdam = "fedadam"
        case fedYogi = "fedyogi"
    }

    /// Which optimizer and its hyperparameters (the paper's names and defaults).
    public struct Settings: Sendable, Codable, Hashable {
        public var kind: Kind = .fedAvg
        /// η, the server learning rate.
        public var learningRate = 1.0
        /// β₁: momentum (FedAvgM) or first-moment decay.
        public var beta1 = 0.9
        /// β₂: second-moment decay (FedAdam, FedYogi).
        public var beta2 = 0.99
        /// τ: adaptivity; bounds the step of a parameter whose v is small.
        public var tau = 1e-3

        public init(kind: Kind = .fedAvg, learningRate: Double = 1.0, beta1: Double = 0.9, beta2: Double = 0.99, tau: Double = 1e-3) {
            self.kind = kind
            self.learningRate = learningRate
            self.beta1 = beta1
            self.beta2 = beta2
            self.tau = tau
        }

        /// Every key may be omitted and takes its default.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Settings()
            kind = try c.decodeIfPresent(Kind.self, forKey: .kind) ?? d.kind
            learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
            beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? d.beta1
            beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? d.beta2
            tau = try c.decodeIfPresent(Double.self, forKey: .tau) ?? d.tau
        }

        /// Bounds, with errors naming the key under `key`.
        public func validate(key: String = "serverOptimizer") throws(TallyError) {
            guard learningRate.isFinite, learningRate > 0 else {
                throw TallyError(.invalidArgument, "\(key).learningRate must be positive and finite, got \(learningRate)")
            }
            guard (0..<1).contains(beta1), (0..<1).contains(beta2) else {
                throw TallyError(.invalidArgument, "\(key).beta1 and \(key).beta2 must be in [0, 1), got \(beta1) and \(beta2)")
            }
            guard tau.isFinite, tau > 0 else { throw TallyError(.invalidArgument, "\(key).tau must be positive and finite, got \(tau)") }
        }
    }

    public let settings: Settings
    /// First moment (FedAvgM's momentum buffer).
    public private(set) var m: [Float]
    /// Second moment.
    public private(set) var v: [Float]

    /// A fresh optimizer for `parameterCount` parameters, or one resumed from ``stateTensors``.
    public init(settings: Settings, parameterCount: Int, state: [String: [Float]] = [:]) throws(TallyError) {
        try settings.validate()
        self.settings = settings
        let tau2 = Float(settings.tau * settings.tau)
        m = state["m"] ?? [Float](repeating: 0, count: parameterCount)
        v = state["v"] ?? [Float](repeating: tau2, count: parameterCount)
        guard m.count == parameterCount, v.count == parameterCount else {
            throw TallyError(
                .sizeMismatch,
                "the saved \(settings.kind.rawValue) state has \(m.count) and \(v.count) values for \(parameterCount) parameters")
        }
    }

    /// The moments to save with a version, so a restarted coordinator continues the same run.
    public var stateTensors: [String: [Float]] {
        switch settings.kind {
        case .fedAvg: [:]
        case .fedAvgM: ["m": m]
        case .fedAdagrad, .fedAdam, .fedYogi: ["m": m, "v": v]
        }
    }

    public mutating func aggregate(global: [Float], meanUpdate delta: [Float]) throws(TallyError) -> [Float] {
        guard delta.count == global.count, m.count == global.count else {
            throw TallyError(
                .sizeMismatch, "the mean update has \(delta.count) values for \(global.count) parameters (optimizer state: \(m.count))")
        }
        let eta = Float(settings.learningRate), b1 = Float(settings.beta1), b2 = Float(settings.beta2), tau = Float(settings.tau)
        var x = global
        switch settings.kind {
        case .fedAvg:
            for i in x.indices { x[i] += eta * delta[i] }
        case .fedAvgM:
            for i in x.indices {
                m[i] = b1 * m[i] + delta[i]
                x[i] += eta * m[i]
            }
        case .fedAdagrad, .fedAdam, .fedYogi:
            for i in x.indices {
                let d = delta[i], d2 = delta[i] * delta[i]
                m[i] = b1 * m[i] + (1 - b1) * d
                switch settings.kind {
                case .fedAdagrad: v[i] += d2
                case .fedAdam: v[i] = b2 * v[i] + (1 - b2) * d2
                default: v[i] -= (1 - b2) * d2 * (v[i] - d2 > 0 ? 1 : (v[i] - d2 < 0 ? -1 : 0))
                }
                x[i] += eta * m[i] / (v[i].squareRoot() + tau)
            }
        }
        return x
    }
}
