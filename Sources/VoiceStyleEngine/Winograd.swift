// Stride-1 3×3 convolutions (torch F.conv2d semantics, as used by every 3×3 layer of the upstream networks)
// by Winograd minimal filtering F(4×4, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016) with the interpolation points 0, ±1, 1/2, −2, ∞: in float32 their error is 2.5× smaller
// than that of the usual 0, ±1, ±2, ∞ (simulated on 128-channel layers; Barabasz et al. 2020 found the same).
//
// Each 4×4 output tile is A^T [(G g G^T) ⊙ (B^T d B)] A for its 6×6 input patch d: 36 multiplications per
// tile and channel pair instead of 144, so the products run as 36 GEMMs of a quarter of the direct FLOPs.
// Transformed kernels of frozen weights are kept with the weight's storage on large maps. In float32 the
// worst error is ~2e-5 of the output's RMS, about 10× a direct convolution's (measured in WinogradTests);
// `Convolution.algorithm = .direct` (or `VOICESTYLE_CONV=direct`) turns the path off.

import Foundation

/// How stride-1 3×3 convolutions are computed.
public enum ConvolutionAlgorithm: String, Sendable, CaseIterable {
    /// Winograd F(4×4, 3×3) where it is faster than the direct path (maps of ≥ 16 output tiles per item and
    /// ≥ 16 channels each way); direct elsewhere.
    case automatic
    /// Shifted GEMMs / im2col only (bitwise the pre-Winograd results).
    case direct
    /// Winograd for every eligible stride-1 3×3 convolution, whatever its size (for tests).
    case winograd
}

public enum Convolution {
    /// A scoped override of `algorithm` for the current task (or thread): `Convolution.with(.direct) { … }`.
    @TaskLocal public static var scopedAlgorithm: ConvolutionAlgorithm?

    /// The algorithm in force here: the scoped override, else `algorithm`.
    public static var current: ConvolutionAlgorithm { scopedAlgorithm ?? algorithm }

    /// Runs `body` with `algorithm` in force for its convolutions (on this task or thread only).
    public static func with<R>(_ algorithm: ConvolutionAlgorithm, _ body: () throws -> R) rethrows -> R {
        try $scopedAlgorithm.withValue(algorithm, operation: body)
    }

    /// Process-wide default of `conv2d(…, algorithm:)`; set it before running models
    /// (`VOICESTYLE_CONV=direct|winograd|automatic` in the environment).
    nonisolated(unsafe) public static var algorithm: ConvolutionAlgorithm = {
        if let s = ProcessInfo.processInfo.environment["VOICESTYLE_CONV"], let a = ConvolutionAlgorithm(rawValue: s) { return a }
        return .automatic
    }()
}

enum Winograd {
    /// Whether a convolution of this geometry goes through Winograd.
    static func applies(_ g: ConvGeometry, _ algorithm: ConvolutionAlgorithm) -> Bool {
        guard g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.ph <= 2 && g.pw <= 2 && g.oh > 0 && g.ow > 0 else { return false }
        switch algorithm {
        case .direct: return false
        case .winograd: return true
        case .automatic:
            let tiles = g.n * ((g.oh + 3) / 4) * ((g.ow + 3) / 4)
            return g.cin >= 16 && g.cout >= 16 && tiles >= 16
        }
    }

