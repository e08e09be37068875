import TallyCore
import TallyModel
import Testing

/// Each server optimizer against the update rule of Reddi et al. (ICLR 2021), computed by hand
/// for two rounds, and its state surviving a restart.
@Suite struct ServerOptimizerTests {
    typealias Kind = ServerOptimizer.Kind

    func optimizer(_ kind: Kind, eta: Double = 0.5) throws -> ServerOptimizer {
        try ServerOptimizer(settings: .init(kind: kind, learningRate: eta, beta1: 0.5, beta2: 0.75, tau: 0.1), parameterCount: 2)
    }

    /// Two rounds with Δ₁ = (1, −2), Δ₂ = (1, 1), from x = (0, 0).
    func twoRounds(_ kind: Kind) throws -> [Float] {
        var o = try optimizer(kind)
        let x1 = try o.aggregate(global: [0, 0], meanUpdate: [1, -2])
        return try o.aggregate(global: x1, meanUpdate: [1, 1])
    }

    @Test func fedAvgAndMomentumFollowTheirRules() throws {
        // FedAvg, η = 0.5: x = 0.5·(Δ₁ + Δ₂) = (1, −0.5).
        #expect(try twoRounds(.fedAvg) == [1, -0.5])
        // FedAvgM, β = 0.5: m₁ = Δ₁, x₁ = 0.5·m₁ = (0.5, −1); m₂ = 0.5·m₁ + Δ₂ = (1.5, 0); x₂ = x₁ + 0.5·m₂ = (1.25, −1).
        #expect(try twoRounds(.fedAvgM) == [1.25, -1])
    }

    @Test(arguments: [Kind.fedAdagrad, .fedAdam, .fedYogi])
    func adaptiveOptimizersFollowTheirRules(kind: Kind) throws {
        // Reference in Double, step by step, from the paper's Algorithm 2.
        let (eta, b1, b2, tau) = (0.5, 0.5, 0.75, 0.1)
        var x = [0.0, 0.0], m = [0.0, 0.0], v = [tau * tau, tau * tau]
        for delta in [[1.0, -2.0], [1.0, 1.0]] {
            for i in 0..<2 {
                let d2 = delta[i] * delta[i]
                m[i] = b1 * m[i] + (1 - b1) * delta[i]
                switch kind {
                case .fedAdagrad: v[i] = v[i] + d2
                case .fedAdam: v[i] = b2 * v[i] + (1 - b2) * d2
                default: v[i] = v[i] - (1 - b2) * d2 * (v[i] > d2 ? 1 : (v[i] < d2 ? -1 : 0))
                }
                x[i] += eta * m[i] / (v[i].squareRoot() + tau)
            }
        }
        let got = try twoRounds(kind)
        for i in 0..<2 { #expect(abs(Double(got[i]) - x[i]) < 1e-5, "\(kind) coordinate \(i): \(got[i]) vs \(x[i])") }
        // The three differ from one another on this sequence (the second moment matters).
        #expect(try twoRounds(.fedAdagrad) != twoRounds(.fedAdam) && twoRounds(.fedAdam) != twoRounds(.fedYogi))
    }

    @Test(arguments: Kind.allCases)
    func aRestartedOptimizerContinuesTheSameRun(kind: Kind) throws {
        var straight = try optimizer(kind)
        var x = try straight.aggregate(global: [0, 0], meanUpdate: [1, -2])
        var resumed = try ServerOptimizer(settings: straight.settings, parameterCount: 2, state: straight.stateTensors)
        let a = try straight.aggregate(global: x, meanUpdate: [0.3, 1])
        x = try resumed.aggregate(global: x, meanUpdate: [0.3, 1])
        #expect(a == x, "\(kind): the saved state must be the whole state")
        // Without the saved state a stateful optimizer takes a different step (the positive control).
        if kind != .fedAvg {
            var fresh = try optimizer(kind)
            #expect(try fresh.aggregate(global: [0.5, -1], meanUpdate: [0.3, 1]) != a || kind == .fedAvg)
        }
    }

    @Test func badSettingsAndSizesAreRefusedNamingTheKey() throws {
        let bad = #expect(throws: TallyError.self) { try ServerOptimizer(settings: .init(kind: .fedAdam, beta2: 1), parameterCount: 2) }
        #expect(bad?.message.contains("serverOptimizer.beta1 and serverOptimizer.beta2") == true)
        #expect(throws: TallyError.self) { try ServerOptimizer(settings: .init(tau: 0), parameterCount: 2) }
        #expect(throws: TallyError.self) { try ServerOptimizer(settings: .init(kind: .fedAdam), parameterCount: 3, state: ["m": [0, 0]]) }
        var o = try optimizer(.fedAdam)
        #expect(throws: TallyError.self) { try o.aggregate(global: [0, 0, 0], meanUpdate: [1, 1, 1]) }
    }
}
