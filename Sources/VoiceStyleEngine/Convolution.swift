// 2-D convolution and transposed convolution (torch F.conv2d / F.conv_transpose2d, NCHW, PyTorch weight
// layouts) with their input and weight gradients, on BLAS.
//
// Kernels. Stride-1 convolutions use "shifted GEMMs": the input is zero-padded once into rows of width
// W + 2p, and each kernel tap (i, j) is one matrix product of the [Cout, Cin] tap slice with the padded
// input viewed from offset i·(W+2p)+j, accumulated into an output laid out with the same row width (the
// few columns past the valid width are discarded). No im2col matrix is built, so large maps run at BLAS
// speed (see `voicestyle bench engine`). Other strides use im2col + GEMM, and col2im for the transposed
// direction. A transposed convolution is the input gradient of a convolution and vice versa, so three
// kernels serve both ops.

/// Geometry of a convolution seen from its forward direction: input [n, cin, h, w] (per group),
/// weight [cout, cin, kh, kw], output [n, cout, oh, ow].
struct ConvGeometry {
    var n, cin, h, w, cout, kh, kw, sh, sw, ph, pw: Int
    /// Element distance between batch items of the input and output (channels of other groups lie between).
    var xItemStride, yItemStride: Int
    var oh: Int { (h + 2 * ph - kh) / sh + 1 }
    var ow: Int { (w + 2 * pw - kw) / sw + 1 }
    var taps: Int { kh * kw }
}

enum ConvKernels {
    /// y = conv(x, weight). `y` is overwritten.
    /// `winograd`: the weight's transformed kernels when `Winograd.applies(g)` (see `conv2d`).
    static func forward<T: TensorScalar>(_ g: ConvGeometry, x: UnsafePointer<T>, weight: UnsafePointer<T>,
                                         y: UnsafeMutablePointer<T>, winograd: TensorStorage<T>? = nil) {
        if let winograd {
            Winograd.convolve(n: g.n, cin: g.cin, h: g.h, w: g.w, cout: g.cout, ph: g.ph, pw: g.pw, x: x, xItemStride: g.xItemStride,
                              u: winograd.pointer, y: y, yItemStride: g.yItemStride)
            return
        }
        // Shifted GEMMs need the weight repacked per tap: worth it once the map has more pixels than
        // the layer has output channels; small maps use im2col, which reads the weight as stored.
        if g.sh == 1 && g.sw == 1 && g.n * g.oh * g.ow > g.cout && g.taps > 1 {
            withScratch(g.taps * g.cout * g.cin, of: T.self) { packed in
                packTaps(weight, outer: g.cout, inner: g.cin, taps: g.taps, flipTranspose: false, into: packed)
                shiftedGemm(n: g.n, cin: g.cin, h: g.h, w: g.w, cout: g.cout, kh: g.kh, kw: g.kw, ph: g.ph, pw: g.pw,
                            x: x, xItemStride: g.xItemStride, packed: packed, y: y, yItemStride: g.yItemStride)
            }
            return
        }
        let k = g.cin * g.taps, cols = g.oh * g.ow
        withScratch(k * cols, of: T.self) { col in
            for item in 0..<g.n {
                im2col(g, x + item * g.xItemStride, col)
                T.gemm(transA: false, transB: false, m: g.cout, n: cols, k: k, alpha: 1, a: weight, lda: k,
                       b: col, ldb: cols, beta: 0, c: y + item * g.yItemStride, ldc: cols)
            }
        }
    }