    /// Transformed kernels [36][outer][inner] (ξ = 6·row + column of the 6×6 transformed tile) of a weight
    /// [cout, cin, 3, 3]: outer = cout, inner = cin; with `flipTranspose`, those of the input gradient
    /// (the kernel flipped in both axes, outer = cin, inner = cout).
    static func transformWeights<T: TensorScalar>(_ w: UnsafePointer<T>, cout: Int, cin: Int, flipTranspose: Bool,
                                                   into u: UnsafeMutablePointer<T>) {
        let pairs = cout * cin
        let (outer, inner) = flipTranspose ? (cin, cout) : (cout, cin)
        Parallel.forChunks(outer, costPerItem: inner * 150) { rows in
            // g[t][j]: tap t of the kernels of row r; tmp[i][col][j] = (G·g)[i][col]; vector loops over j.
            withScratch(27 * inner, of: T.self) { buf in
                let g = buf, tmp = buf + 9 * inner
                for r in rows {
                    for j in 0..<inner {
                        if flipTranspose {
                            let k = w + (j * cin + r) * 9
                            for t in 0..<9 { g[t * inner + j] = k[8 - t] }
                        } else {
                            let k = w + (r * cin + j) * 9
                            for t in 0..<9 { g[t * inner + j] = k[t] }
                        }
                    }
                    for col in 0..<3 {
                        gTransform(g + col * inner, g + (3 + col) * inner, g + (6 + col) * inner, count: inner,
                                   into: tmp + col * inner, stride: 3 * inner)
                    }
                    for i in 0..<6 {
                        let row = tmp + i * 3 * inner
                        gTransform(row, row + inner, row + 2 * inner, count: inner, into: u + (i * 6) * pairs + r * inner, stride: pairs)
                    }
                }
            }
        }
    }

    /// out + k·stride (k = 0…5) ← G·(g0, g1, g2) for F(4, 3), element-wise over `count` values.
    @inline(__always)
    private static func gTransform<T: TensorScalar>(_ g0: UnsafePointer<T>, _ g1: UnsafePointer<T>, _ g2: UnsafePointer<T>, count: Int,
                                                     into out: UnsafeMutablePointer<T>, stride: Int) {
        let third = 1 / T(3), fifteenth = 1 / T(15)
        let o0 = out, o1 = out + stride, o2 = o1 + stride, o3 = o2 + stride, o4 = o3 + stride, o5 = o4 + stride
        for j in 0..<count {
            let a = g0[j], b = g1[j], c = g2[j]
            o0[j] = a
            o1[j] = (a + b + c) * third
            o2[j] = (b - a - c) * third
            o3[j] = -(16 * a + 8 * b + 4 * c) * fifteenth
            o4[j] = (a - 2 * b + 4 * c) * fifteenth
            o5[j] = c
        }
    }

    /// The transformed kernels of `weight` ([cout, cin, 3, 3]) for a convolution of geometry `g`; cached on
    /// the storage of a frozen weight when the map has ≥ 64 output tiles per item. On smaller maps the
    /// transform costs a few % of the convolution, and caching it would hold 8× the weights in memory for
    /// deep networks of small maps (IR-SE50: ~1.3 GB).
    static func kernels<T: TensorScalar>(_ weight: Tensor<T>, flipTranspose: Bool, for g: ConvGeometry) -> TensorStorage<T> {
        let (cout, cin) = (weight.shape[0], weight.shape[1])
        let make = { () -> TensorStorage<T> in
            let s = TensorStorage<T>(uninitializedCount: 36 * cout * cin)
            transformWeights(weight.storage.pointer, cout: cout, cin: cin, flipTranspose: flipTranspose, into: s.pointer)
            return s
        }
        if weight.needsGrad || ((g.oh + 3) / 4) * ((g.ow + 3) / 4) < 64 { return make() }
        return weight.storage.attachment("winograd-f43 \(cout)x\(cin) \(flipTranspose)", make: make)
    }

