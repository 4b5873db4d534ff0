// Follows Pillow's libImaging/Resample.c (8-bit path: separable filters, fixed-point coefficients with 22
// fractional bits, horizontal pass then vertical pass, uint8 rounding in between), so that resized faces
// match PIL-based upstream preprocessing (torchvision Resize on PIL images, cmpc2's image.resize).
import Foundation
import VoiceStyleEngine

/// Pillow's resampling filters.
public enum ResampleFilter: Sendable {
    case bilinear, bicubic

    var support: Double { self == .bilinear ? 1 : 2 }

    func weight(_ x: Double) -> Double {
        let x = abs(x)
        switch self {
        case .bilinear: return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

extension RGBImage {
    /// Pillow `Image.resize((width, height), filter)` for RGB images.
    public func resized(width ow: Int, height oh: Int, filter: ResampleFilter) -> RGBImage {
        precondition(ow > 0 && oh > 0, "resize to \(ow)×\(oh)")
        var img = self
        if ow != width { img = img.resampledAxis(horizontal: true, to: ow, filter: filter) }
        if oh != height { img = img.resampledAxis(horizontal: false, to: oh, filter: filter) }
        return img
    }

    /// Pillow's precompute_coeffs + normalize_coeffs_8bpc: per output index, the first input index and the
    /// fixed-point weights.
    static func coefficients(inSize: Int, outSize: Int, filter: ResampleFilter) -> [(start: Int, weights: [Int32])] {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let ss = 1 / filterScale
        return (0..<outSize).map { xx in
            let center = (Double(xx) + 0.5) * scale
            let xmin = max(Int(center - support + 0.5), 0)
            let xmax = min(Int(center + support + 0.5), inSize) - xmin
            var k = (0..<max(xmax, 0)).map { filter.weight((Double($0 + xmin) - center + 0.5) * ss) }
            let total = k.reduce(0, +)
            if total != 0 { k = k.map { $0 / total } }
            let fixed = k.map { Int32($0 < 0 ? -0.5 + $0 * Double(1 << 22) : 0.5 + $0 * Double(1 << 22)) }
            return (xmin, fixed)
        }
    }

    private func resampledAxis(horizontal: Bool, to n: Int, filter: ResampleFilter) -> RGBImage {
        let inSize = horizontal ? width : height
        let coeffs = RGBImage.coefficients(inSize: inSize, outSize: n, filter: filter)
        let ow = horizontal ? n : width, oh = horizontal ? height : n
        var out = [UInt8](repeating: 0, count: ow * oh * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<oh {
                    for x in 0..<ow {
                        let (start, k) = coeffs[horizontal ? x : y]
                        for c in 0..<3 {
                            var acc = Int64(1 << 21)
                            for (j, w) in k.enumerated() {
                                let sx = horizontal ? start + j : x, sy = horizontal ? y : start + j
                                acc += Int64(src[(sy * width + sx) * 3 + c]) * Int64(w)
                            }
                            dst[(y * ow + x) * 3 + c] = UInt8(clamping: acc >> 22)
                        }
                    }
                }
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }

    /// A sub-rectangle (torchvision's crop).
    public func cropped(top: Int, left: Int, height h: Int, width w: Int) -> RGBImage {
        precondition(top >= 0 && left >= 0 && top + h <= height && left + w <= width, "crop outside the image")
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            let s = ((top + y) * width + left) * 3
            out.replaceSubrange((y * w * 3)..<((y + 1) * w * 3), with: pixels[s..<(s + w * 3)])
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// The image as a float tensor [3, H, W]: (pixel/255 − mean)/std per channel.
    public func tensor(mean: Float = 0.5, std: Float = 0.5) -> Tensor<Float> {
        let t = Tensor<Float>(uninitializedShape: [3, height, width])
        let p = t.storage.pointer, hw = width * height
        for i in 0..<hw { for c in 0..<3 { p[c * hw + i] = (Float(pixels[i * 3 + c]) / 255 - mean) / std } }
        return t
    }
}

/// The face preprocessing of the upstream pipeline.
public enum FacePreprocessing {
    /// voicestyle's projector transform: Resize(size) (shorter side, PIL bilinear) → CenterCrop(size) →
    /// ToTensor → Normalize(0.5, 0.5). Output [3, size, size] in [-1, 1].
    public static func projector(_ image: RGBImage, size: Int = 256) -> Tensor<Float> {
        let (w, h) = (image.width, image.height)
        let (ow, oh) = w <= h ? (size, Int(Double(size) * Double(h) / Double(w))) : (Int(Double(size) * Double(w) / Double(h)), size)
        let resized = image.resized(width: ow, height: oh, filter: .bilinear)
        let top = Int((Double(oh - size) / 2).rounded()), left = Int((Double(ow - size) / 2).rounded())
        return resized.cropped(top: top, left: left, height: size, width: size).tensor()
    }

    /// cmpc2's `visual_preprocess`: resize to size×size with PIL's default bicubic filter, (x − 127.5)/127.5.
    /// Output [3, size, size] in [-1, 1].
    public static func cmpc(_ image: RGBImage, size: Int = 256) -> Tensor<Float> {
        let r = image.resized(width: size, height: size, filter: .bicubic)
        let t = Tensor<Float>(uninitializedShape: [3, size, size])
        let p = t.storage.pointer, hw = size * size
        for i in 0..<hw { for c in 0..<3 { p[c * hw + i] = (Float(r.pixels[i * 3 + c]) - 127.5) / 127.5 } }
        return t
    }
}
