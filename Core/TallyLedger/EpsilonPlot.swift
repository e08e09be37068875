internal import Foundation
internal import TallyCore

/// A self-contained SVG plot of a ``PrivacyReport``'s curve: cumulative ε over round id for the
/// federation and each participant, ε (RDP) solid and ε (PLD) dashed, with axes, tick labels, a
/// legend and a title. Infinite ε (rounds without noise) is left out of the lines and said in the
/// subtitle. With many participants, the ``maxParticipantSeries`` with the highest ε are drawn.
public struct EpsilonPlot: Sendable {
    public let report: PrivacyReport
    public var title: String
    public var width = 860.0
    public var height = 500.0
    public static let maxParticipantSeries = 10

    public init(report: PrivacyReport, title: String) {
        self.report = report
        self.title = title
    }

    struct Series {
        let participant: UInt32?
        var rdp: [(x: Double, y: Double)] = []
        var pld: [(x: Double, y: Double)] = []
        var infinite = false
        var name: String { participant.map { "participant \($0)" } ?? "federation (worst case)" }
    }

    private static let palette = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ]

    /// The SVG document.
    public func svg() -> String {
        var byParticipant: [UInt32: Series] = [:]
        var federation = Series(participant: nil)
        for point in report.curve {
            var s = point.participant.map { byParticipant[$0] ?? Series(participant: $0) } ?? federation
            let x = Double(point.roundID)
            if point.epsilonRDP.isFinite { s.rdp.append((x, point.epsilonRDP)) } else { s.infinite = true }
            if let pld = point.epsilonPLD, pld.isFinite { s.pld.append((x, pld)) }
            if let p = point.participant { byParticipant[p] = s } else { federation = s }
        }
        let allParticipants = byParticipant.values.sorted { a, b in
            let ea = a.rdp.last?.y ?? .infinity, eb = b.rdp.last?.y ?? .infinity
            return ea != eb ? ea > eb : a.participant! < b.participant!
        }
        let shown = Array(allParticipants.prefix(Self.maxParticipantSeries)).sorted { $0.participant! < $1.participant! }
        let series = (report.curve.isEmpty ? [] : [federation]) + shown

        // Layout.
        let left = 72.0, right = 210.0, top = 66.0, bottom = 56.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let xs = series.flatMap { $0.rdp.map(\.x) + $0.pld.map(\.x) }
        let ys = series.flatMap { $0.rdp.map(\.y) + $0.pld.map(\.y) }
        var xLow = xs.min() ?? 0, xHigh = xs.max() ?? 1
        if xHigh <= xLow { xLow = max(0, xLow - 1); xHigh = xLow + 2 }
        let yTicks = Self.ticks(upTo: max(ys.max() ?? 1, 1e-9))
        let yHigh = yTicks.last!
        let xTicks = Self.ticks(from: xLow, to: xHigh, integers: true)
        func px(_ x: Double) -> Double { left + (x - xLow) / (xHigh - xLow) * plotWidth }
        func py(_ y: Double) -> Double { top + plotHeight - y / yHigh * plotHeight }

        var notes: [String] = ["δ = \(Self.number(report.delta))"]
        if allParticipants.count > shown.count {
            notes.append("\(shown.count) of \(allParticipants.count) participants shown (highest ε)")
        }
        if series.contains(where: \.infinite) { notes.append("ε = ∞ after a round without noise is not drawn") }
        if report.rows.contains(where: { $0.epsilonPLD == nil }) { notes.append("no PLD line: only the RDP bound applies") }

        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Self.f(width))" height="\(Self.f(height))" viewBox="0 0 \(Self.f(width)) \(Self.f(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <title>\(Self.escape(title))</title>
            <rect x="0" y="0" width="\(Self.f(width))" height="\(Self.f(height))" fill="#ffffff"/>
            <text x="\(Self.f(left))" y="24" font-size="16" font-weight="bold">\(Self.escape(title))</text>
            <text x="\(Self.f(left))" y="44" fill="#555555">\(Self.escape(notes.joined(separator: " · ")))</text>

            """
        // Grid, ticks and labels.
        out += "<g stroke=\"#e5e5e5\" stroke-width=\"1\">\n"
        for t in yTicks {
            out += "<line x1=\"\(Self.f(left))\" y1=\"\(Self.f(py(t)))\" x2=\"\(Self.f(left + plotWidth))\" y2=\"\(Self.f(py(t)))\"/>\n"
        }
        for t in xTicks {
            out += "<line x1=\"\(Self.f(px(t)))\" y1=\"\(Self.f(top))\" x2=\"\(Self.f(px(t)))\" y2=\"\(Self.f(top + plotHeight))\"/>\n"
        }
        out += "</g>\n"
        out += "<g stroke=\"#333333\" stroke-width=\"1\">\n"
        out +=
            "<line x1=\"\(Self.f(left))\" y1=\"\(Self.f(top + plotHeight))\" x2=\"\(Self.f(left + plotWidth))\" y2=\"\(Self.f(top + plotHeight))\"/>\n"
        out += "<line x1=\"\(Self.f(left))\" y1=\"\(Self.f(top))\" x2=\"\(Self.f(left))\" y2=\"\(Self.f(top + plotHeight))\"/>\n"
        out += "</g>\n"
        out += "<g fill=\"#333333\">\n"
        for t in yTicks {
            out +=
                "<text x=\"\(Self.f(left - 8))\" y=\"\(Self.f(py(t) + 4))\" text-anchor=\"end\">\(Self.escape(Self.label(t, step: yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1)))</text>\n"
        }
        for t in xTicks {
            out +=
                "<text x=\"\(Self.f(px(t)))\" y=\"\(Self.f(top + plotHeight + 18))\" text-anchor=\"middle\">\(Self.escape(Self.label(t, step: 1)))</text>\n"
        }
        out += "<text x=\"\(Self.f(left + plotWidth / 2))\" y=\"\(Self.f(height - 14))\" text-anchor=\"middle\">round</text>\n"
        out +=
            "<text x=\"18\" y=\"\(Self.f(top + plotHeight / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(Self.f(top + plotHeight / 2)))\">cumulative ε</text>\n"
        out += "</g>\n"

        // Lines, then the legend.
        let legendX = left + plotWidth + 20
        var legendY = top + 6
        out += "<g fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\">\n"
        for (index, s) in series.enumerated() {
            let color = s.participant == nil ? "#222222" : Self.palette[(index - 1) % Self.palette.count]
            if !s.rdp.isEmpty {
                out +=
                    "<polyline stroke=\"\(color)\" points=\"\(s.rdp.map { "\(Self.f(px($0.x))),\(Self.f(py($0.y)))" }.joined(separator: " "))\"/>\n"
                if s.rdp.count == 1, let p = s.rdp.first {
                    out += "<circle cx=\"\(Self.f(px(p.x)))\" cy=\"\(Self.f(py(p.y)))\" r=\"3\" fill=\"\(color)\"/>\n"
                }
            }
            if !s.pld.isEmpty {
                out +=
                    "<polyline stroke=\"\(color)\" stroke-dasharray=\"6 4\" points=\"\(s.pld.map { "\(Self.f(px($0.x))),\(Self.f(py($0.y)))" }.joined(separator: " "))\"/>\n"
            }
        }
        out += "</g>\n<g font-size=\"12\">\n"
        for (index, s) in series.enumerated() {
            let color = s.participant == nil ? "#222222" : Self.palette[(index - 1) % Self.palette.count]
            out +=
                "<line x1=\"\(Self.f(legendX))\" y1=\"\(Self.f(legendY))\" x2=\"\(Self.f(legendX + 24))\" y2=\"\(Self.f(legendY))\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            out += "<text x=\"\(Self.f(legendX + 30))\" y=\"\(Self.f(legendY + 4))\">\(Self.escape(s.name))</text>\n"
            legendY += 18
        }
        legendY += 8
        out +=
            "<line x1=\"\(Self.f(legendX))\" y1=\"\(Self.f(legendY))\" x2=\"\(Self.f(legendX + 24))\" y2=\"\(Self.f(legendY))\" stroke=\"#555555\" stroke-width=\"2\"/>\n"
        out += "<text x=\"\(Self.f(legendX + 30))\" y=\"\(Self.f(legendY + 4))\">ε (RDP bound)</text>\n"
        legendY += 18
        out +=
            "<line x1=\"\(Self.f(legendX))\" y1=\"\(Self.f(legendY))\" x2=\"\(Self.f(legendX + 24))\" y2=\"\(Self.f(legendY))\" stroke=\"#555555\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n"
        out += "<text x=\"\(Self.f(legendX + 30))\" y=\"\(Self.f(legendY + 4))\">ε (PLD estimate)</text>\n"
        out += "</g>\n</svg>\n"
        return out
    }

    /// 0 and "nice" multiples (1, 2, 5 × 10^k) up to at least `high`.
    static func ticks(upTo high: Double) -> [Double] {
        let step = niceStep(high / 5)
        let count = Int((high / step).rounded(.up))
        return (0...max(1, count)).map { Double($0) * step }
    }

    /// Nice ticks within [low, high]; integer steps when `integers`.
    static func ticks(from low: Double, to high: Double, integers: Bool) -> [Double] {
        var step = niceStep((high - low) / 6)
        if integers { step = max(1, step.rounded(.up)) }
        var t = (low / step).rounded(.up) * step
        var out: [Double] = []
        while t <= high + step * 1e-9, out.count < 50 {
            out.append(t)
            t += step
        }
        return out
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let fraction = raw / magnitude
        let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        return nice * magnitude
    }

    static func label(_ value: Double, step: Double) -> String {
        let decimals = max(0, Int((-log10(step)).rounded(.up)))
        return String(format: "%.\(min(decimals, 6))f", value)
    }

    static func number(_ value: Double) -> String { String(format: "%g", value) }

    /// Coordinates with two decimals.
    static func f(_ value: Double) -> String { String(format: "%.2f", value) }

    static func escape(_ text: String) -> String { MarkupText.escaped(text) }
}
