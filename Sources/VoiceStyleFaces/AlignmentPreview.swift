// What alignment saw, drawn on the photo (no upstream counterpart): detection rectangles, the 68 landmarks and
// the quad that becomes the aligned image.
import Foundation
import VoiceStyleImaging

public enum AlignmentPreview {
    /// The photo with every detection's rectangle (chosen ones green, others grey), the chosen faces'
    /// landmarks (red) and their FFHQ quads (yellow), on a grey canvas wide enough for quads that leave the
    /// photo (by at most half the photo's size on each side; the padded part of the aligned image).
    public static func draw(_ photo: RGBImage, _ alignment: PhotoAlignment, quads: [[[Double]]]) -> RGBImage {
        let (w, h) = (Double(photo.width), Double(photo.height))
        let xs = quads.joined().map { $0[0] }.filter(\.isFinite), ys = quads.joined().map { $0[1] }.filter(\.isFinite)
        let left = Int(max(0, min(w / 2, -(xs.min() ?? 0))).rounded(.up)), top = Int(max(0, min(h / 2, -(ys.min() ?? 0))).rounded(.up))
        let right = Int(max(0, min(w / 2, (xs.max() ?? 0) - w)).rounded(.up)), bottom = Int(max(0, min(h / 2, (ys.max() ?? 0) - h)).rounded(.up))
        var canvas = Canvas(image: photo.placed(left: left, top: top, right: right, bottom: bottom, background: 96))
        canvas.offset = (Double(left), Double(top))
        let chosen = Set(alignment.faces.map(\.detection))
        for (i, d) in alignment.detections.enumerated() {
            let (l, t, r, b) = (Double(d.rect[0]), Double(d.rect[1]), Double(d.rect[2]), Double(d.rect[3]))
            let colour: [UInt8] = chosen.contains(i) ? [0, 220, 0] : [160, 160, 160]
            canvas.polygon([[l, t], [r, t], [r, b], [l, b]], colour)
            if chosen.contains(i) { for p in d.landmarks { canvas.dot(Double(p[0]), Double(p[1]), [255, 40, 40]) } }
        }
        for q in quads { canvas.polygon(q, [255, 220, 0]) }
        return canvas.image
    }

    /// The photo as drawn by `draw` beside its first aligned face, both `height` pixels high, captioned.
    public static func beforeAfter(_ photo: RGBImage, _ alignment: PhotoAlignment, quads: [[[Double]]], height: Int = 256) -> RGBImage {
        let marked = draw(photo, alignment, quads: quads)
        let scaledWidth = max(1, Int((Double(height) * Double(marked.width) / Double(marked.height)).rounded()))
        let left = marked.resized(width: scaledWidth, height: height, filter: .bicubic)
        let right = alignment.faces.first.map { $0.image.resized(width: height, height: height, filter: .bicubic) }
            ?? RGBImage(width: height, height: height, pixels: [UInt8](repeating: 96, count: height * height * 3))
        // Both tiles one size for the grid.
        let w = max(left.width, right.width)
        func widened(_ i: RGBImage) -> RGBImage { i.placed(left: (w - i.width) / 2, top: 0, right: w - i.width - (w - i.width) / 2, bottom: 0, background: 32) }
        let found = alignment.detections.count == 1 ? "1 face" : "\(alignment.detections.count) faces"
        return ImageTensors.captionedGrid([widened(left), widened(right)],
                                          captions: [["\(found) found", alignment.faces.isEmpty ? "" : "landmarks, quad"],
                                                     [alignment.faces.first.map { "aligned \($0.image.width) px" } ?? "nothing aligned", ""]],
                                          columns: 2, padding: 4, background: 32)
    }
}

extension RGBImage {
    /// The image on a `background` canvas with the given margins.
    func placed(left: Int, top: Int, right: Int, bottom: Int, background: UInt8) -> RGBImage {
        guard left > 0 || top > 0 || right > 0 || bottom > 0 else { return self }
        let w = width + left + right, h = height + top + bottom
        var out = RGBImage(width: w, height: h, pixels: [UInt8](repeating: background, count: w * h * 3))
        for y in 0..<height {
            out.pixels.replaceSubrange((((y + top) * w + left) * 3)..<(((y + top) * w + left + width) * 3), with: pixels[(y * width * 3)..<((y + 1) * width * 3)])
        }
        return out
    }
}

/// Thick lines and dots on an RGB image, clipped to it.
private struct Canvas {
    var image: RGBImage
    let radius: Int
    /// Added to every coordinate (the photo's place on the canvas).
    var offset = (0.0, 0.0)

    init(image: RGBImage) {
        self.image = image
        radius = max(1, min(image.width, image.height) / 250)
    }

    mutating func dot(_ x: Double, _ y: Double, _ colour: [UInt8], radius r: Int? = nil) {
        let x = x + offset.0, y = y + offset.1
        guard x.isFinite, y.isFinite, abs(x) < 1e7, abs(y) < 1e7 else { return }
        let r = r ?? radius
        let cx = Int(x.rounded()), cy = Int(y.rounded())
        for yy in (cy - r)...(cy + r) where yy >= 0 && yy < image.height {
            for xx in (cx - r)...(cx + r) where xx >= 0 && xx < image.width {
                let i = (yy * image.width + xx) * 3
                image.pixels[i] = colour[0]; image.pixels[i + 1] = colour[1]; image.pixels[i + 2] = colour[2]
            }
        }
    }

    mutating func line(_ a: [Double], _ b: [Double], _ colour: [UInt8]) {
        let length = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
        guard length.isFinite, length < 1_000_000 else { return }
        let n = Int(length.rounded(.up)) + 1
        for k in 0...n {
            let t = Double(k) / Double(n)
            dot(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, colour, radius: max(0, radius / 2))
        }
    }

    mutating func polygon(_ points: [[Double]], _ colour: [UInt8]) {
        for (i, p) in points.enumerated() { line(p, points[(i + 1) % points.count], colour) }
    }
}
