// Follows eladrich/pixel2style2pixel scripts/align_all_parallel.py `align_face` (the NVlabs ffhq-dataset
// `recreate_aligned_images` recipe) with the arithmetic of Pillow 13 (Resample.c, Geometry.c `quad_transform` +
// `bilinear_filter32RGB`), NumPy 2.4 (`np.pad` reflect, `np.median`) and SciPy 1.17 (`gaussian_filter`).
import Foundation
import VoiceStyleEngine
import VoiceStyleImaging

/// FFHQ alignment sizes: pSp's (output 256 from a 256 transform, the default) and the original FFHQ dataset's
/// (output 1024 from a 4096 transform).
public struct AlignmentSettings: Codable, Sendable, Equatable {
    /// Side of the aligned image (pSp `output_size`).
    public var outputSize: Int
    /// Side of the quad transform before the final Lanczos resize (pSp `transform_size`).
    public var transformSize: Int
    /// Reflect padding with blur and median blending where the quad leaves the photo (pSp `enable_padding`).
    public var enablePadding: Bool

    public init(outputSize: Int = 256, transformSize: Int = 256, enablePadding: Bool = true) {
        self.outputSize = outputSize
        self.transformSize = transformSize
        self.enablePadding = enablePadding
    }

    /// pSp / e4e / PTI: 256 from 256.
    public static let psp = AlignmentSettings()
    /// The FFHQ dataset: 1024 from 4096.
    public static let ffhq = AlignmentSettings(outputSize: 1024, transformSize: 4096)
}

/// The intermediate values of `align_face`, as `reference.json` stores them (pixel coordinates of the photo
/// as the stage sees it).
public struct AlignmentSteps: Codable, Sendable, Equatable {
    /// The oriented quad on the photo: 4 × [x, y] (NW, SW, SE, NE).
    public var quad0: [[Double]]
    /// Its side length.
    public var qsize0: Double
    /// `floor(qsize / output_size · 0.5)`; the photo is shrunk only when > 1.
    public var shrink: Int
    /// [left, top, right, bottom] when the photo was cropped, else nil.
    public var crop: [Int]?
    /// [left, top, right, bottom] reflect padding when applied, else nil.
    public var pad: [Int]?
    /// The quad handed to the transform (before `+ 0.5`).
    public var quad: [[Double]]
    /// `max(rint(qsize · 0.1), 3)`.
    public var border: Int

    public init(quad0: [[Double]], qsize0: Double, shrink: Int, crop: [Int]?, pad: [Int]?, quad: [[Double]], border: Int) {
        (self.quad0, self.qsize0, self.shrink, self.crop, self.pad, self.quad, self.border) = (quad0, qsize0, shrink, crop, pad, quad, border)
    }
}

/// Why a face could not be aligned.
public enum AlignmentError: Error, CustomStringConvertible, Equatable {
    case landmarks(String)
    case settings(AlignmentSettings)
    case emptyImage
    case noFace
    case faceOutsideImage
    case tooLarge(width: Int, height: Int)

    public var description: String {
        switch self {
        case let .landmarks(why): "The landmarks are unusable: \(why)."
        case let .settings(s): "The alignment settings (output \(s.outputSize), transform \(s.transformSize)) need positive sizes and a transform of at most \(maxImagePixels) pixels."
        case .emptyImage: "The image to align has no pixels."
        case .noFace: "The landmarks describe no face (eyes and mouth coincide)."
        case .faceOutsideImage: "The landmarks put the face outside the image."
        case let .tooLarge(w, h): "The padded image would be \(w)×\(h) pixels, over the limit of \(maxImagePixels)."
        }
    }
}

public enum FFHQAlignment {
    /// The aligned face of `image` given dlib's 68 landmarks (68 × [x, y]): `align_face` stage by stage.
    public static func align(_ image: RGBImage, landmarks: [[Int]], settings: AlignmentSettings = .psp) throws -> (image: RGBImage, steps: AlignmentSteps) {
        let s = try steps(landmarks: landmarks, width: image.width, height: image.height, settings: settings)
        var img = image
        if s.shrink > 1 {  // `img = img.resize(rsize, PIL.Image.ANTIALIAS)`
            let (w, h) = shrunkSize(image.width, image.height, s.shrink)
            img = img.resized(width: w, height: h, filter: .lanczos)
        }
        if let c = s.crop { img = img.cropped(top: c[1], left: c[0], height: c[3] - c[1], width: c[2] - c[0]) }
        if let p = s.pad { img = padded(img, pad: p, qsize: s.shrink > 1 ? s.qsize0 / Double(s.shrink) : s.qsize0) }
        img = quadTransform(img, quad: s.quad, size: settings.transformSize)
        if settings.outputSize < settings.transformSize {
            img = img.resized(width: settings.outputSize, height: settings.outputSize, filter: .lanczos)
        }
        return (img, s)
    }

