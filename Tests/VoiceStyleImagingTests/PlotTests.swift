// Line charts as SVG and PNG (Sources/VoiceStyleImaging/Plot.swift).
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import VoiceStyleImaging

/// Throws unless `svg` is well-formed XML with an <svg> root.
private func parse(_ svg: String) throws {
    let doc = try XMLDocument(xmlString: svg, options: [])
    #expect(doc.rootElement()?.name == "svg")
}

private func isWhite(_ img: RGBImage, _ x: Int, _ y: Int) -> Bool { img.pixels[(y * img.width + x) * 3 ..< (y * img.width + x) * 3 + 3].allSatisfy { $0 == 255 } }

@Suite("Plots")
struct PlotTests {
    @Test("ROC: valid SVG with series names and AUCs, a PNG of the requested size with the curves in the axes")
    func roc() throws {
        var plot = Plot.roc(series: [(name: "CMPC <v&f>", fpr: [0, 0.1, 0.3, 1], tpr: [0, 0.6, 0.9, 1], auc: 0.865),
                                     (name: "chance", fpr: [0, 1], tpr: [0, 1], auc: .nan)])
        plot.width = 500
        plot.height = 400
        let svg = plot.svg()
        try parse(svg)
        #expect(svg.contains("CMPC &lt;v&amp;f&gt; (AUC 0.865)") && svg.contains("chance (AUC n/a)"))
        #expect(svg.contains(">false positive rate<") && svg.contains(">true positive rate<") && svg.contains("stroke-dasharray"))
        #expect(svg.contains(">0.0<") && svg.contains(">1.0<"))
        let img = plot.image()
        #expect(img.width == 500 && img.height == 400)
        // The first series' blue (31, 119, 180) appears in the middle of the axes; the corners stay white.
        let blue = (0..<(500 * 400)).filter { img.pixels[$0 * 3] == 31 && img.pixels[$0 * 3 + 1] == 119 && img.pixels[$0 * 3 + 2] == 180 }
        #expect(blue.count > 100 && blue.allSatisfy { $0 % 500 > 40 && $0 / 500 > 20 && $0 / 500 < 370 })
        #expect(isWhite(img, 0, 0) && isWhite(img, 499, 399))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vs-plot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try plot.write(to: dir, name: "roc")
        #expect(try PNGCodec.decode(Data(contentsOf: dir.appendingPathComponent("roc.png"))) == img)
        #expect(try String(contentsOf: dir.appendingPathComponent("roc.svg"), encoding: .utf8) == svg)
        try? FileManager.default.removeItem(at: dir)
    }

    @Test("recall@k: a log axis for k from 1 to 50, linear for a narrow span; y from 0 to 1")
    func recallAtK() throws {
        let plot = Plot.recallAtK(series: [(name: "ours", ks: [1, 2, 5, 10, 20, 50], recall: [0.05, 0.09, 0.2, 0.32, 0.5, 0.8]),
                                           (name: "random", ks: [1, 2, 5, 10, 20, 50], recall: [0.01, 0.02, 0.05, 0.1, 0.2, 0.5])])
        #expect(plot.logX)
        let svg = plot.svg()
        try parse(svg)
        #expect(svg.contains(">ours<") && svg.contains(">random<") && svg.contains(">recall@k<") && svg.contains(">50<"))
        #expect(svg.components(separatedBy: "<circle").count - 1 == 12)  // a dot on every point
        #expect(!Plot.recallAtK(series: [(name: "a", ks: [1, 2, 5, 10], recall: [0.1, 0.2, 0.3, 0.4])]).logX)
        let img = plot.image()
        #expect(img.width == 640 && img.height == 480)
        #expect((200..<400).contains { y in (100..<600).contains { !isWhite(img, $0, y) } })
    }

    @Test("degenerate inputs: no series, empty, one point, NaN, infinities, all equal, unequal lengths, tiny images")
    func degenerate() throws {
        let cases: [Plot] = [
            Plot(title: "nothing"),
            Plot(series: [.init(name: "empty", x: [], y: [])]),
            Plot(series: [.init(name: "one", x: [3], y: [7])]),
            Plot(series: [.init(name: "missing", x: [.nan, 1, 2, .nan], y: [1, .nan, 3, 4])]),
            Plot(series: [.init(name: "unbounded", x: [0, 1, .infinity], y: [-.infinity, 1, 2]), .init(name: "huge", x: [0, 1], y: [-1e308, 1e308])]),
            Plot(series: [.init(name: "flat", x: [1, 1, 1], y: [5, 5, 5])]),
            Plot(series: [.init(name: "tiny span", x: [1e20, 1e20 + 1e6], y: [0, 1])]),
            Plot(series: [.init(name: "lengths", x: [0, 1, 2], y: [1])]),
            Plot.roc(series: [(name: "outside", fpr: [-1, 0.5, 2], tpr: [-5, 0.5, 9], auc: 0.5)]),
            Plot.recallAtK(series: [(name: "k0", ks: [0, -1], recall: [.nan, 2])]),
            Plot.recallAtK(series: []),
            { var p = Plot.roc(series: [(name: "very long name " + String(repeating: "x", count: 200), fpr: [0, 1], tpr: [0, 1], auc: 0.5)])
              p.width = 24; p.height = 12; return p }(),
        ]
        for plot in cases {
            let svg = plot.svg()
            try parse(svg)
            #expect(!svg.lowercased().contains("nan") && !svg.lowercased().contains("inf"), "\(plot.series.map(\.name))")
            let img = plot.image()
            #expect(img.width == plot.width && img.height == plot.height)
        }
    }
}