    /// dx = ∂/∂x of Σ dy·conv(x, weight) (also the transposed convolution of dy). `dx` is overwritten.
    /// `winograd`: the flipped, transposed kernels' transform when `Winograd.applies(g)`.
    static func backwardInput<T: TensorScalar>(_ g: ConvGeometry, dy: UnsafePointer<T>, weight: UnsafePointer<T>,
                                               dx: UnsafeMutablePointer<T>, winograd: TensorStorage<T>? = nil) {
        let oh = g.oh, ow = g.ow
        if let winograd {
            Winograd.convolve(n: g.n, cin: g.cout, h: oh, w: ow, cout: g.cin, ph: 2 - g.ph, pw: 2 - g.pw, x: dy, xItemStride: g.yItemStride,
                              u: winograd.pointer, y: dx, yItemStride: g.xItemStride)
            return
        }
        // Exact inverse geometry for stride 1: a stride-1 convolution of dy padded by k−1−p with the
        // flipped, transposed kernel gives back h×w only when (h + 2p − k) is not floored.
        if g.sh == 1 && g.sw == 1 && g.ph <= g.kh - 1 && g.pw <= g.kw - 1 && g.n * g.h * g.w > g.cin && g.taps > 1 {
            withScratch(g.taps * g.cout * g.cin, of: T.self) { packed in
                packTaps(weight, outer: g.cout, inner: g.cin, taps: g.taps, flipTranspose: true, into: packed)
                shiftedGemm(n: g.n, cin: g.cout, h: oh, w: ow, cout: g.cin, kh: g.kh, kw: g.kw,
                            ph: g.kh - 1 - g.ph, pw: g.kw - 1 - g.pw,
                            x: dy, xItemStride: g.yItemStride, packed: packed, y: dx, yItemStride: g.xItemStride)
            }
            return
        }
        let k = g.cin * g.taps, cols = oh * ow
        withScratch(k * cols, of: T.self) { col in
            for item in 0..<g.n {
                T.gemm(transA: true, transB: false, m: k, n: cols, k: g.cout, alpha: 1, a: weight, lda: k,
                       b: dy + item * g.yItemStride, ldb: cols, beta: 0, c: col, ldc: cols)
                let d = dx + item * g.xItemStride
                for c in 0..<g.cin { (d + c * g.h * g.w).initialize(repeating: 0, count: g.h * g.w) }
                col2im(g, col, d)
            }
        }
    }

    /// dw = ∂/∂weight of Σ dy·conv(x, weight), summed over the batch. `dw` is overwritten.
    static func backwardWeight<T: TensorScalar>(_ g: ConvGeometry, x: UnsafePointer<T>, dy: UnsafePointer<T>,
                                                dw: UnsafeMutablePointer<T>) {
        let k = g.cin * g.taps, cols = g.oh * g.ow
        withScratch(k * cols, of: T.self) { col in
            for item in 0..<g.n {
                im2col(g, x + item * g.xItemStride, col)
                T.gemm(transA: false, transB: true, m: g.cout, n: k, k: cols, alpha: 1, a: dy + item * g.yItemStride,
                       lda: cols, b: col, ldb: cols, beta: item == 0 ? 0 : 1, c: dw, ldc: k)
            }
        }
        if g.n == 0 { dw.initialize(repeating: 0, count: g.cout * k) }
    }

    /// Weight [outer, inner, taps] → [taps][outer][inner]; with `flipTranspose`, → [taps][inner][outer]
    /// with the taps reversed (the kernel of the input gradient).
    static func packTaps<T: TensorScalar>(_ w: UnsafePointer<T>, outer: Int, inner: Int, taps: Int,
                                          flipTranspose: Bool, into p: UnsafeMutablePointer<T>) {
        // Loop orders keep the `taps` write streams sequential.
        if flipTranspose {
            Parallel.forChunks(inner, costPerItem: outer * taps) { cs in
                for c in cs {
                    for o in 0..<outer {
                        let src = w + (o * inner + c) * taps
                        for t in 0..<taps { p[(t * inner + c) * outer + o] = src[taps - 1 - t] }
                    }
                }
            }
        } else {
            Parallel.forChunks(outer, costPerItem: inner * taps) { os in
                for o in os {
                    for c in 0..<inner {
                        let src = w + (o * inner + c) * taps
                        for t in 0..<taps { p[(t * outer + o) * inner + c] = src[t] }
                    }
                }
            }
        }
    }