    /// The geometry of `align_face` for a `width`×`height` photo, without touching pixels.
    public static func steps(landmarks: [[Int]], width: Int, height: Int, settings: AlignmentSettings = .psp) throws -> AlignmentSteps {
        guard landmarks.count == 68 else { throw AlignmentError.landmarks("68 points are needed, not \(landmarks.count)") }
        if let i = landmarks.firstIndex(where: { $0.count != 2 || $0.contains { abs($0) > 1 << 30 } }) {
            throw AlignmentError.landmarks("point \(i) is not an [x, y] pair within ±2^30")
        }
        let o = settings.outputSize, t = settings.transformSize
        guard o > 0, t > 0, t <= maxImagePixels / t else { throw AlignmentError.settings(settings) }
        guard width > 0, height > 0 else { throw AlignmentError.emptyImage }
        let lm = landmarks.map { SIMD2(Double($0[0]), Double($0[1])) }
        func hypot(_ v: SIMD2<Double>) -> Double { Foundation.hypot(v.x, v.y) }
        func mean(_ r: Range<Int>) -> SIMD2<Double> { r.reduce(SIMD2<Double>.zero) { $0 + lm[$1] } / Double(r.count) }

        // Calculate auxiliary vectors (eyes 36–41 / 42–47, mouth corners 48 / 54).
        let eyeLeft = mean(36..<42), eyeRight = mean(42..<48)
        let eyeAvg = (eyeLeft + eyeRight) * 0.5, eyeToEye = eyeRight - eyeLeft
        let mouthAvg = (lm[48] + lm[54]) * 0.5, eyeToMouth = mouthAvg - eyeAvg
        // Choose oriented crop rectangle: `x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]` …
        var x = eyeToEye - SIMD2(-eyeToMouth.y, eyeToMouth.x)
        let norm = hypot(x)
        guard norm > 0 else { throw AlignmentError.noFace }
        x /= norm
        x *= max(hypot(eyeToEye) * 2.0, hypot(eyeToMouth) * 1.8)
        let y = SIMD2(-x.y, x.x), c = eyeAvg + eyeToMouth * 0.1
        var quad = [c - x - y, c - x + y, c + x + y, c + x - y]
        var qsize = hypot(x) * 2
        let quad0 = quad.map { [$0.x, $0.y] }, qsize0 = qsize

        // Shrink: `shrink = int(np.floor(qsize / output_size * 0.5))`.
        let shrink = Int((qsize / Double(o) * 0.5).rounded(.down))
        var (w, h) = (width, height)
        if shrink > 1 {
            (w, h) = shrunkSize(width, height, shrink)
            guard w > 0, h > 0 else { throw AlignmentError.faceOutsideImage }
            quad = quad.map { $0 / Double(shrink) }
            qsize /= Double(shrink)
        }
        // Crop: the quad's bounding box plus `border`, within the photo.
        let border = max(Int(rint(qsize * 0.1)), 3)
        func bounds() -> (Int, Int, Int, Int) {
            (Int(quad.map(\.x).min()!.rounded(.down)), Int(quad.map(\.y).min()!.rounded(.down)),
             Int(quad.map(\.x).max()!.rounded(.up)), Int(quad.map(\.y).max()!.rounded(.up)))
        }
        var b = bounds()
        let crop = [max(b.0 - border, 0), max(b.1 - border, 0), min(b.2 + border, w), min(b.3 + border, h)]
        guard crop[2] > crop[0], crop[3] > crop[1] else { throw AlignmentError.faceOutsideImage }
        var cropped: [Int]?
        if crop[2] - crop[0] < w || crop[3] - crop[1] < h {
            cropped = crop
            quad = quad.map { $0 - SIMD2(Double(crop[0]), Double(crop[1])) }
            (w, h) = (crop[2] - crop[0], crop[3] - crop[1])
        }
        // Pad: where the quad plus `border` leaves the (cropped) photo, at least `rint(qsize * 0.3)` each side.
        b = bounds()
        var pad = [max(-b.0 + border, 0), max(-b.1 + border, 0), max(b.2 - w + border, 0), max(b.3 - h + border, 0)]
        var padding: [Int]?
        if settings.enablePadding && pad.max()! > border - 4 {
            pad = pad.map { max($0, Int(rint(qsize * 0.3))) }
            let (pw, ph) = (w + pad[0] + pad[2], h + pad[1] + pad[3])
            guard pw <= maxImagePixels / ph else { throw AlignmentError.tooLarge(width: pw, height: ph) }
            padding = pad
            quad = quad.map { $0 + SIMD2(Double(pad[0]), Double(pad[1])) }
        }
        return AlignmentSteps(quad0: quad0, qsize0: qsize0, shrink: shrink, crop: cropped, pad: padding,
                              quad: quad.map { [$0.x, $0.y] }, border: border)
    }

