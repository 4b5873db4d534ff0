// Follows Pillow 13's libImaging/Resample.c (8-bit path: separable filters, fixed-point coefficients with 22
// fractional bits, horizontal pass then vertical pass unless the height shrinks much more, uint8 rounding in
// between), so that resized faces match PIL-based upstream preprocessing (torchvision Resize on PIL images,
// cmpc2's image.resize, pSp's face alignment).
import Foundation
import VoiceStyleEngine

/// Pillow's resampling filters.
public enum ResampleFilter: Sendable {
    case bilinear, bicubic
    /// Pillow's LANCZOS (`ANTIALIAS`): sinc(x)·sinc(x/3) on [-3, 3).
    case lanczos

    var support: Double {
        switch self {
        case .bilinear: 1
        case .bicubic: 2
        case .lanczos: 3
        }
    }

    func weight(_ x: Double) -> Double {
        switch self {
        case .bilinear:
            let x = abs(x)
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let x = abs(x), a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        case .lanczos:
            return -3 <= x && x < 3 ? Self.sinc(x) * Self.sinc(x / 3) : 0
        }
    }

    private static func sinc(_ x: Double) -> Double {
        if x == 0 { return 1 }
        let t = x * Double.pi
        return sin(t) / t
    }
}

extension RGBImage {
    /// Pillow `Image.resize((width, height), filter)` for RGB images. Like Pillow 13's ImagingResampleInner, the
    /// vertical pass runs first when the height loses more than twice as many pixels as the width.
    public func resized(width ow: Int, height oh: Int, filter: ResampleFilter) -> RGBImage {
        precondition(ow > 0 && oh > 0, "resize to \(ow)×\(oh)")
        let verticalFirst = height - oh > 0 && height - oh > (width - ow) * 2
        var img = self
        if verticalFirst { img = img.resampledAxis(horizontal: false, to: oh, filter: filter) }
        if ow != width { img = img.resampledAxis(horizontal: true, to: ow, filter: filter) }
        if !verticalFirst && oh != height { img = img.resampledAxis(horizontal: false, to: oh, filter: filter) }
        return img
    }

    /// Pillow's precompute_coeffs + normalize_coeffs_8bpc: per output index the first input index and the
    /// number of taps, and `ksize` fixed-point weights per output index (zero past its taps).
    static func coefficients(inSize: Int, outSize: Int, filter: ResampleFilter) -> (start: [Int], count: [Int], ksize: Int, weights: [Int32]) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let ss = 1 / filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var start = [Int](repeating: 0, count: outSize), count = start
        var weights = [Int32](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let xmin = max(Int(center - support + 0.5), 0)
            let n = max(min(Int(center + support + 0.5), inSize) - xmin, 0)
            var total = 0.0
            for x in 0..<n {
                k[x] = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                total += k[x]
            }
            for x in 0..<n {
                let w = total != 0 ? k[x] / total : k[x]
                weights[xx * ksize + x] = Int32(w < 0 ? -0.5 + w * Double(1 << 22) : 0.5 + w * Double(1 << 22))
            }
            (start[xx], count[xx]) = (xmin, n)
        }
        return (start, count, ksize, weights)
    }

    /// ImagingResampleHorizontal_8bpc / ImagingResampleVertical_8bpc: int32 sums from 1 << 21, >> 22, clip8.
    private func resampledAxis(horizontal: Bool, to n: Int, filter: ResampleFilter) -> RGBImage {
        let (start, count, ksize, weights) = RGBImage.coefficients(inSize: horizontal ? width : height, outSize: n, filter: filter)
        let ow = horizontal ? n : width, oh = horizontal ? height : n
        let rowIn = width * 3, rowOut = ow * 3
        var out = [UInt8](repeating: 0, count: ow * oh * 3)
        @inline(__always) func clip8(_ v: Int32) -> UInt8 { UInt8(clamping: v >> 22) }
        pixels.withUnsafeBufferPointer { srcBuffer in
            out.withUnsafeMutableBufferPointer { dstBuffer in
                weights.withUnsafeBufferPointer { kk in
                    let src = srcBuffer.baseAddress!, dst = dstBuffer.baseAddress!, kk = kk.baseAddress!
                    if horizontal {
                        Parallel.forChunks(oh, costPerItem: ow * ksize * 3) { rows in
                            for y in rows {
                                for x in 0..<ow {
                                    let k = kk + x * ksize
                                    var p = src + y * rowIn + start[x] * 3
                                    var r: Int32 = 1 << 21, g = r, b = r
                                    for j in 0..<count[x] {
                                        r &+= Int32(p[0]) &* k[j]; g &+= Int32(p[1]) &* k[j]; b &+= Int32(p[2]) &* k[j]
                                        p += 3
                                    }
                                    let d = dst + y * rowOut + x * 3
                                    d[0] = clip8(r); d[1] = clip8(g); d[2] = clip8(b)
                                }
                            }
                        }
                    } else {
                        Parallel.forChunks(oh, costPerItem: rowOut * ksize) { rows in
                            let acc = UnsafeMutablePointer<Int32>.allocate(capacity: rowOut)
                            defer { acc.deallocate() }
                            for y in rows {
                                let k = kk + y * ksize, first = src + start[y] * rowIn
                                for i in 0..<rowOut { acc[i] = 1 << 21 }
                                for j in 0..<count[y] {
                                    let row = first + j * rowIn, w = k[j]
                                    for i in 0..<rowOut { acc[i] &+= Int32(row[i]) &* w }
                                }
                                for i in 0..<rowOut { dst[y * rowOut + i] = clip8(acc[i]) }
                            }
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