    /// y = conv(x, kernel) for a stride-1 3×3 kernel given as transformed kernels `u` [36][cout][cin]; input
    /// [n][cin][h][w] (items `xItemStride` apart), padding ph, pw ≤ 2, output [n][cout][h+2ph−2][w+2pw−2]
    /// (items `yItemStride` apart), overwritten.
    static func convolve<T: TensorScalar>(n: Int, cin: Int, h: Int, w: Int, cout: Int, ph: Int, pw: Int,
                                          x: UnsafePointer<T>, xItemStride: Int, u: UnsafePointer<T>,
                                          y: UnsafeMutablePointer<T>, yItemStride: Int) {
        let oh = h + 2 * ph - 2, ow = w + 2 * pw - 2
        guard n > 0 && oh > 0 && ow > 0 else { return }
        let th = (oh + 3) / 4, tw = (ow + 3) / 4
        // Blocks of whole tile rows (of any items), ~24 MB of transformed data each way.
        let bytesPerRow = 36 * max(cin, cout) * tw * MemoryLayout<T>.stride
        let rowsPerBlock = max(1, min(n * th, (24 << 20) / bytesPerRow))
        let totalRows = n * th
        withScratch(36 * cin * rowsPerBlock * tw, of: T.self) { v in
            withScratch(36 * cout * rowsPerBlock * tw, of: T.self) { m in
                var first = 0
                while first < totalRows {
                    let rows = min(rowsPerBlock, totalRows - first)
                    let cols = rows * tw
                    inputTransform(cin: cin, h: h, w: w, ph: ph, pw: pw, th: th, tw: tw, firstRow: first, rows: rows,
                                   x: x, xItemStride: xItemStride, v: v)
                    for xi in 0..<36 {
                        T.gemm(transA: false, transB: false, m: cout, n: cols, k: cin, alpha: 1, a: u + xi * cout * cin, lda: cin,
                               b: v + xi * cin * cols, ldb: cols, beta: 0, c: m + xi * cout * cols, ldc: cols)
                    }
                    outputTransform(cout: cout, oh: oh, ow: ow, th: th, tw: tw, firstRow: first, rows: rows,
                                    m: m, y: y, yItemStride: yItemStride)
                    first += rows
                }
            }
        }
    }

    /// B^T·(d0, …, d5): the input transform along one axis.
    @inline(__always)
    private static func bTransform<T: TensorScalar>(_ d0: T, _ d1: T, _ d2: T, _ d3: T, _ d4: T, _ d5: T) -> (T, T, T, T, T, T) {
        (d0 + d4 - 2 * d2 + 1.5 * (d3 - d1), d4 - d1 + 0.5 * d2 + 2.5 * d3, d4 + d1 - 2.5 * d2 + 0.5 * d3,
         d4 - d2 + 2 * (d3 - d1), d4 - d2 + 0.5 * (d1 - d3), d5 + d1 - 2 * d3 + 1.5 * (d4 - d2))
    }

    /// A^T·(m0, …, m5): the output transform along one axis.
    @inline(__always)
    private static func aTransform<T: TensorScalar>(_ m0: T, _ m1: T, _ m2: T, _ m3: T, _ m4: T, _ m5: T) -> (T, T, T, T) {
        let p = m1 + m2, q = m1 - m2
        return (m0 + p + m3 + m4, q + 0.5 * m3 - 2 * m4, p + 0.25 * m3 + 4 * m4, q + 0.125 * m3 - 8 * m4 + m5)
    }

