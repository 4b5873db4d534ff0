// Text in PNGs with FreeType 2 (the FreeType 2 tutorial's rendering: FT_Load_Char with FT_LOAD_RENDER, 8-bit
// coverage blended over the image); no upstream counterpart. DejaVu Sans from Debian's fonts-dejavu-core.
import CFreeType
import Foundation

/// Why a font could not be loaded.
public enum FontError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, code: Int32)

    public var description: String {
        switch self {
        case let .unreadable(file, code):
            "cannot load the font \(file) (FreeType error \(code)); install it (Debian: fonts-dejavu-core)"
        }
    }
}

/// Anti-aliased text drawn into RGB images: one font face at any pixel size. Positions are the top-left corner
/// of the line box (the baseline is `ascent` below it); widths are the sum of the advances. Thread-safe: every
/// FreeType call holds the renderer's lock. Without its font file, a shared renderer (`sans`, `sansBold`)
/// falls back to `BitmapFont` (5×7, capitals only, at scale max(1, size / 9)) with a one-time note on stderr.
public final class TextRenderer: @unchecked Sendable {
    public static let dejaVuSans = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    public static let dejaVuSansBold = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

    /// DejaVu Sans, or the bitmap font where it is not installed.
    public static let sans = TextRenderer(orBitmap: dejaVuSans)
    /// DejaVu Sans Bold, or the bitmap font where it is not installed.
    public static let sansBold = TextRenderer(orBitmap: dejaVuSansBold)

    private let library: FT_Library?
    private let face: FT_Face?
    private let lock = NSLock()
    /// True when drawing with FreeType; false for the bitmap-font fallback.
    public var isFreeType: Bool { face != nil }

    /// Loads a font file (TrueType, OpenType, …); throws when it cannot.
    public convenience init(fontFile: String) throws {
        let (library, face) = try Self.load(fontFile)
        self.init(library: library, face: face)
    }

    private convenience init(orBitmap fontFile: String) {
        if let loaded = try? Self.load(fontFile) {
            self.init(library: loaded.0, face: loaded.1)
        } else {
            FileHandle.standardError.write(Data("note: \(fontFile) cannot be loaded; text is drawn with the 5×7 bitmap font (install fonts-dejavu-core)\n".utf8))
            self.init(library: nil, face: nil)
        }
    }

    private init(library: FT_Library?, face: FT_Face?) { (self.library, self.face) = (library, face) }

    private static func load(_ fontFile: String) throws -> (FT_Library, FT_Face) {
        var library: FT_Library?, face: FT_Face?
        var error = FT_Init_FreeType(&library)
        if error == 0 { error = FT_New_Face(library, fontFile, 0, &face) }
        guard error == 0, let library, let face else {
            if let library { FT_Done_FreeType(library) }
            throw FontError.unreadable(file: fontFile, code: error)
        }
        return (library, face)
    }

    deinit {
        if let face { FT_Done_Face(face) }
        if let library { FT_Done_FreeType(library) }
    }

    private func bitmapScale(_ size: Int) -> Int { max(1, size / 9) }

    /// Runs `body` with the face set to `size` pixels, under the lock; nil on the bitmap fallback.
    private func sized<T>(_ size: Int, _ body: (FT_Face) -> T) -> T? {
        guard let face else { return nil }
        lock.lock()
        defer { lock.unlock() }
        FT_Set_Pixel_Sizes(face, 0, FT_UInt(max(1, size)))
        return body(face)
    }

    /// Pixels from the top of the line box to the baseline at `size`.
    public func ascent(size: Int) -> Int {
        sized(size) { Int(($0.pointee.size.pointee.metrics.ascender + 63) >> 6) } ?? 7 * bitmapScale(size)
    }

    /// Baseline-to-baseline distance at `size`.
    public func lineHeight(size: Int) -> Int {
        sized(size) { Int(($0.pointee.size.pointee.metrics.height + 63) >> 6) } ?? BitmapFont.lineHeight * bitmapScale(size)
    }

    /// Width in pixels of `text` at `size` (the sum of its advances, with kerning).
    public func width(of text: String, size: Int) -> Int {
        sized(size) { Self.penPositions(Array(text.unicodeScalars), $0).last ?? 0 }
            ?? BitmapFont.width(of: text, scale: bitmapScale(size))
    }

