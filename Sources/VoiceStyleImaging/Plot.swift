// Line charts as SVG and PNG after matplotlib's default look (axes box, ticks, grid, legend, tab10 colours);
// drawn here, no upstream counterpart: the ROC and recall@k curves of evaluation reports.
import Foundation

/// A line chart of named series, laid out once and rendered alike as standalone SVG (`svg`) and as an
/// RGB image (`image`, text in DejaVu Sans). Points with a non-finite coordinate (or x ≤ 0 on a log axis)
/// are left out; lines leaving the axes are clipped; series of at most 20 points get a dot on every point; the
/// legend takes the corner of the axes where it hides the fewest points.
public struct Plot: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var x: [Double], y: [Double]
        public init(name: String, x: [Double], y: [Double]) { (self.name, self.x, self.y) = (name, x, y) }
    }

    public var title: String, xLabel: String, yLabel: String
    public var series: [Series]
    /// Axis ranges; nil: the data's, widened to whole ticks (linear axes).
    public var xRange: ClosedRange<Double>?, yRange: ClosedRange<Double>?
    /// Logarithmic x axis (ticks at 1, 2, 5 × 10ⁿ).
    public var logX = false
    /// A dashed grey y = x line (the chance level of a ROC curve).
    public var diagonal = false
    /// Image size in pixels (the SVG's too).
    public var width = 640, height = 480

    public init(title: String = "", xLabel: String = "", yLabel: String = "", series: [Series] = [],
                xRange: ClosedRange<Double>? = nil, yRange: ClosedRange<Double>? = nil) {
        (self.title, self.xLabel, self.yLabel, self.series, self.xRange, self.yRange) = (title, xLabel, yLabel, series, xRange, yRange)
    }

    /// ROC curves on the unit square with the chance diagonal; the legend gives each curve's AUC.
    public static func roc(series: [(name: String, fpr: [Double], tpr: [Double], auc: Double)], title: String = "ROC") -> Plot {
        var plot = Plot(title: title, xLabel: "false positive rate", yLabel: "true positive rate",
                        series: series.map { Series(name: "\($0.name) (AUC \($0.auc.isFinite ? String(format: "%.3f", $0.auc) : "n/a"))",
                                                    x: $0.fpr, y: $0.tpr) },
                        xRange: 0...1, yRange: 0...1)
        plot.diagonal = true
        return plot
    }

    /// Recall@k against k (a log axis when the ks span a factor of 20 or more), recall from 0 to 1.
    public static func recallAtK(series: [(name: String, ks: [Int], recall: [Double])], title: String = "recall@k") -> Plot {
        var plot = Plot(title: title, xLabel: "k", yLabel: "recall@k",
                        series: series.map { Series(name: $0.name, x: $0.ks.map(Double.init), y: $0.recall) }, yRange: 0...1)
        let ks = series.flatMap(\.ks).filter { $0 > 0 }
        plot.logX = (ks.max() ?? 1) >= 20 * (ks.min() ?? 1)
        return plot
    }

    /// Writes `name`.svg and `name`.png into `folder`.
    public func write(to folder: URL, name: String) throws {
        try Data(svg().utf8).writeOutput(to: folder.appendingPathComponent(name + ".svg"))
        try PNGCodec.encode(image()).writeOutput(to: folder.appendingPathComponent(name + ".png"))
    }

    // MARK: Rendering

    /// The chart as a standalone SVG document (text as <text> elements, in DejaVu Sans where the viewer has it).
    public func svg() -> String {
        func n(_ v: Double) -> String { v.isFinite ? String(format: "%.1f", v) : "0" }
        func hex(_ c: RGB) -> String { String(format: "#%02x%02x%02x", c.0, c.1, c.2) }
        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" \
            font-family="DejaVu Sans, Verdana, sans-serif">

            """
        for mark in marks() {
            switch mark {
            case let .fill(x, y, w, h, c):
                out += "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(w))\" height=\"\(n(h))\" fill=\"\(hex(c))\"/>\n"
            case let .line(points, c, w, dashed):
                let d = points.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(n($0.element.0)) \(n($0.element.1))" }.joined(separator: " ")
                out += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(hex(c))\" stroke-width=\"\(n(w))\" stroke-linejoin=\"round\""
                    + (dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>\n"
            case let .dot(x, y, r, c):
                out += "<circle cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"\(n(r))\" fill=\"\(hex(c))\"/>\n"
            case let .text(s, x, y, size, bold, anchor, rotated):
                let position = rotated ? "x=\"\(n(-y))\" y=\"\(n(x))\" transform=\"rotate(-90)\"" : "x=\"\(n(x))\" y=\"\(n(y))\""
                out += "<text \(position) font-size=\"\(size)\"" + (bold ? " font-weight=\"bold\"" : "")
                    + " text-anchor=\"\(["start", "middle", "end"][anchor + 1])\">\(escaped(s))</text>\n"
            }
        }
        return out + "</svg>\n"
    }

    /// The chart as a white RGB image of `width` × `height` pixels: anti-aliased lines and text.
    public func image() -> RGBImage {
        let (w, h) = (max(1, width), max(1, height))
        var image = RGBImage(width: w, height: h, pixels: [UInt8](repeating: 255, count: w * h * 3))
        var coverage = [Float](repeating: 0, count: w * h)
        for mark in marks() {
            switch mark {
            case let .fill(x, y, fw, fh, c):
                let x0 = max(0, Int(x.rounded())), x1 = min(w, Int((x + fw).rounded())), y0 = max(0, Int(y.rounded())), y1 = min(h, Int((y + fh).rounded()))
                guard x0 < x1 else { continue }
                image.pixels.withUnsafeMutableBufferPointer { p in
                    for yy in y0..<max(y0, y1) { for xx in x0..<x1 { let i = (yy * w + xx) * 3; (p[i], p[i + 1], p[i + 2]) = c } }
                }
            case let .line(points, c, lw, dashed):
                var stamp = Stamp(width: w, height: h)
                coverage.withUnsafeMutableBufferPointer { cov in
                    for (a, b) in zip(points, points.dropFirst()) {
                        if dashed { stamp.dashes(cov, a, b, radius: lw / 2) } else { stamp.segment(cov, a, b, radius: lw / 2) }
                    }
                }
                stamp.composite(&coverage, onto: &image, c)
            case let .dot(x, y, r, c):
                var stamp = Stamp(width: w, height: h)
                coverage.withUnsafeMutableBufferPointer { stamp.segment($0, (x, y), (x, y), radius: r) }
                stamp.composite(&coverage, onto: &image, c)
            case let .text(s, x, y, size, bold, anchor, rotated):
                let font = bold ? TextRenderer.sansBold : TextRenderer.sans
                let tw = font.width(of: s, size: size), ascent = font.ascent(size: size)
                let start = Int(x.rounded()) - (anchor + 1) * tw / 2
                guard rotated else {
                    font.draw(s, into: &image, x: start, y: Int(y.rounded()) - ascent, size: size, color: (0, 0, 0), maxWidth: max(0, w - start))
                    continue
                }
                // Drawn upright on white, then turned a quarter counter-clockwise: reads bottom to top, baseline at x.
                let lh = font.lineHeight(size: size)
                var upright = RGBImage(width: max(1, tw), height: lh, pixels: [UInt8](repeating: 255, count: max(1, tw) * lh * 3))
                font.draw(s, into: &upright, x: 0, y: 0, size: size, color: (0, 0, 0))
                let left = Int(x.rounded()) - ascent, bottom = Int(y.rounded()) + tw / 2
                image.pixels.withUnsafeMutableBufferPointer { p in
                    upright.pixels.withUnsafeBufferPointer { u in
                        for ty in 0..<lh where left + ty >= 0 && left + ty < w {
                            for tx in 0..<upright.width where bottom - tx >= 0 && bottom - tx < h {
                                let i = ((bottom - tx) * w + left + ty) * 3, j = (ty * upright.width + tx) * 3
                                (p[i], p[i + 1], p[i + 2]) = (u[j], u[j + 1], u[j + 2])
                            }
                        }
                    }
                }
            }
        }
        return image
    }

    // MARK: Layout

    typealias RGB = (UInt8, UInt8, UInt8)
    /// What both renderers draw, in pixels (y down). Text: baseline at y, anchor -1/0/1 = start/middle/end;
    /// rotated text reads bottom to top with its baseline on the vertical x and its middle at y.
    enum Mark {
        case fill(Double, Double, Double, Double, RGB)
        case line([(Double, Double)], RGB, Double, dashed: Bool)
        case dot(Double, Double, Double, RGB)
        case text(String, Double, Double, size: Int, bold: Bool, anchor: Int, rotated: Bool)
    }

    /// matplotlib's tab10 colours, cycled.
    static let palette: [RGB] = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                                 (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]

    /// One axis: its range (on the axis's scale: log10 for a log axis), ticks and their labels.
    struct Axis {
        var lo: Double, hi: Double, log: Bool
        var ticks: [(value: Double, label: String)] = []

        init(values: [Double], range: ClosedRange<Double>?, log: Bool) {
            self.log = log
            let data = values.filter { $0.isFinite && (!log || $0 > 0) }
            var (lo, hi) = range.map { ($0.lowerBound, $0.upperBound) } ?? (data.min() ?? (log ? 1 : 0), data.max() ?? (log ? 10 : 1))
            if log { (lo, hi) = (Foundation.log10(max(lo, .leastNormalMagnitude)), Foundation.log10(max(hi, .leastNormalMagnitude))) }
            if !(lo.isFinite && hi.isFinite && (hi - lo).isFinite) { (lo, hi) = (0, 1) }
            if hi <= lo { (lo, hi) = log ? (lo - 0.5, hi + 0.5) : (lo - max(0.5, abs(lo) * 0.1), hi + max(0.5, abs(hi) * 0.1)) }
            if log {
                let every = max(1, Int((hi - lo) / 10) + 1)  // decades between ticks
                for e in stride(from: Int(lo.rounded(.down)), through: Int(hi.rounded(.up)), by: every) {
                    for m in [1.0, 2.0, 5.0] where hi - lo <= 3 || m == 1 {
                        let t = Double(e) + Foundation.log10(m)
                        if t >= lo - 1e-9 && t <= hi + 1e-9 { ticks.append((t, String(format: "%g", m * pow(10, Double(e))))) }
                    }
                }
            } else {
                let raw = (hi - lo) / 5, e = pow(10, Foundation.log10(raw).rounded(.down)), f = raw / e
                let step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * e
                if step > 0 && step.isFinite && max(abs(lo), abs(hi)) / step < 1e12 {
                    if range == nil { (lo, hi) = ((lo / step).rounded(.down) * step, (hi / step).rounded(.up) * step) }
                    let decimals = min(6, max(0, Int(-Foundation.log10(step).rounded(.down))))
                    for k in stride(from: Int((lo / step).rounded(.up)), through: Int((hi / step).rounded(.down)), by: 1) {
                        let v = Double(k) * step
                        ticks.append((v, String(format: "%.*f", decimals, v == 0 ? 0 : v)))
                    }
                } else {  // a span too small for the values' magnitude: the ends only
                    ticks = [(lo, String(format: "%g", lo)), (hi, String(format: "%g", hi))]
                }
            }
            (self.lo, self.hi) = (lo, hi)
        }

        /// Where `v` falls from 0 (lo) to 1 (hi); non-finite or far-off values are pulled in to ±1e6.
        func fraction(_ v: Double) -> Double {
            let f = ((log ? Foundation.log10(v) : v) - lo) / (hi - lo)
            return f.isNaN ? -1e6 : min(1e6, max(-1e6, f))
        }
    }

    func marks() -> [Mark] {
        let font = TextRenderer.sans, size = max(9, height / 40), titleSize = size * 5 / 4
        let lineHeight = font.lineHeight(size: size), pad = 8.0, tick = 4.0, gap = 4.0
        let points = series.map { s in zip(s.x, s.y).filter { $0.0.isFinite && $0.1.isFinite && (!logX || $0.0 > 0) } }
        let xAxis = Axis(values: points.flatMap { $0.map(\.0) }, range: xRange, log: logX)
        let yAxis = Axis(values: points.flatMap { $0.map(\.1) }, range: yRange, log: false)
        let yTickWidth = Double(yAxis.ticks.map { font.width(of: $0.label, size: size) }.max() ?? 0)
        let lastXTick = Double(xAxis.ticks.last.map { font.width(of: $0.label, size: size) } ?? 0)
        // The axes' box.
        let left = pad + Double(lineHeight) + gap + yTickWidth + gap + tick
        let right = max(left + 2, Double(width) - max(2 * pad, pad + lastXTick / 2).rounded(.up))
        let top = title.isEmpty ? pad + Double(lineHeight / 2) : pad + Double(TextRenderer.sansBold.lineHeight(size: titleSize)) + gap
        let bottom = max(top + 2, Double(height) - pad - tick - gap - 2 * Double(lineHeight) - gap)
        func px(_ x: Double) -> Double { left + xAxis.fraction(x) * (right - left) }
        func py(_ y: Double) -> Double { bottom - yAxis.fraction(y) * (bottom - top) }
        func tx(_ t: Double) -> Double { left + (t - xAxis.lo) / (xAxis.hi - xAxis.lo) * (right - left) }
        func ty(_ t: Double) -> Double { bottom - (t - yAxis.lo) / (yAxis.hi - yAxis.lo) * (bottom - top) }
        // Centres of the pixel columns and rows that 1-pixel lines take, inside the axes' box.
        func column(_ x: Double) -> Double { min(max(x.rounded(.down), left), right - 1) + 0.5 }
        func row(_ y: Double) -> Double { min(max(y.rounded(.down), top), bottom - 1) + 0.5 }
        let grey: RGB = (235, 235, 235), black: RGB = (0, 0, 0), lineWidth = max(2, Double(height) / 240)

        var marks: [Mark] = [.fill(0, 0, Double(width), Double(height), (255, 255, 255))]
        for t in xAxis.ticks { let x = column(tx(t.value)); marks.append(.line([(x, top), (x, bottom)], grey, 1, dashed: false)) }
        for t in yAxis.ticks { let y = row(ty(t.value)); marks.append(.line([(left, y), (right, y)], grey, 1, dashed: false)) }
        if diagonal, let d = clip((px(xAxis.log ? pow(10, xAxis.lo) : xAxis.lo), py(xAxis.lo)), (px(xAxis.log ? pow(10, xAxis.hi) : xAxis.hi), py(xAxis.hi)),
                                  left, top, right, bottom) {
            marks.append(.line([d.0, d.1], (150, 150, 150), 1.5, dashed: true))
        }
        for (k, pts) in points.enumerated() {
            let colour = Self.palette[k % Self.palette.count]
            var path: [(Double, Double)] = []
            for (a, b) in zip(pts, pts.dropFirst()) {
                guard let (p, q) = clip((px(a.0), py(a.1)), (px(b.0), py(b.1)), left, top, right, bottom) else { continue }
                if let last = path.last, last != p { marks.append(.line(path, colour, lineWidth, dashed: false)); path = [] }
                if path.isEmpty { path.append(p) }
                path.append(q)
            }
            if !path.isEmpty { marks.append(.line(path, colour, lineWidth, dashed: false)) }
            if pts.count <= 20 {
                for p in pts.map({ (px($0.0), py($0.1)) }) where p.0 >= left && p.0 <= right && p.1 >= top && p.1 <= bottom {
                    marks.append(.dot(p.0, p.1, lineWidth * 1.5 + 0.5, colour))
                }
            }
        }
        // Axes box, ticks and their labels.
        let (l, r, t, b) = (column(left), column(right), row(top), row(bottom))
        marks.append(.line([(l, t), (r, t), (r, b), (l, b), (l, t)], black, 1, dashed: false))
        let tickBaseline = bottom + tick + gap + Double(font.ascent(size: size))
        for t in xAxis.ticks {
            let x = column(tx(t.value))
            marks.append(.line([(x, bottom), (x, bottom + tick)], black, 1, dashed: false))
            marks.append(.text(t.label, x, tickBaseline, size: size, bold: false, anchor: 0, rotated: false))
        }
        for t in yAxis.ticks {
            let y = row(ty(t.value))
            marks.append(.line([(left - tick, y), (left, y)], black, 1, dashed: false))
            marks.append(.text(t.label, left - tick - gap, y + Double(size) * 0.36, size: size, bold: false, anchor: 1, rotated: false))
        }
        // Legend, inside the axes.
        if !series.isEmpty {
            let swatch = 20.0, inner = 6.0, maxText = max(0, Int(right - left - 2 * pad - 2 * inner - swatch - gap))
            let names = series.map { font.clipped($0.name, size: size, maxWidth: maxText) }
            let boxW = 2 * inner + swatch + gap + Double(names.map { font.width(of: $0, size: size) }.max() ?? 0)
            let boxH = 2 * inner + Double(names.count * lineHeight)
            // The corner whose box covers the fewest points of the lines (lower right first, as ROC curves leave it empty).
            var along: [(Double, Double)] = []
            for pts in points {
                for (a, b) in zip(pts, pts.dropFirst()) {
                    for k in 0..<8 {
                        let t = Double(k) / 8
                        along.append((px(a.0 + (b.0 - a.0) * t), py(a.1 + (b.1 - a.1) * t)))
                    }
                }
                if let last = pts.last { along.append((px(last.0), py(last.1))) }
            }
            let corners: [(Double, Double)] = [(right - pad - boxW, bottom - pad - boxH), (right - pad - boxW, top + pad),
                                               (left + pad, top + pad), (left + pad, bottom - pad - boxH)]
            let covered = corners.map { c in along.count { $0.0 >= c.0 && $0.0 <= c.0 + boxW && $0.1 >= c.1 && $0.1 <= c.1 + boxH } }
            let best = corners[covered.firstIndex(of: covered.min()!)!]
            let bx = best.0.rounded(), by = best.1.rounded()
            marks.append(.fill(bx, by, boxW, boxH, (255, 255, 255)))
            marks.append(.line([(bx + 0.5, by + 0.5), (bx + boxW - 0.5, by + 0.5), (bx + boxW - 0.5, by + boxH - 0.5),
                                (bx + 0.5, by + boxH - 0.5), (bx + 0.5, by + 0.5)], (200, 200, 200), 1, dashed: false))
            for (k, name) in names.enumerated() {
                let rowMid = by + inner + (Double(k) + 0.5) * Double(lineHeight)
                marks.append(.line([(bx + inner, rowMid), (bx + inner + swatch, rowMid)], Self.palette[k % Self.palette.count], lineWidth, dashed: false))
                marks.append(.text(name, bx + inner + swatch + gap, rowMid + Double(size) * 0.36, size: size, bold: false, anchor: -1, rotated: false))
            }
        }
        // Title and axis labels.
        let mid = (left + right) / 2
        if !title.isEmpty {
            let shown = TextRenderer.sansBold.clipped(title, size: titleSize, maxWidth: max(0, width - 2 * Int(pad)))
            let centre = min(max(mid, pad + Double(TextRenderer.sansBold.width(of: shown, size: titleSize)) / 2), Double(width) / 2)
            marks.append(.text(shown, centre, pad + Double(TextRenderer.sansBold.ascent(size: titleSize)), size: titleSize, bold: true, anchor: 0, rotated: false))
        }
        marks.append(.text(font.clipped(xLabel, size: size, maxWidth: Int(right - left)), mid, tickBaseline + Double(lineHeight) + gap,
                           size: size, bold: false, anchor: 0, rotated: false))
        marks.append(.text(font.clipped(yLabel, size: size, maxWidth: Int(bottom - top)), pad + Double(font.ascent(size: size)), (top + bottom) / 2,
                           size: size, bold: false, anchor: 0, rotated: true))
        return marks
    }
}

/// The part of segment a–b inside the rectangle (Liang–Barsky), nil if none.
private func clip(_ a: (Double, Double), _ b: (Double, Double), _ left: Double, _ top: Double, _ right: Double, _ bottom: Double)
    -> ((Double, Double), (Double, Double))? {
    let dx = b.0 - a.0, dy = b.1 - a.1
    var t0 = 0.0, t1 = 1.0
    for (p, q) in [(-dx, a.0 - left), (dx, right - a.0), (-dy, a.1 - top), (dy, bottom - a.1)] {
        if p == 0 { if q < 0 { return nil } else { continue } }
        let t = q / p
        if p < 0 { t0 = max(t0, t) } else { t1 = min(t1, t) }
        if t0 > t1 { return nil }
    }
    return ((a.0 + t0 * dx, a.1 + t0 * dy), (a.0 + t1 * dx, a.1 + t1 * dy))
}

/// Anti-aliased strokes: coverage (0…1, the maximum over the strokes, so joints do not darken) gathered in a
/// buffer over a bounding box, then blended onto the image in one colour and cleared.
private struct Stamp {
    let width: Int, height: Int
    var box = (x0: Int.max, y0: Int.max, x1: Int.min, y1: Int.min)

    init(width: Int, height: Int) { (self.width, self.height) = (width, height) }

    /// A round-capped segment of half-width `radius` (a disc when a = b).
    mutating func segment(_ cov: UnsafeMutableBufferPointer<Float>, _ a: (Double, Double), _ b: (Double, Double), radius: Double) {
        let reach = radius + 1
        let x0 = max(0, Int((min(a.0, b.0) - reach).rounded(.down))), x1 = min(width - 1, Int((max(a.0, b.0) + reach).rounded(.up)))
        let y0 = max(0, Int((min(a.1, b.1) - reach).rounded(.down))), y1 = min(height - 1, Int((max(a.1, b.1) + reach).rounded(.up)))
        guard x0 <= x1 && y0 <= y1 else { return }
        box = (min(box.x0, x0), min(box.y0, y0), max(box.x1, x1), max(box.y1, y1))
        let dx = b.0 - a.0, dy = b.1 - a.1, length2 = dx * dx + dy * dy
        for y in y0...y1 {
            let cy = Double(y) + 0.5
            for x in x0...x1 {
                let cx = Double(x) + 0.5
                let t = length2 > 0 ? min(1, max(0, ((cx - a.0) * dx + (cy - a.1) * dy) / length2)) : 0
                let ex = cx - a.0 - t * dx, ey = cy - a.1 - t * dy
                let c = Float(min(1, max(0, radius + 0.5 - (ex * ex + ey * ey).squareRoot())))
                if c > cov[y * width + x] { cov[y * width + x] = c }
            }
        }
    }

    /// Dashes of 6 pixels every 10 along a–b.
    mutating func dashes(_ cov: UnsafeMutableBufferPointer<Float>, _ a: (Double, Double), _ b: (Double, Double), radius: Double) {
        let length = ((b.0 - a.0) * (b.0 - a.0) + (b.1 - a.1) * (b.1 - a.1)).squareRoot()
        guard length > 0 else { return }
        var s = 0.0
        while s < length {
            let e = min(length, s + 6)
            segment(cov, (a.0 + (b.0 - a.0) * s / length, a.1 + (b.1 - a.1) * s / length),
                    (a.0 + (b.0 - a.0) * e / length, a.1 + (b.1 - a.1) * e / length), radius: radius)
            s += 10
        }
    }

    /// Blends `colour` by the gathered coverage and clears the buffer.
    func composite(_ coverage: inout [Float], onto image: inout RGBImage, _ colour: (UInt8, UInt8, UInt8)) {
        guard box.x0 <= box.x1 && box.y0 <= box.y1 else { return }
        coverage.withUnsafeMutableBufferPointer { cov in
            image.pixels.withUnsafeMutableBufferPointer { p in
                for y in box.y0...box.y1 {
                    for x in box.x0...box.x1 where cov[y * width + x] > 0 {
                        let a = Int((cov[y * width + x] * 255).rounded()), i = (y * width + x) * 3
                        p[i] = blend(p[i], colour.0, a); p[i + 1] = blend(p[i + 1], colour.1, a); p[i + 2] = blend(p[i + 2], colour.2, a)
                        cov[y * width + x] = 0
                    }
                }
            }
        }
    }
}

/// `s` with XML's five special characters escaped and control characters as spaces.
private func escaped(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        case _ where c.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0xFFFE || $0.value == 0xFFFF }: out += " "  // not allowed in XML
        default: out.append(c)
        }
    }
    return out
}
