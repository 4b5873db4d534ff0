// Text (FreeType, Sources/VoiceStyleImaging/Text.swift), the bitmap fallback font and captioned grids
// (Sources/VoiceStyleImaging/Captions.swift).
import Foundation
import Testing
import VoiceStyleImaging

private func lit(_ img: RGBImage, _ x: Int, _ y: Int) -> Bool { img.pixels[(y * img.width + x) * 3] == 255 }
/// Pixels whose red channel is not 0 (text drawn on black).
private func inked(_ img: RGBImage) -> [(x: Int, y: Int)] {
    (0..<(img.width * img.height)).filter { img.pixels[$0 * 3] != 0 }.map { ($0 % img.width, $0 / img.width) }
}
private func rendered(_ s: String, width: Int = 200, height: Int = 20, size: Int = 11, maxWidth: Int? = nil) -> RGBImage {
    var img = RGBImage(width: width, height: height)
    TextRenderer.sans.draw(s, into: &img, x: 2, y: 2, size: size, maxWidth: maxWidth)
    return img
}

@Suite("Captions")
struct CaptionTests {
    @Test("DejaVu Sans is installed (scripts/setup: fonts-dejavu-core) and a missing font file is a clear error")
    func fonts() {
        #expect(TextRenderer.sans.isFreeType && TextRenderer.sansBold.isFreeType)
        #expect(throws: FontError.self) { _ = try TextRenderer(fontFile: "/nonexistent/font.ttf") }
        do { _ = try TextRenderer(fontFile: "/nonexistent/font.ttf") } catch { #expect("\(error)".contains("/nonexistent/font.ttf")) }
    }

    @Test("text: anti-aliased pixels in its colour, inside its measured box; lower case; width grows with length")
    func text() throws {
        try #require(TextRenderer.sans.isFreeType)
        let font = TextRenderer.sans
        var img = RGBImage(width: 80, height: 24)
        let drawn = font.draw("Hello, gj", into: &img, x: 5, y: 4, size: 11, color: (255, 0, 0))
        #expect(drawn == font.width(of: "Hello, gj", size: 11) && drawn > 30 && drawn < 75)
        let ink = inked(img)
        #expect(ink.allSatisfy { $0.x >= 5 && $0.x < 5 + drawn && $0.y >= 4 && $0.y < 4 + font.lineHeight(size: 11) })
        #expect(img.pixels.enumerated().allSatisfy { $0.offset % 3 == 0 || $0.element == 0 })  // only red
        let reds = ink.map { img.pixels[($0.y * 80 + $0.x) * 3] }
        #expect(reds.contains(255) && reds.contains { $0 > 0 && $0 < 255 })  // solid and anti-aliased
        // Descenders (g, j) reach below the baseline.
        #expect(ink.contains { $0.y >= 4 + font.ascent(size: 11) })
        #expect(rendered("abc") != rendered("ABC") && !inked(rendered("abc")).isEmpty)
        #expect(font.width(of: "", size: 11) == 0 && inked(rendered("")).isEmpty)
        #expect(font.width(of: "ab", size: 11) < font.width(of: "abc", size: 11))
        #expect(font.width(of: "abc", size: 11) < font.width(of: "abc", size: 22))
        #expect(font.lineHeight(size: 11) >= 11 && font.lineHeight(size: 22) > font.lineHeight(size: 11))
        // Drawn over a background: blended, not overwritten.
        var grey = RGBImage(width: 40, height: 20, pixels: [UInt8](repeating: 100, count: 40 * 20 * 3))
        font.draw("H", into: &grey, x: 0, y: 0, size: 11)
        #expect(grey.pixels.allSatisfy { $0 >= 100 } && grey.pixels.contains(255))
    }

    @Test("clipping to a width ends in …; characters without a glyph and text off the image do not crash")
    func clipping() throws {
        try #require(TextRenderer.sans.isFreeType)
        let font = TextRenderer.sans
        let long = "a rather long caption for a small tile"
        let shown = font.clipped(long, size: 11, maxWidth: 60)
        #expect(shown.hasSuffix("…") && font.width(of: shown, size: 11) <= 60 && long.hasPrefix(String(shown.dropLast())))
        #expect(font.clipped("short", size: 11, maxWidth: 60) == "short")
        #expect(font.clipped(long, size: 11, maxWidth: 2) == "")
        let img = rendered(long, maxWidth: 60)
        #expect(inked(img).allSatisfy { $0.x < 2 + 60 } && img == rendered(shown))
        // No glyph in DejaVu Sans (CJK, a private-use code point): the font's missing-glyph box, no crash.
        #expect(font.width(of: "漢\u{F8FF}", size: 11) > 0)
        _ = rendered("漢字 \u{F8FF} é ✓")
        var small = RGBImage(width: 10, height: 5)
        font.draw("off the edges", into: &small, x: -7, y: -6, size: 22)
        font.draw("below", into: &small, x: 3, y: 40, size: 11)
    }

    @Test("drawing from many threads at once gives the same pixels")
    func threads() throws {
        let expected = rendered("Thread-safe 123")
        let results = UnsafeSendableBox([RGBImage](repeating: RGBImage(width: 1, height: 1), count: 16))
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 16) { k in
            let img = rendered("Thread-safe 123")
            _ = TextRenderer.sans.width(of: "other \(k)", size: 9 + k)
            lock.lock(); results.value[k] = img; lock.unlock()
        }
        #expect(results.value.allSatisfy { $0 == expected })
    }