    /// `rsize = (int(np.rint(float(img.size[0]) / shrink)), int(np.rint(float(img.size[1]) / shrink)))`.
    static func shrunkSize(_ w: Int, _ h: Int, _ shrink: Int) -> (Int, Int) {
        (Int(rint(Double(w) / Double(shrink))), Int(rint(Double(h) / Double(shrink))))
    }

    /// The `if enable_padding` block: `np.pad(np.float32(img), …, 'reflect')`, the float64 edge mask,
    /// `gaussian_filter(img, [blur, blur, 0])` blended by `clip(mask·3 + 1, 0, 1)`, the per-channel median
    /// blended by `clip(mask, 0, 1)`, then `np.uint8(np.clip(np.rint(img), 0, 255))`.
    static func padded(_ image: RGBImage, pad: [Int], qsize: Double) -> RGBImage {
        let (w0, h0) = (image.width, image.height)
        let (w, h) = (w0 + pad[0] + pad[2], h0 + pad[1] + pad[3])
        // NumPy 'reflect' (no edge repeat; larger pads reflect again: period 2(n − 1)).
        func reflect(_ i: Int, _ n: Int) -> Int {
            if n == 1 { return 0 }
            let m = ((i % (2 * n - 2)) + 2 * n - 2) % (2 * n - 2)
            return m < n ? m : 2 * n - 2 - m
        }
        var img = [Float](repeating: 0, count: w * h * 3)
        let xs = (0..<w).map { reflect($0 - pad[0], w0) }
        img.withUnsafeMutableBufferPointer { dst in
            image.pixels.withUnsafeBufferPointer { src in
                for y in 0..<h {
                    let row = reflect(y - pad[1], h0) * w0
                    for x in 0..<w {
                        for c in 0..<3 { dst[(y * w + x) * 3 + c] = Float(src[(row + xs[x]) * 3 + c]) }
                    }
                }
            }
        }
        // `mask = np.maximum(1.0 - np.minimum(np.float32(x) / pad[0], …), 1.0 - np.minimum(np.float32(y) / pad[1], …))`:
        // float32 coordinates over np.int64 pads give float64 (NumPy 2). NaN propagates as in np.minimum/np.maximum.
        func npMin(_ a: Double, _ b: Double) -> Double { a.isNaN || b.isNaN ? .nan : min(a, b) }
        func npMax(_ a: Double, _ b: Double) -> Double { a.isNaN || b.isNaN ? .nan : max(a, b) }
        func npClip(_ a: Double) -> Double { a.isNaN ? a : min(max(a, 0), 1) }
        let mx = (0..<w).map { 1.0 - npMin(Double(Float($0)) / Double(pad[0]), Double(Float(w - 1 - $0)) / Double(pad[2])) }
        let my = (0..<h).map { 1.0 - npMin(Double(Float($0)) / Double(pad[1]), Double(Float(h - 1 - $0)) / Double(pad[3])) }
        let blurred = gaussianFilter(img, width: w, height: h, sigma: qsize * 0.02)
        img.withUnsafeMutableBufferPointer { v in
            blurred.withUnsafeBufferPointer { g in
                // `img += (gaussian_filter(img, [blur, blur, 0]) - img) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)`
                for y in 0..<h {
                    for x in 0..<w {
                        let m = npClip(npMax(mx[x], my[y]) * 3.0 + 1.0), i = (y * w + x) * 3
                        for j in i..<(i + 3) { v[j] = Float(Double(v[j]) + Double(g[j] - v[j]) * m) }
                    }
                }
            }
            // `img += (np.median(img, axis=(0, 1)) - img) * np.clip(mask, 0.0, 1.0)`
            let median = (0..<3).map { channelMedian(UnsafeBufferPointer(v), channel: $0) }
            for y in 0..<h {
                for x in 0..<w {
                    let m = npClip(npMax(mx[x], my[y])), i = (y * w + x) * 3
                    for c in 0..<3 { v[i + c] = Float(Double(v[i + c]) + Double(median[c] - v[i + c]) * m) }
                }
            }
        }
        let pixels = img.map { (v: Float) -> UInt8 in
            let r = v.rounded(.toNearestOrEven)
            return r.isNaN ? 0 : UInt8(min(max(r, 0), 255))
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    /// `scipy.ndimage.gaussian_filter(img, [sigma, sigma, 0])` on float32 H×W×3 (mode 'reflect', truncate 4):
    /// `gaussian_filter1d` along axis 0 then axis 1, each `correlate1d` pass summed in double (the symmetric path
    /// of NI_Correlate1D: `x[i]·w[0]`, then the pairs `(x[i−k] + x[i+k])·w[k]` from k = r down to 1) and
    /// stored as float32.
    static func gaussianFilter(_ input: [Float], width w: Int, height h: Int, sigma: Double) -> [Float] {
        guard sigma > 1e-15 else { return input }
        // `_gaussian_kernel1d`: radius int(4σ + 0.5), exp(-0.5 / σ² · x²) over its NumPy (pairwise) sum.
        let r = Int(4.0 * sigma + 0.5)
        let phi = (-r...r).map { exp(-0.5 / (sigma * sigma) * Double($0 * $0)) }
        let total = pairwiseSum(phi[...])
        let k = phi[r...].map { $0 / total }
        // scipy 'reflect': half-sample symmetric, period 2n.
        func reflect(_ i: Int, _ n: Int) -> Int {
            let m = ((i % (2 * n)) + 2 * n) % (2 * n)
            return m < n ? m : 2 * n - 1 - m
        }
        let row = w * 3
        var pass1 = [Float](repeating: 0, count: input.count), out = pass1
        input.withUnsafeBufferPointer { src in
            pass1.withUnsafeMutableBufferPointer { mid in
                // Axis 0: whole rows at once.
                Parallel.forChunks(h, costPerItem: row * r) { rows in
                    let acc = UnsafeMutablePointer<Double>.allocate(capacity: row)
                    defer { acc.deallocate() }
                    for y in rows {
                        let centre = src.baseAddress! + y * row
                        for i in 0..<row { acc[i] = Double(centre[i]) * k[0] }
                        for j in stride(from: r, through: 1, by: -1) {
                            let a = src.baseAddress! + reflect(y - j, h) * row, b = src.baseAddress! + reflect(y + j, h) * row
                            for i in 0..<row { acc[i] += (Double(a[i]) + Double(b[i])) * k[j] }
                        }
                        for i in 0..<row { mid[y * row + i] = Float(acc[i]) }
                    }
                }
            }
        }
        pass1.withUnsafeBufferPointer { mid in
            out.withUnsafeMutableBufferPointer { dst in
                // Axis 1: each row extended by r reflected pixels on both sides.
                Parallel.forChunks(h, costPerItem: row * r) { rows in
                    let acc = UnsafeMutablePointer<Double>.allocate(capacity: row)
                    let line = UnsafeMutablePointer<Double>.allocate(capacity: (w + 2 * r) * 3)
                    defer { acc.deallocate(); line.deallocate() }
                    for y in rows {
                        for x in 0..<(w + 2 * r) {
                            let s = (y * w + reflect(x - r, w)) * 3
                            for c in 0..<3 { line[x * 3 + c] = Double(mid[s + c]) }
                        }
                        let centre = line + r * 3
                        for i in 0..<row { acc[i] = centre[i] * k[0] }
                        for j in stride(from: r, through: 1, by: -1) {
                            let a = centre - j * 3, b = centre + j * 3
                            for i in 0..<row { acc[i] += (a[i] + b[i]) * k[j] }
                        }
                        for i in 0..<row { dst[y * row + i] = Float(acc[i]) }
                    }
                }
            }
        }
        return out
    }

    /// NumPy's pairwise summation (`pairwise_sum` in loops_utils.h.src: blocks of ≤ 128 with 8 accumulators).
    static func pairwiseSum(_ a: ArraySlice<Double>) -> Double {
        let n = a.count, s = a.startIndex
        if n < 8 { return a.reduce(-0.0, +) }
        if n <= 128 {
            var r = Array(a[s..<(s + 8)]), i = 8
            while i < n - n % 8 {
                for j in 0..<8 { r[j] += a[s + i + j] }
                i += 8
            }
            var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n { res += a[s + i]; i += 1 }
            return res
        }
        let n2 = n / 2 - (n / 2) % 8
        return pairwiseSum(a[s..<(s + n2)]) + pairwiseSum(a[(s + n2)...])
    }

    /// `np.median` of one channel of float32 H×W×3 values (the mean of the two middle values, in float32, for an
    /// even count; NaN if any value is NaN). A three-way quickselect on a copy.
    static func channelMedian(_ values: UnsafeBufferPointer<Float>, channel: Int) -> Float {
        var a = stride(from: channel, to: values.count, by: 3).map { values[$0] }
        if a.contains(where: \.isNaN) { return .nan }
        let n = a.count, k = n / 2
        return a.withUnsafeMutableBufferPointer { a -> Float in
            var lo = 0, hi = n - 1
            while lo < hi {
                let p = [a[lo], a[(lo + hi) / 2], a[hi]].sorted()[1]
                var lt = lo, i = lo, gt = hi
                while i <= gt {
                    if a[i] < p { a.swapAt(lt, i); lt += 1; i += 1 } else if a[i] > p { a.swapAt(i, gt); gt -= 1 } else { i += 1 }
                }
                if k < lt { hi = lt - 1 } else if k > gt { lo = gt + 1 } else { break }
            }
            // Everything before k is ≤ a[k]; the lower middle value is their maximum.
            return n % 2 == 1 ? a[k] : (a[0..<k].max()! + a[k]) / 2
        }
    }

    /// Pillow `img.transform((size, size), Image.QUAD, (quad + 0.5).flatten(), Image.BILINEAR)`: Image.py's
    /// QUAD coefficients, Geometry.c `quad_transform` (pixel centres) and `bilinear_filter32RGB` (outside the
    /// photo stays black; edge rows/columns clamp; the value is truncated to uint8).
    static func quadTransform(_ image: RGBImage, quad: [[Double]], size: Int) -> RGBImage {
        let (nw, sw, se, ne) = (quad[0].map { $0 + 0.5 }, quad[1].map { $0 + 0.5 }, quad[2].map { $0 + 0.5 }, quad[3].map { $0 + 0.5 })
        let (x0, y0) = (nw[0], nw[1])
        let As = 1.0 / Double(size), At = 1.0 / Double(size)
        let (a0, a1, a2, a3) = (x0, (ne[0] - x0) * As, (sw[0] - x0) * At, (se[0] - sw[0] - ne[0] + x0) * As * At)
        let (a4, a5, a6, a7) = (y0, (ne[1] - y0) * As, (sw[1] - y0) * At, (se[1] - sw[1] - ne[1] + y0) * As * At)
        let (w, h) = (image.width, image.height), (wd, hd) = (Double(image.width), Double(image.height))
        var out = [UInt8](repeating: 0, count: size * size * 3)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                Parallel.forChunks(size, costPerItem: size * 8) { rows in
                    for y in rows {
                        let yin = Double(y) + 0.5
                        for x in 0..<size {
                            let xin = Double(x) + 0.5
                            var xx = a0 + a1 * xin + a2 * yin + a3 * xin * yin
                            var yy = a4 + a5 * xin + a6 * yin + a7 * xin * yin
                            guard xx >= 0, xx < wd, yy >= 0, yy < hd else { continue }
                            xx -= 0.5
                            yy -= 0.5
                            let xi = Int(xx.rounded(.down)), yi = Int(yy.rounded(.down))
                            let dx = xx - Double(xi), dy = yy - Double(yi)
                            // XCLIP / YCLIP; past the last row `v2 = v1` (the same row again gives exactly v1).
                            let c0 = max(xi, 0) * 3, c1 = min(xi + 1, w - 1) * 3
                            let row0 = min(max(yi, 0), h - 1) * w * 3, row1 = yi + 1 < h ? (yi + 1) * w * 3 : row0
                            for c in 0..<3 {
                                let p0 = Double(src[row0 + c0 + c]), q0 = Double(src[row0 + c1 + c])
                                let p1 = Double(src[row1 + c0 + c]), q1 = Double(src[row1 + c1 + c])
                                let v1 = p0 + (q0 - p0) * dx, v2 = p1 + (q1 - p1) * dx
                                dst[(y * size + x) * 3 + c] = UInt8(truncatingIfNeeded: Int(v1 + (v2 - v1) * dy))
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(width: size, height: size, pixels: out)
    }
}