    /// Stride-1 convolution by one GEMM per kernel tap over a zero-padded copy of the input.
    /// `packed` is [kh·kw][cout][cin]. Output extents: h + 2ph − kh + 1 by w + 2pw − kw + 1.
    static func shiftedGemm<T: TensorScalar>(n: Int, cin: Int, h: Int, w: Int, cout: Int, kh: Int, kw: Int,
                                             ph: Int, pw: Int, x: UnsafePointer<T>, xItemStride: Int,
                                             packed: UnsafePointer<T>, y: UnsafeMutablePointer<T>, yItemStride: Int) {
        let wp = w + 2 * pw, hp = h + 2 * ph
        let oh = hp - kh + 1, ow = wp - kw + 1
        guard oh > 0 && ow > 0 else { return }
        // One spare row per item absorbs the last taps' reads past the padded map.
        let itemSize = (hp + 1) * wp
        let chunk = max(1, min(n, (1 << 23) / max(1, max(cin, cout) * itemSize)))
        let xs = TensorStorage<T>(uninitializedCount: cin * chunk * itemSize)
        let ys = TensorStorage<T>(uninitializedCount: cout * chunk * itemSize)
        defer { withExtendedLifetime((xs, ys)) {} }
        let xp = xs.pointer, yp = ys.pointer
        var first = 0
        while first < n {
            let nb = min(chunk, n - first)
            let row = nb * itemSize  // layout [cin][nb][hp+1][wp]
            for b in 0..<nb {
                let xs = x + (first + b) * xItemStride
                Parallel.forChunks(cin, costPerItem: h * w) { cs in
                    for c in cs {
                        // Zero only the border (and the spare row); copy the interior rows.
                        let plane = xp + c * row + b * itemSize
                        plane.initialize(repeating: 0, count: ph * wp + pw)
                        let src = xs + c * h * w
                        for r in 0..<h {
                            let dst = plane + (ph + r) * wp + pw
                            dst.update(from: src + r * w, count: w)
                            (dst + w).initialize(repeating: 0, count: r == h - 1 ? itemSize - (ph + r) * wp - pw - w : 2 * pw)
                        }
                    }
                }
            }
            let span = ((nb - 1) * (hp + 1) + oh) * wp
            for i in 0..<kh {
                for j in 0..<kw {
                    let t = i * kw + j
                    T.gemm(transA: false, transB: false, m: cout, n: span, k: cin, alpha: 1,
                           a: packed + t * cout * cin, lda: cin, b: xp + i * wp + j, ldb: row,
                           beta: t == 0 ? 0 : 1, c: yp, ldc: row)
                }
            }
            for b in 0..<nb {
                let yd = y + (first + b) * yItemStride
                Parallel.forChunks(cout, costPerItem: oh * ow) { cs in
                    for c in cs {
                        let src = yp + c * row + b * itemSize
                        let dst = yd + c * oh * ow
                        for r in 0..<oh { (dst + r * ow).update(from: src + r * wp, count: ow) }
                    }
                }
            }
            first += nb
        }
    }