    /// v[ξ][c][r·tw + tx] = (B^T d B)[ξ] of the 6×6 patch of tile (row first + r, tx).
    private static func inputTransform<T: TensorScalar>(cin: Int, h: Int, w: Int, ph: Int, pw: Int, th: Int, tw: Int,
                                                        firstRow: Int, rows: Int, x: UnsafePointer<T>, xItemStride: Int,
                                                        v: UnsafeMutablePointer<T>) {
        let cols = rows * tw, width = 4 * tw + 2
        let plane = cin * cols  // distance between ξ planes
        Parallel.forChunks(cin, costPerItem: cols * 300) { cs in
            // patch: 6 padded input rows; t: their vertical transforms (each `width` wide).
            withScratch(12 * width, of: T.self) { buf in
                let patch = buf, t = buf + 6 * width
                for c in cs {
                    for r in 0..<rows {
                        let row = firstRow + r, item = row / th, ty = row % th
                        let xc = x + item * xItemStride + c * h * w
                        for i in 0..<6 {
                            let iy = ty * 4 - ph + i
                            let dst = patch + i * width
                            if iy < 0 || iy >= h { dst.initialize(repeating: 0, count: width); continue }
                            let src = xc + iy * w
                            // Columns jx ↔ input x = jx − pw.
                            let lo = min(pw, width), hi = min(width, w + pw)
                            if lo > 0 { dst.initialize(repeating: 0, count: lo) }
                            if hi > lo { (dst + lo).update(from: src + (lo - pw), count: hi - lo) }
                            if hi < width { (dst + max(hi, lo)).initialize(repeating: 0, count: width - max(hi, lo)) }
                        }
                        let d0 = patch, d1 = patch + width, d2 = patch + 2 * width
                        let d3 = patch + 3 * width, d4 = patch + 4 * width, d5 = patch + 5 * width
                        let t0 = t, t1 = t + width, t2 = t + 2 * width, t3 = t + 3 * width, t4 = t + 4 * width, t5 = t + 5 * width
                        for j in 0..<width {
                            (t0[j], t1[j], t2[j], t3[j], t4[j], t5[j]) = bTransform(d0[j], d1[j], d2[j], d3[j], d4[j], d5[j])
                        }
                        let base = c * cols + r * tw
                        for i in 0..<6 {
                            let s = t + i * width
                            let o0 = v + (i * 6) * plane + base, o1 = o0 + plane, o2 = o1 + plane
                            let o3 = o2 + plane, o4 = o3 + plane, o5 = o4 + plane
                            for tx in 0..<tw {
                                let p = s + 4 * tx
                                (o0[tx], o1[tx], o2[tx], o3[tx], o4[tx], o5[tx]) = bTransform(p[0], p[1], p[2], p[3], p[4], p[5])
                            }
                        }
                    }
                }
            }
        }
    }

    /// y tile (row first + r, tx) = A^T m A, clipped to oh × ow.
    private static func outputTransform<T: TensorScalar>(cout: Int, oh: Int, ow: Int, th: Int, tw: Int, firstRow: Int, rows: Int,
                                                         m: UnsafePointer<T>, y: UnsafeMutablePointer<T>, yItemStride: Int) {
        let cols = rows * tw, plane = cout * cols, width = 4 * tw
        Parallel.forChunks(cout, costPerItem: cols * 200) { os in
            // s: A^T applied down each of the 6 columns (4 rows × 6 columns × tw); out: 4 output rows.
            withScratch(24 * tw + 4 * width, of: T.self) { buf in
                let s = buf, out = buf + 24 * tw
                for o in os {
                    for r in 0..<rows {
                        let row = firstRow + r, item = row / th, ty = row % th
                        let base = o * cols + r * tw
                        for j in 0..<6 {
                            let m0 = m + j * plane + base, m1 = m0 + 6 * plane, m2 = m1 + 6 * plane
                            let m3 = m2 + 6 * plane, m4 = m3 + 6 * plane, m5 = m4 + 6 * plane
                            let s0 = s + j * tw, s1 = s0 + 6 * tw, s2 = s1 + 6 * tw, s3 = s2 + 6 * tw
                            for tx in 0..<tw {
                                (s0[tx], s1[tx], s2[tx], s3[tx]) = aTransform(m0[tx], m1[tx], m2[tx], m3[tx], m4[tx], m5[tx])
                            }
                        }
                        for i in 0..<4 {
                            let si = s + i * 6 * tw, dst = out + i * width
                            for tx in 0..<tw {
                                let d = dst + 4 * tx
                                (d[0], d[1], d[2], d[3]) = aTransform(si[tx], si[tw + tx], si[2 * tw + tx], si[3 * tw + tx],
                                                                      si[4 * tw + tx], si[5 * tw + tx])
                            }
                        }
                        let yo = y + item * yItemStride + o * oh * ow
                        for i in 0..<min(4, oh - ty * 4) {
                            (yo + (ty * 4 + i) * ow).update(from: out + i * width, count: ow)
                        }
                    }
                }
            }
        }
    }
}