    @Test("bitmap fallback font: glyphs pixel for pixel at scale 1 and 2, lower case as capitals, clipping")
    func bitmapFont() {
        var img = RGBImage(width: 12, height: 16)
        BitmapFont.draw("1", into: &img, x: 0, y: 0)
        // "1": 00100 / 01100 / 00100 … / 01110.
        #expect(lit(img, 2, 0) && !lit(img, 1, 0) && lit(img, 1, 1) && lit(img, 2, 1) && !lit(img, 0, 6) && lit(img, 1, 6) && lit(img, 3, 6))
        #expect(img.pixels.enumerated().filter { $0.offset % 3 == 0 && $0.element == 255 }.count == 10)
        var big = RGBImage(width: 12, height: 16)
        BitmapFont.draw("A", into: &big, x: 1, y: 1, scale: 2)
        #expect(!lit(big, 2, 1) && lit(big, 3, 1) && lit(big, 8, 2) && !lit(big, 9, 1) && lit(big, 1, 3) && lit(big, 2, 4))
        func render(_ s: String, width: Int = 40, maxWidth: Int? = nil) -> RGBImage {
            var img = RGBImage(width: width, height: 9)
            BitmapFont.draw(s, into: &img, x: 0, y: 0, maxWidth: maxWidth)
            return img
        }
        #expect(render("id7") == render("ID7") && render("€") == render("?"))
        let clipped = render("ABCDEFGHIJ", width: 60, maxWidth: 23)  // 4 glyphs fit: "AB" + ".."
        #expect(clipped == render("AB..", width: 60))
        #expect(BitmapFont.width(of: "AB", scale: 2) == 22)
    }

    @Test("captioned grid: geometry, tiles copied unchanged, captions in the strip; no captions = make_grid layout")
    func captionedGrid() {
        let (w, h) = (40, 30)
        let tiles = (0..<3).map { k in RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { UInt8(($0 * 7 + k * 50) % 200) }) }
        let plain = ImageTensors.grid(tiles, columns: 2)
        #expect(plain.width == 2 * (w + 2) + 2 && plain.height == 2 * (h + 2) + 2)
        let sheet = ImageTensors.captionedGrid(tiles, captions: [["Ab", "B"], ["lower case, clipped"], []], columns: 2)
        let strip = ImageTensors.captionStripHeight(lines: 2, tileWidth: w), gw = 2 * (w + 2) + 2
        #expect(strip == 2 * TextRenderer.sans.lineHeight(size: 11) + 2 && ImageTensors.captionSize(tileWidth: w) == 11)
        #expect(sheet.width == gw && sheet.height == 2 * (h + strip + 2) + 2)
        // Tile 1 at (w + 4, 2), unchanged.
        for y in 0..<h {
            let row = Array(sheet.pixels[((2 + y) * gw + w + 4) * 3 ..< ((2 + y) * gw + 2 * w + 4) * 3])
            #expect(row == Array(tiles[1].pixels[y * w * 3 ..< (y + 1) * w * 3]))
        }
        // Its caption is drawn in the strip under it, from one pixel in, clipped to the tile's width.
        let strip1 = ((2 + h)..<(2 + h + strip)).flatMap { y in ((w + 2)..<gw).map { (x: $0, y: y) } }
            .filter { sheet.pixels[($0.y * gw + $0.x) * 3] != 0 }
        #expect(!strip1.isEmpty && strip1.allSatisfy { $0.x >= w + 5 && $0.x < 2 * w + 4 })
        // Tile 2 has no caption: its strip stays background.
        let y0 = 2 + h + strip + 2 + h
        #expect((y0..<(y0 + strip)).allSatisfy { y in (2..<(w + 2)).allSatisfy { sheet.pixels[(y * gw + $0) * 3] == 0 } })
        // A title takes one more strip on top; large tiles get larger text.
        let titled = ImageTensors.captionedGrid(tiles, captions: [["A"], [], []], columns: 2, title: "Title")
        #expect(titled.height == 3 * ImageTensors.captionStripHeight(lines: 1, tileWidth: w) + 2 * (h + 2) + 2)  // title + 2 strips
        #expect(ImageTensors.captionSize(tileWidth: 256) == 22 && ImageTensors.captionStripHeight(lines: 2, tileWidth: 256) >= 2 * strip)
    }
}

/// A mutable value shared with concurrent closures (guarded by the caller's lock).
private final class UnsafeSendableBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
