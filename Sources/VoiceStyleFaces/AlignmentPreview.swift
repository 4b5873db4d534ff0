// What alignment saw, drawn on the photo (no upstream counterpart): detection rectangles, the 68 landmarks and
// the quad that becomes the aligned image.
import Foundation
import VoiceStyleImaging

public enum AlignmentPreview {
    /// The photo with every detection's rectangle (chosen ones green, others grey), the chosen faces'
    /// landmarks (red) and their FFHQ quads (yellow). Lines are about 1/250 of the photo's shorter side.
    public static func draw(_ photo: RGBImage, _ alignment: PhotoAlignment, quads: [[[Double]]]) -> RGBImage {
        var canvas = Canvas(image: photo)
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
        let left = marked.resized(width: max(1, Int((Double(height) * Double(photo.width) / Double(photo.height)).rounded())), height: height, filter: .bicubic)
        guard let face = alignment.faces.first else { return left }
        let right = face.image.resized(width: height, height: height, filter: .bicubic)
        // Pad both to one size for the grid.
        let w = max(left.width, right.width)
        return ImageTensors.captionedGrid([left.padded(toWidth: w), right.padded(toWidth: w)],
                                          captions: [["photo, landmarks, quad"], ["aligned \(face.image.width) px"]], columns: 2, padding: 4, background: 255)
    }
}

extension RGBImage {
    /// The image centred on a white canvas `width` wide (same height).
    func padded(toWidth w: Int) -> RGBImage {
        guard w > width else { return self }
        var out = RGBImage(width: w, height: height, pixels: [UInt8](repeating: 255, count: w * height * 3))
        let x0 = (w - width) / 2
        for y in 0..<height {
            out.pixels.replaceSubrange(((y * w + x0) * 3)..<((y * w + x0 + width) * 3), with: pixels[(y * width * 3)..<((y + 1) * width * 3)])
        }
        return out
    }
}

/// Thick lines and dots on an RGB image, clipped to it.
private struct Canvas {
    var image: RGBImage
    let radius: Int

    init(image: RGBImage) {
        self.image = image
        radius = max(1, min(image.width, image.height) / 250)
    }

    mutating func dot(_ x: Double, _ y: Double, _ colour: [UInt8], radius r: Int? = nil) {
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
        let n = Int(max(abs(b[0] - a[0]), abs(b[1] - a[1])).rounded(.up)) + 1
        guard n < 1_000_000 else { return }
        for k in 0...n {
            let t = Double(k) / Double(n)
            dot(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, colour, radius: max(0, radius / 2))
        }
    }

    mutating func polygon(_ points: [[Double]], _ colour: [UInt8]) {
        for (i, p) in points.enumerated() { line(p, points[(i + 1) % points.count], colour) }
    }
}
