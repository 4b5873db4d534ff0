// Captions for contact sheets (voicestyle's own; upstream writes bare images): torchvision-`make_grid`-style
// grids with a caption strip under every tile, in DejaVu Sans (Text.swift), and the 5×7 bitmap font that
// stands in for it where the font is not installed.

/// A 5×7 pixel font: digits, capitals and common punctuation. Lower-case letters are drawn as capitals;
/// any other character as "?". `TextRenderer`'s fallback where DejaVu Sans is missing.
public enum BitmapFont {
    /// Glyph advance in font pixels (5 columns + 1 spacing) and line height (7 rows + 2 spacing).
    public static let advance = 6, lineHeight = 9

    /// Rows top to bottom, bit 4 = leftmost column.
    static let glyphs: [Character: [UInt8]] = {
        let table: [(Character, String)] = [
            (" ", "00000 00000 00000 00000 00000 00000 00000"),
            ("0", "01110 10001 10011 10101 11001 10001 01110"), ("1", "00100 01100 00100 00100 00100 00100 01110"),
            ("2", "01110 10001 00001 00010 00100 01000 11111"), ("3", "11111 00010 00100 00010 00001 10001 01110"),
            ("4", "00010 00110 01010 10010 11111 00010 00010"), ("5", "11111 10000 11110 00001 00001 10001 01110"),
            ("6", "00110 01000 10000 11110 10001 10001 01110"), ("7", "11111 00001 00010 00100 01000 01000 01000"),
            ("8", "01110 10001 10001 01110 10001 10001 01110"), ("9", "01110 10001 10001 01111 00001 00010 01100"),
            ("A", "01110 10001 10001 10001 11111 10001 10001"), ("B", "11110 10001 10001 11110 10001 10001 11110"),
            ("C", "01110 10001 10000 10000 10000 10001 01110"), ("D", "11100 10010 10001 10001 10001 10010 11100"),
            ("E", "11111 10000 10000 11110 10000 10000 11111"), ("F", "11111 10000 10000 11110 10000 10000 10000"),
            ("G", "01110 10001 10000 10111 10001 10001 01111"), ("H", "10001 10001 10001 11111 10001 10001 10001"),
            ("I", "01110 00100 00100 00100 00100 00100 01110"), ("J", "00111 00010 00010 00010 00010 10010 01100"),
            ("K", "10001 10010 10100 11000 10100 10010 10001"), ("L", "10000 10000 10000 10000 10000 10000 11111"),
            ("M", "10001 11011 10101 10101 10001 10001 10001"), ("N", "10001 10001 11001 10101 10011 10001 10001"),
            ("O", "01110 10001 10001 10001 10001 10001 01110"), ("P", "11110 10001 10001 11110 10000 10000 10000"),
            ("Q", "01110 10001 10001 10001 10101 10010 01101"), ("R", "11110 10001 10001 11110 10100 10010 10001"),
            ("S", "01111 10000 10000 01110 00001 00001 11110"), ("T", "11111 00100 00100 00100 00100 00100 00100"),
            ("U", "10001 10001 10001 10001 10001 10001 01110"), ("V", "10001 10001 10001 10001 10001 01010 00100"),
            ("W", "10001 10001 10001 10101 10101 10101 01010"), ("X", "10001 10001 01010 00100 01010 10001 10001"),
            ("Y", "10001 10001 10001 01010 00100 00100 00100"), ("Z", "11111 00001 00010 00100 01000 10000 11111"),
            (".", "00000 00000 00000 00000 00000 01100 01100"), (",", "00000 00000 00000 00000 01100 00100 01000"),
            (":", "00000 01100 01100 00000 01100 01100 00000"), ("-", "00000 00000 00000 11111 00000 00000 00000"),
            ("_", "00000 00000 00000 00000 00000 00000 11111"), ("(", "00010 00100 01000 01000 01000 00100 00010"),
            (")", "01000 00100 00010 00010 00010 00100 01000"), ("/", "00000 00001 00010 00100 01000 10000 00000"),
            ("#", "01010 01010 11111 01010 11111 01010 01010"), ("%", "11000 11001 00010 00100 01000 10011 00011"),
            ("+", "00000 00100 00100 11111 00100 00100 00000"), ("=", "00000 00000 11111 00000 11111 00000 00000"),
            (">", "01000 00100 00010 00001 00010 00100 01000"), ("<", "00010 00100 01000 10000 01000 00100 00010"),
            ("'", "01100 00100 01000 00000 00000 00000 00000"), ("?", "01110 10001 00001 00010 00100 00000 00100"),
            ("!", "00100 00100 00100 00100 00100 00000 00100"), ("*", "00000 00100 10101 01110 10101 00100 00000"),
        ]
        var glyphs: [Character: [UInt8]] = [:]
        for (c, rows) in table { glyphs[c] = rows.split(separator: " ").map { UInt8($0, radix: 2)! } }
        return glyphs
    }()

