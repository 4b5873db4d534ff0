// The sheet's bitmap font and captioned grids (Sources/VoiceStyleImaging/Captions.swift).
import Testing
import VoiceStyleImaging

private func lit(_ img: RGBImage, _ x: Int, _ y: Int) -> Bool { img.pixels[(y * img.width + x) * 3] == 255 }

@Suite("Captions")
struct CaptionTests {
    @Test("glyphs land pixel for pixel, at scale 1 and 2")
    func glyphPixels() {
        var img = RGBImage(width: 12, height: 16)
        BitmapFont.draw("1", into: &img, x: 0, y: 0)
        // "1": 00100 / 01100 / 00100 … / 01110.
        #expect(lit(img, 2, 0) && !lit(img, 1, 0) && lit(img, 1, 1) && lit(img, 2, 1) && !lit(img, 0, 6) && lit(img, 1, 6) && lit(img, 3, 6))
        #expect(img.pixels.enumerated().filter { $0.offset % 3 == 0 && $0.element == 255 }.count == 10)
        var big = RGBImage(width: 12, height: 16)
        BitmapFont.draw("A", into: &big, x: 1, y: 1, scale: 2)
        // "A" row 0 is 01110: columns 1–3 → pixels 3…8 at scale 2, offset 1; row 1 starts with a set bit.
        #expect(!lit(big, 2, 1) && lit(big, 3, 1) && lit(big, 8, 2) && !lit(big, 9, 1) && lit(big, 1, 3) && lit(big, 2, 4))
    }

    @Test("lower case draws as capitals, unknown characters as ?, and long text is clipped to its width")
    func fallbacksAndClipping() {
        func render(_ s: String, width: Int = 40, maxWidth: Int? = nil) -> RGBImage {
            var img = RGBImage(width: width, height: 9)
            BitmapFont.draw(s, into: &img, x: 0, y: 0, maxWidth: maxWidth)
            return img
        }
        #expect(render("id7") == render("ID7"))
        #expect(render("€") == render("?"))
        #expect(render("x") != render("?"))
        let clipped = render("ABCDEFGHIJ", width: 60, maxWidth: 23)  // 4 glyphs fit: "AB" + ".."
        #expect(clipped == render("AB..", width: 60))
        #expect((23..<60).allSatisfy { x in (0..<9).allSatisfy { !lit(clipped, x, $0) } })
        #expect(BitmapFont.width(of: "AB", scale: 2) == 22)
    }

    @Test("captioned grid: geometry, tiles copied unchanged, captions in the strip; no captions = make_grid layout")
    func captionedGrid() {
        let tiles = (0..<3).map { k in RGBImage(width: 8, height: 6, pixels: (0..<(8 * 6 * 3)).map { UInt8(($0 * 7 + k * 50) % 200) }) }
        let plain = ImageTensors.grid(tiles, columns: 2)
        #expect(plain.width == 2 * 10 + 2 && plain.height == 2 * 8 + 2)
        let sheet = ImageTensors.captionedGrid(tiles, captions: [["A", "B"], ["C"], []], columns: 2)
        let strip = 2 * BitmapFont.lineHeight + 2
        #expect(sheet.width == 22 && sheet.height == 2 * (6 + strip + 2) + 2)
        // Tile 1 at (12, 2), unchanged.
        for y in 0..<6 {
            let row = Array(sheet.pixels[((2 + y) * 22 + 12) * 3 ..< ((2 + y) * 22 + 20) * 3])
            #expect(row == Array(tiles[1].pixels[y * 24 ..< (y + 1) * 24]))
        }
        // Its caption "C" starts two pixels under the tile, one pixel in: row 0 of "C" is 01110.
        #expect(!lit(sheet, 13, 10) && lit(sheet, 14, 10))
        // Tile 2 has no caption: its strip stays background.
        let y0 = 2 + 6 + strip + 2 + 6
        #expect((y0..<(y0 + strip)).allSatisfy { y in (2..<10).allSatisfy { sheet.pixels[(y * 22 + $0) * 3] == 0 } })
    }
}