    /// col[(c, i, j), (oy, ox)] = x[c, oy·sh + i − ph, ox·sw + j − pw] (0 outside).
    static func im2col<T: TensorScalar>(_ g: ConvGeometry, _ x: UnsafePointer<T>, _ col: UnsafeMutablePointer<T>) {
        let oh = g.oh, ow = g.ow, cols = oh * ow
        Parallel.forChunks(g.cin, costPerItem: g.taps * cols) { cs in
            for c in cs {
                let xc = x + c * g.h * g.w
                for i in 0..<g.kh {
                    for j in 0..<g.kw {
                        let dst = col + ((c * g.kh + i) * g.kw + j) * cols
                        for oy in 0..<oh {
                            let iy = oy * g.sh + i - g.ph
                            let d = dst + oy * ow
                            if iy < 0 || iy >= g.h { d.initialize(repeating: 0, count: ow); continue }
                            let xr = xc + iy * g.w
                            for ox in 0..<ow {
                                let ix = ox * g.sw + j - g.pw
                                d[ox] = (ix >= 0 && ix < g.w) ? xr[ix] : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of im2col: x[c, …] += col[(c, i, j), …].
    static func col2im<T: TensorScalar>(_ g: ConvGeometry, _ col: UnsafePointer<T>, _ x: UnsafeMutablePointer<T>) {
        let oh = g.oh, ow = g.ow, cols = oh * ow
        Parallel.forChunks(g.cin, costPerItem: g.taps * cols) { cs in
            for c in cs {
                let xc = x + c * g.h * g.w
                for i in 0..<g.kh {
                    for j in 0..<g.kw {
                        let src = col + ((c * g.kh + i) * g.kw + j) * cols
                        for oy in 0..<oh {
                            let iy = oy * g.sh + i - g.ph
                            if iy < 0 || iy >= g.h { continue }
                            let xr = xc + iy * g.w, s = src + oy * ow
                            for ox in 0..<ow {
                                let ix = ox * g.sw + j - g.pw
                                if ix >= 0 && ix < g.w { xr[ix] += s[ox] }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// 2-D convolution (F.conv2d, cross-correlation): self [N, C, H, W], weight [O, C/groups, kh, kw],
    /// bias [O] → [N, O, (H + 2p − kh)/s + 1, (W + 2p − kw)/s + 1]. Dilation 1. `groups` divides C and O
    /// (groups = C is a depthwise convolution).
    /// `algorithm` (default `Convolution.current`) chooses how stride-1 3×3 convolutions run.
    public func conv2d(weight: Tensor<T>, bias: Tensor<T>? = nil, stride: Int = 1, padding: Int = 0,
                       groups: Int = 1, algorithm: ConvolutionAlgorithm? = nil) -> Tensor<T> {
        conv2d(weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding), groups: groups, algorithm: algorithm)
    }

    /// 2-D convolution with separate vertical and horizontal stride and padding.
    public func conv2d(weight: Tensor<T>, bias: Tensor<T>? = nil, stride: (Int, Int), padding: (Int, Int),
                       groups: Int = 1, algorithm: ConvolutionAlgorithm? = nil) -> Tensor<T> {
        precondition(rank == 4 && weight.rank == 4, "conv2d needs NCHW input and [O, C, kh, kw] weight, got \(shape), \(weight.shape)")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (o, cg, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        precondition(groups >= 1 && c % groups == 0 && o % groups == 0 && cg == c / groups,
                     "conv2d: input \(shape) does not fit weight \(weight.shape) with groups \(groups)")
        precondition(stride.0 >= 1 && stride.1 >= 1 && padding.0 >= 0 && padding.1 >= 0, "conv2d: bad stride/padding")
        let og = o / groups
        var g = ConvGeometry(n: n, cin: cg, h: h, w: w, cout: og, kh: kh, kw: kw, sh: stride.0, sw: stride.1,
                             ph: padding.0, pw: padding.1, xItemStride: c * h * w, yItemStride: 0)
        precondition(g.oh > 0 && g.ow > 0, "conv2d: kernel \(kh)×\(kw) larger than padded input \(shape)")
        g.yItemStride = o * g.oh * g.ow
        let out = Tensor<T>(uninitializedShape: [n, o, g.oh, g.ow])
        let wsz = og * cg * kh * kw
        // Winograd for stride-1 3×3 convolutions (exact geometry: oh = h + 2p − 2 with stride 1).
        let winograd = groups == 1 && Winograd.applies(g, algorithm ?? Convolution.current)
        for gi in 0..<groups {
            ConvKernels.forward(g, x: storage.pointer + gi * cg * h * w, weight: weight.storage.pointer + gi * wsz,
                                y: out.storage.pointer + gi * og * g.oh * g.ow,
                                winograd: winograd ? Winograd.kernels(weight, flipTranspose: false, for: g) : nil)
        }
        if let bias { out.addChannelBias(bias) }
        var inputs = [self, weight]
        if let bias { inputs.append(bias) }
        // The input is kept for the weight gradient only: frozen weights let it be freed after the forward.
        let input: Tensor<T>? = weight.needsGrad ? self : nil
        let inputNeedsGrad = needsGrad, inputShape = shape
        return Tensor.record("conv2d", out, inputs) { gy in
            var gx: Tensor<T>? = nil, gw: Tensor<T>? = nil, gb: Tensor<T>? = nil
            if inputNeedsGrad {
                let t = Tensor<T>(uninitializedShape: inputShape)
                for gi in 0..<groups {
                    ConvKernels.backwardInput(g, dy: gy.storage.pointer + gi * og * g.oh * g.ow,
                                              weight: weight.storage.pointer + gi * wsz,
                                              dx: t.storage.pointer + gi * cg * h * w,
                                              winograd: winograd ? Winograd.kernels(weight, flipTranspose: true, for: g) : nil)
                }
                gx = t
            }
            if let input {
                let t = Tensor<T>(uninitializedShape: weight.shape)
                for gi in 0..<groups {
                    ConvKernels.backwardWeight(g, x: input.storage.pointer + gi * cg * h * w,
                                               dy: gy.storage.pointer + gi * og * g.oh * g.ow,
                                               dw: t.storage.pointer + gi * wsz)
                }
                gw = t
            }
            if let bias, bias.needsGrad { gb = gy.sumPerChannel() }
            return bias == nil ? [gx, gw] : [gx, gw, gb]
        }
    }

    /// Transposed 2-D convolution (F.conv_transpose2d, groups 1): self [N, Cin, H, W], weight
    /// [Cin, Cout, kh, kw] (PyTorch layout, no flip) → [N, Cout, (H−1)·s − 2p + kh + outputPadding, …]:
    /// out[n, o, y·s + i − p, x·s + j − p] += self[n, c, y, x] · weight[c, o, i, j].
    /// `algorithm` (default `Convolution.current`) chooses how stride-1 3×3 kernels run.
    public func convTranspose2d(weight: Tensor<T>, bias: Tensor<T>? = nil, stride: Int = 1, padding: Int = 0,
                                outputPadding: Int = 0, algorithm: ConvolutionAlgorithm? = nil) -> Tensor<T> {
        precondition(rank == 4 && weight.rank == 4 && weight.shape[0] == shape[1],
                     "convTranspose2d: input \(shape) does not fit weight \(weight.shape)")
        precondition(stride >= 1 && padding >= 0 && outputPadding >= 0 && outputPadding < stride,
                     "convTranspose2d: bad stride/padding")
        let (n, cin, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (cout, kh, kw) = (weight.shape[1], weight.shape[2], weight.shape[3])
        let oh = (h - 1) * stride - 2 * padding + kh + outputPadding
        let ow = (w - 1) * stride - 2 * padding + kw + outputPadding
        precondition(oh > 0 && ow > 0, "convTranspose2d: empty output for \(shape)")
        // The convolution whose input gradient this is: input [cout, oh, ow] → output [cin, h, w].
        let g = ConvGeometry(n: n, cin: cout, h: oh, w: ow, cout: cin, kh: kh, kw: kw, sh: stride, sw: stride,
                             ph: padding, pw: padding, xItemStride: cout * oh * ow, yItemStride: cin * h * w)
        precondition(g.oh == h && g.ow == w, "convTranspose2d: inconsistent geometry")
        let out = Tensor<T>(uninitializedShape: [n, cout, oh, ow])
        let winograd = Winograd.applies(g, algorithm ?? Convolution.current)
        ConvKernels.backwardInput(g, dy: storage.pointer, weight: weight.storage.pointer, dx: out.storage.pointer,
                                  winograd: winograd ? Winograd.kernels(weight, flipTranspose: true, for: g) : nil)
        if let bias { out.addChannelBias(bias) }
        var inputs = [self, weight]
        if let bias { inputs.append(bias) }
        let input: Tensor<T>? = weight.needsGrad ? self : nil
        let inputNeedsGrad = needsGrad, inputShape = shape
        return Tensor.record("convTranspose2d", out, inputs) { gy in
            var gx: Tensor<T>? = nil, gw: Tensor<T>? = nil, gb: Tensor<T>? = nil
            if inputNeedsGrad {
                let t = Tensor<T>(uninitializedShape: inputShape)
                ConvKernels.forward(g, x: gy.storage.pointer, weight: weight.storage.pointer, y: t.storage.pointer,
                                    winograd: winograd ? Winograd.kernels(weight, flipTranspose: false, for: g) : nil)
                gx = t
            }
            if let input {
                let t = Tensor<T>(uninitializedShape: weight.shape)
                ConvKernels.backwardWeight(g, x: gy.storage.pointer, dy: input.storage.pointer, dw: t.storage.pointer)
                gw = t
            }
            if let bias, bias.needsGrad { gb = gy.sumPerChannel() }
            return bias == nil ? [gx, gw] : [gx, gw, gb]
        }
    }

    /// Adds bias[c] along axis 1 in place (no history; callers record it).
    func addChannelBias(_ bias: Tensor<T>) {
        let (outer, c, inner) = channelLayout
        precondition(bias.count == c, "bias has \(bias.count) values for \(c) channels")
        let p = storage.pointer, b = bias.storage.pointer
        for n in 0..<outer { for ch in 0..<c { let base = (n * c + ch) * inner; for i in base..<(base + inner) { p[i] += b[ch] } } }
    }
}
