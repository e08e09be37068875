import Foundation
import TallyCore
import Testing

@testable import TallyLedger

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Collects element names and text of an XML document.
final class XMLCollector: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var attributes: [[String: String]] = []
    var text = ""
    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]
    ) {
        elements.append(name)
        self.attributes.append(attributes)
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
}

@Suite struct EpsilonPlotTests {
    func parse(_ svg: String) throws -> XMLCollector {
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = XMLCollector()
        parser.delegate = collector
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        return collector
    }

    @Test func plotIsWellFormedWithSeriesAxesAndLegend() throws {
        let entries = (1...6).map { entry(round: UInt64(10 + $0), participants: $0 % 2 == 0 ? [1, 2] : [1]) }
        let report = try PrivacyReport(entries: entries, delta: 1e-5, budget: nil)
        let svg = EpsilonPlot(report: report, title: "Cumulative ε — coordinator ledger & <test>").svg()
        let xml = try parse(svg)
        #expect(xml.elements.first == "svg")
        // Federation and two participants: one solid (RDP) and one dashed (PLD) line each.
        let lines = xml.attributes.enumerated().filter { xml.elements[$0.offset] == "polyline" }.map(\.element)
        #expect(lines.count == 6)
        #expect(lines.filter { $0["stroke-dasharray"] != nil }.count == 3)
        #expect(xml.text.contains("Cumulative ε — coordinator ledger & <test>"))
        for label in [
            "federation (worst case)", "participant 1", "participant 2", "ε (RDP bound)", "ε (PLD estimate)", "round", "cumulative ε",
            "δ = 1e-05",
        ] {
            #expect(xml.text.contains(label), "missing \(label)")
        }
        // Tick labels: the rounds 11…16 and ε from 0.
        #expect(xml.text.contains("11") && xml.text.contains("16"))
        #expect(xml.elements.filter { $0 == "text" }.count > 12)
        // All coordinates are finite numbers inside the canvas.
        for line in lines {
            for pair in line["points"]!.split(separator: " ") {
                let xy = pair.split(separator: ",").map { Double($0)! }
                #expect(xy[0] >= 0 && xy[0] <= 860 && xy[1] >= 0 && xy[1] <= 500)
            }
        }
    }

    @Test func plotOfAnEmptyOrInfiniteReportIsStillWellFormed() throws {
        let empty = try PrivacyReport(entries: [], delta: 1e-5, budget: nil)
        #expect(try parse(EpsilonPlot(report: empty, title: "empty").svg()).elements.first == "svg")
        let noiseless = try PrivacyReport(entries: [entry(round: 1, shareSigmaSquared: 0, noiseMultiplier: 0)], delta: 1e-5, budget: nil)
        let xml = try parse(EpsilonPlot(report: noiseless, title: "no noise").svg())
        #expect(xml.text.contains("ε = ∞"))
        let tight = try PrivacyReport(entries: [entry(round: 1, shareSigmaSquared: 0.3, l2Sensitivity: 1)], delta: 1e-5, budget: nil)
        #expect(try parse(EpsilonPlot(report: tight, title: "one round").svg()).text.contains("only the RDP bound applies"))
    }

    @Test func manyParticipantsShowTheHighest() throws {
        // σ² = 0.3: only RDP (no PLD), which keeps the test fast.
        let entries = (1...12).map { round in
            entry(round: UInt64(round), participants: Array(UInt32(1)...UInt32(round + 2)), shareSigmaSquared: 0.3, l2Sensitivity: 1)
        }
        let report = try PrivacyReport(entries: entries, delta: 1e-5, budget: nil)
        let xml = try parse(EpsilonPlot(report: report, title: "many").svg())
        #expect(xml.text.contains("10 of 14 participants shown"))
        #expect(xml.text.contains("participant 1") && !xml.text.contains("participant 14"))
    }

    @Test func ticksAreNice() {
        #expect(EpsilonPlot.ticks(upTo: 7.3) == [0, 2, 4, 6, 8])
        #expect(EpsilonPlot.ticks(from: 11, to: 16, integers: true) == [11, 12, 13, 14, 15, 16])
        #expect(EpsilonPlot.niceStep(0.033) == 0.05)
    }
}
