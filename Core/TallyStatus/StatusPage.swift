import Foundation
import HTTPTypes
import Hummingbird
import TallyCore

/// The status pages' HTML: one self-contained document (inline CSS, SVG plots, no script, no
/// external asset, so it works offline and leaves no console errors) that reloads itself.
public enum StatusPage {
    /// A whole page: `refreshSeconds` reloads it; readable from phone width up.
    public static func document(title: String, refreshSeconds: Int, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta http-equiv="refresh" content="\(refreshSeconds)">
        <link rel="icon" href="data:,">
        <title>\(escape(title))</title>
        <style>
        body{font-family:system-ui,sans-serif;margin:0 auto;padding:12px;max-width:1100px;color:#1d232a;background:#fafbfc}
        h1{font-size:1.3rem;margin:.2rem 0 .8rem}h2{font-size:1.05rem;margin:1.2rem 0 .4rem}
        .cards{display:flex;flex-wrap:wrap;gap:8px}.card{background:#fff;border:1px solid #d8dee4;border-radius:6px;padding:8px 12px;min-width:120px}
        .card b{display:block;font-size:1.25rem}.card span{font-size:.8rem;color:#57606a}
        .scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;background:#fff;font-size:.85rem}
        th,td{border-bottom:1px solid #d8dee4;padding:4px 8px;text-align:left;white-space:nowrap}th{background:#f0f3f6}
        .plots{display:flex;flex-wrap:wrap;gap:12px}.plot{background:#fff;border:1px solid #d8dee4;border-radius:6px;padding:6px;flex:1 1 320px}
        svg{width:100%;height:auto}.muted{color:#57606a;font-size:.8rem}
        </style></head><body>
        \(body)
        </body></html>
        """
    }

    /// Text made safe inside HTML.
    public static func escape(_ text: String) -> String { MarkupText.escaped(text) }

    /// A value with `digits` decimals, or "-" when there is none.
    public static func number(_ value: Double?, _ digits: Int = 3) -> String {
        value.map { String(format: "%.\(digits)f", $0) } ?? "-"
    }

    /// A row of headline numbers; each card has an `id` (`card-KEY`) a test or a script can find.
    public static func cards(_ items: [(key: String, label: String, value: String)]) -> String {
        "<div class=\"cards\">"
            + items.map {
                "<div class=\"card\" id=\"card-\(escape($0.key))\"><b>\(escape($0.value))</b><span>\(escape($0.label))</span></div>"
            }.joined() + "</div>"
    }

    /// A table with a header row; cells are escaped.
    public static func table(id: String, header: [String], rows: [[String]]) -> String {
        var html = "<div class=\"scroll\"><table id=\"\(escape(id))\"><thead><tr>"
        html += header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>"
        for row in rows { html += "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }
        if rows.isEmpty { html += "<tr><td colspan=\"\(header.count)\" class=\"muted\">none yet</td></tr>" }
        return html + "</tbody></table></div>"
    }

    /// A line plot of one or more series over a shared x axis, as inline SVG with its axis range
    /// labelled. Non-finite points are skipped.
    public static func plot(id: String, title: String, series: [(label: String, color: String, points: [(x: Double, y: Double)])])
        -> String
    {
        let (width, height, left, bottom, top, right) = (480.0, 200.0, 44.0, 22.0, 8.0, 8.0)
        let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        var svg = "<div class=\"plot\"><div>\(escape(title))</div>"
        svg += "<svg id=\"\(escape(id))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(escape(title))\">"
        guard let minX = all.map(\.x).min(), let maxX = all.map(\.x).max(), var minY = all.map(\.y).min(),
            var maxY = all.map(\.y).max()
        else {
            return svg
                + "<text x=\"\(Int(width / 2))\" y=\"\(Int(height / 2))\" text-anchor=\"middle\" fill=\"#57606a\">no data yet</text></svg></div>"
        }
        if maxY - minY < 1e-9 { (minY, maxY) = (minY - 0.5, maxY + 0.5) }
        let spanX = max(maxX - minX, 1e-9)
        func px(_ x: Double) -> Double { left + (x - minX) / spanX * (width - left - right) }
        func py(_ y: Double) -> Double { top + (maxY - y) / (maxY - minY) * (height - top - bottom) }
        svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - right)\" y2=\"\(height - bottom)\" stroke=\"#8c959f\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(height - bottom)\" stroke=\"#8c959f\"/>"
        for (y, label) in [(maxY, maxY), (minY, minY)] {
            svg += "<text x=\"\(left - 4)\" y=\"\(py(y) + 4)\" text-anchor=\"end\" font-size=\"11\">\(format(label))</text>"
        }
        svg += "<text x=\"\(left)\" y=\"\(height - 6)\" font-size=\"11\">\(format(minX))</text>"
        svg += "<text x=\"\(width - right)\" y=\"\(height - 6)\" text-anchor=\"end\" font-size=\"11\">\(format(maxX))</text>"
        for (index, s) in series.enumerated() {
            let points = s.points.filter { $0.x.isFinite && $0.y.isFinite }
            guard !points.isEmpty else { continue }
            let path = points.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(escape(s.color))\" stroke-width=\"2\" points=\"\(path)\"/>"
            svg +=
                "<text x=\"\(left + 6)\" y=\"\(top + 12 + Double(index) * 13)\" font-size=\"11\" fill=\"\(escape(s.color))\">\(escape(s.label))</text>"
        }
        return svg + "</svg></div>"
    }

    static func format(_ value: Double) -> String {
        abs(value) >= 100 || value == value.rounded() ? String(format: "%.0f", value) : String(format: "%.3g", value)
    }

    /// The page as a response.
    public static func response(_ html: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A JSON body (sorted keys, so a diff of two snapshots reads well).
    public static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data = try encoder.encode(value)
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