    /// The glyph rows of `c` (lower case as upper case; unknown characters as "?").
    static func glyph(_ c: Character) -> [UInt8] {
        glyphs[c] ?? glyphs[Character(c.uppercased())] ?? glyphs["?"]!
    }

    /// Width in pixels of `text` at `scale` (no trailing spacing).
    public static func width(of text: String, scale: Int) -> Int { max(0, text.count * advance - 1) * scale }

    /// Draws `text` with its top-left corner at (x, y), clipped to the image and to `maxWidth` pixels
    /// (whole glyphs; a clipped caption ends in "…" drawn as "..").
    public static func draw(_ text: String, into image: inout RGBImage, x: Int, y: Int, scale: Int = 1,
                            color: (UInt8, UInt8, UInt8) = (255, 255, 255), maxWidth: Int? = nil) {
        precondition(scale >= 1, "font scale must be at least 1")
        let limit = maxWidth ?? (image.width - x)
        var chars = Array(text)
        let fits = max(0, (limit / scale + 1) / advance)
        if chars.count > fits { chars = Array(chars.prefix(max(0, fits - 2))) + (fits >= 2 ? [".", "."] : []) }
        for (k, c) in chars.enumerated() {
            let rows = glyph(c), gx = x + k * advance * scale
            for (r, bits) in rows.enumerated() {
                for col in 0..<5 where bits & (16 >> col) != 0 {
                    for dy in 0..<scale {
                        let py = y + r * scale + dy
                        guard py >= 0 && py < image.height else { continue }
                        for dx in 0..<scale {
                            let px = gx + col * scale + dx
                            guard px >= 0 && px < image.width else { continue }
                            let i = (py * image.width + px) * 3
                            image.pixels[i] = color.0; image.pixels[i + 1] = color.1; image.pixels[i + 2] = color.2
                        }
                    }
                }
            }
        }
    }
}

extension ImageTensors {
    /// Caption text size (pixels) for tiles `tileWidth` wide: 11 px per whole 128 px of tile, at least 11.
    public static func captionSize(tileWidth: Int) -> Int { 11 * max(1, tileWidth / 128) }

    /// Height of a caption strip (or title) of `lines` lines for tiles `tileWidth` wide: the lines at the
    /// font's line height, with a margin of max(1, tileWidth / 128) pixels above and below; 0 for no lines.
    public static func captionStripHeight(lines: Int, tileWidth: Int) -> Int {
        lines == 0 ? 0 : lines * TextRenderer.sans.lineHeight(size: captionSize(tileWidth: tileWidth)) + 2 * max(1, tileWidth / 128)
    }

    /// `grid` with a caption strip of `captions[k]` (one string per line) under tile k: tiles of one size,
    /// `padding` pixels of `background` around them, text in white DejaVu Sans (`captionSize`: 11 px on tiles
    /// up to 255 px wide, 22 px from 256) starting one margin (max(1, tile width / 128) px) in and below the tile,
    /// clipped to the tile's width with "…"; strips are `captionStripHeight` high for the longest caption. A
    /// `title` (yellow) takes one line above the tiles, clipped to the grid's width.
    public static func captionedGrid(_ images: [RGBImage], captions: [[String]], columns: Int? = nil, padding: Int = 2,
                                     background: UInt8 = 0, title: String? = nil) -> RGBImage {
        precondition(!images.isEmpty && captions.count == images.count, "\(captions.count) captions for \(images.count) images")
        let w = images[0].width, h = images[0].height
        precondition(images.allSatisfy { $0.width == w && $0.height == h }, "grid images differ in size")
        let font = TextRenderer.sans, size = captionSize(tileWidth: w), margin = max(1, w / 128)
        let lineHeight = font.lineHeight(size: size)
        let strip = captionStripHeight(lines: captions.map(\.count).max() ?? 0, tileWidth: w)
        let cols = max(1, min(columns ?? Int(Double(images.count).squareRoot().rounded(.up)), images.count))
        let rows = (images.count + cols - 1) / cols
        let cellH = h + strip
        let top = title == nil ? 0 : captionStripHeight(lines: 1, tileWidth: w)
        let gw = cols * (w + padding) + padding, gh = top + rows * (cellH + padding) + padding
        var out = RGBImage(width: gw, height: gh, pixels: [UInt8](repeating: background, count: gw * gh * 3))
        if let title {
            font.draw(title, into: &out, x: padding + margin, y: padding + margin, size: size, color: (255, 210, 0), maxWidth: gw - 2 * padding - margin)
        }
        for (k, img) in images.enumerated() {
            let x0 = padding + (k % cols) * (w + padding), y0 = top + padding + (k / cols) * (cellH + padding)
            for y in 0..<h {
                let src = y * w * 3, dst = ((y0 + y) * gw + x0) * 3
                out.pixels.replaceSubrange(dst..<(dst + w * 3), with: img.pixels[src..<(src + w * 3)])
            }
            for (l, line) in captions[k].enumerated() {
                font.draw(line, into: &out, x: x0 + margin, y: y0 + h + margin + l * lineHeight, size: size, maxWidth: w - margin)
            }
        }
        return out
    }
}