    /// The pen position (pixels) before each scalar, and after the last; the lock is held.
    private static func penPositions(_ scalars: [Unicode.Scalar], _ face: FT_Face) -> [Int] {
        var positions = [0], pen = 0, previous: FT_UInt = 0
        let kerning = face.pointee.face_flags & FT_Long(FT_FACE_FLAG_KERNING) != 0
        positions.reserveCapacity(scalars.count + 1)
        for s in scalars {
            let glyph = FT_Get_Char_Index(face, FT_ULong(s.value))
            if kerning && previous != 0 && glyph != 0 {
                var delta = FT_Vector()
                FT_Get_Kerning(face, previous, glyph, FT_UInt(FT_KERNING_DEFAULT.rawValue), &delta)
                pen += Int(delta.x)
            }
            if FT_Load_Glyph(face, glyph, FT_Int32(FT_LOAD_DEFAULT)) == 0 { pen += Int(face.pointee.glyph.pointee.advance.x) }
            positions.append((pen + 32) >> 6)
            previous = glyph
        }
        return positions
    }

    /// `text`, or its longest prefix followed by "…" that is at most `maxWidth` pixels wide ("" if not even "…" fits).
    public func clipped(_ text: String, size: Int, maxWidth: Int) -> String {
        if width(of: text, size: size) <= maxWidth { return text }
        let characters = Array(text)
        func candidate(_ n: Int) -> String {
            var prefix = String(characters.prefix(n))
            while prefix.last == " " { prefix.removeLast() }
            return prefix + "…"
        }
        // Binary search for the longest prefix that fits (widths grow with the prefix).
        var lo = -1, hi = characters.count  // candidate(lo) fits (lo = -1: nothing), candidate(hi) does not
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if width(of: candidate(mid), size: size) <= maxWidth { lo = mid } else { hi = mid }
        }
        return lo < 0 ? "" : candidate(lo)
    }

    /// Draws `text` at `size` pixels with its line box's top-left corner at (x, y), blended in `color` by
    /// FreeType's 8-bit coverage, clipped to the image and to the box [x, x + maxWidth) (default: the image's
    /// right edge); text wider than that ends in "…". Returns the width drawn.
    @discardableResult
    public func draw(_ text: String, into image: inout RGBImage, x: Int, y: Int, size: Int,
                     color: (UInt8, UInt8, UInt8) = (255, 255, 255), maxWidth: Int? = nil) -> Int {
        let limit = max(0, maxWidth ?? (image.width - x))
        guard face != nil else {  // the bitmap font clips by itself (whole glyphs, "..")
            BitmapFont.draw(text, into: &image, x: x, y: y, scale: bitmapScale(size), color: color, maxWidth: limit)
            return min(limit, BitmapFont.width(of: text, scale: bitmapScale(size)))
        }
        let shown = clipped(text, size: size, maxWidth: limit)
        let (w, h) = (image.width, image.height)
        let clipLeft = max(0, x), clipRight = min(w, x + limit)
        return image.pixels.withUnsafeMutableBufferPointer { out in
            sized(size) { face -> Int in
                let scalars = Array(shown.unicodeScalars)
                let pen = Self.penPositions(scalars, face)
                let baseline = y + Int((face.pointee.size.pointee.metrics.ascender + 63) >> 6)
                for (k, s) in scalars.enumerated() {
                    guard FT_Load_Char(face, FT_ULong(s.value), FT_Int32(FT_LOAD_RENDER)) == 0 else { continue }
                    let slot = face.pointee.glyph.pointee, bitmap = slot.bitmap
                    guard bitmap.pixel_mode == UInt8(FT_PIXEL_MODE_GRAY.rawValue), let buffer = bitmap.buffer else { continue }
                    let gx = x + pen[k] + Int(slot.bitmap_left), gy = baseline - Int(slot.bitmap_top)
                    let x0 = max(clipLeft, gx), x1 = min(clipRight, gx + Int(bitmap.width))
                    guard x0 < x1 else { continue }
                    for r in max(0, -gy)..<max(0, min(Int(bitmap.rows), h - gy)) {
                        let src = buffer + r * Int(bitmap.pitch) - gx, row = (gy + r) * w
                        for px in x0..<x1 {
                            let a = Int(src[px])
                            guard a > 0 else { continue }
                            let i = (row + px) * 3
                            out[i] = blend(out[i], color.0, a)
                            out[i + 1] = blend(out[i + 1], color.1, a)
                            out[i + 2] = blend(out[i + 2], color.2, a)
                        }
                    }
                }
                return pen.last ?? 0
            } ?? 0
        }
    }
}

/// `background` covered by `color` at coverage `alpha` (0…255), rounded.
@inline(__always) func blend(_ background: UInt8, _ color: UInt8, _ alpha: Int) -> UInt8 {
    UInt8((Int(color) * alpha + Int(background) * (255 - alpha) + 127) / 255)
}
