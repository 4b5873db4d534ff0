// Every differentiable op: autodiff gradients against central finite differences in float64, on random
// shapes (odd extents, batch > 1).
import Testing
import VoiceStyleEngine
import VoiceStyleTestSupport

typealias D = Tensor<Double>

/// Tolerance of the float64 comparison (finite-difference truncation error is ~1e-9 here).
private let tol = 1e-6

private func randn(_ shape: [Int], _ rng: inout SeededGenerator) -> D { D.randomNormal(shape, using: &rng) }
private func positive(_ shape: [Int], _ rng: inout SeededGenerator) -> D { D.randomUniform(shape, low: 0.5, high: 2, using: &rng) }
private func dim(_ rng: inout SeededGenerator, _ lo: Int, _ hi: Int) -> Int { lo + Int(rng.next() % UInt64(hi - lo + 1)) }

@Suite("Finite-difference gradients (float64)")
struct GradientTests {
    @Test("broadcast add/sub/mul/div", arguments: 0..<4)
    func broadcastArithmetic(trial: Int) {
        var rng = SeededGenerator(seed: 100 + UInt64(trial))
        let n = dim(&rng, 1, 3), c = dim(&rng, 1, 4), h = dim(&rng, 1, 5), w = dim(&rng, 2, 5)
        let pairs: [([Int], [Int])] = [([n, c, h, w], [n, c, h, w]), ([n, c, h, w], [1, c, 1, 1]),
                                       ([c, 1, w], [n, 1, h, 1]), ([n, c, h, w], [])]
        for (sa, sb) in pairs {
            let a = randn(sa, &rng), b = positive(sb, &rng)
            #expect(finiteDifferenceError([a, b]) { $0[0] + $0[1] } < tol, "add \(sa) \(sb)")
            #expect(finiteDifferenceError([a, b]) { $0[0] - $0[1] } < tol, "sub \(sa) \(sb)")
            #expect(finiteDifferenceError([a, b]) { $0[0] * $0[1] } < tol, "mul \(sa) \(sb)")
            #expect(finiteDifferenceError([a, b]) { $0[0] / $0[1] } < tol, "div \(sa) \(sb)")
        }
    }

    @Test("scalar arithmetic and point-wise functions")
    func pointwise() {
        var rng = SeededGenerator(seed: 1)
        let x = randn([2, 3, 5], &rng), p = positive([3, 7], &rng)
        #expect(finiteDifferenceError([x]) { 2.5 * $0[0] + 1.5 } < tol)
        #expect(finiteDifferenceError([x]) { 3 - $0[0] / 4 } < tol)
        #expect(finiteDifferenceError([x]) { -$0[0] * 0.5 - 2 } < tol)
        #expect(finiteDifferenceError([p]) { 2 / $0[0] } < tol)
        #expect(finiteDifferenceError([p]) { $0[0].sqrt() } < tol)
        #expect(finiteDifferenceError([p]) { $0[0].rsqrt() } < tol)
        #expect(finiteDifferenceError([p]) { $0[0].pow(1.7) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].pow(2) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].exp() } < tol)
        #expect(finiteDifferenceError([p]) { $0[0].log() } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].abs() } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].clamp(min: -0.5, max: 0.7) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].clamp(min: -1) } < tol)
    }

    @Test("activations")
    func activations() {
        var rng = SeededGenerator(seed: 2)
        let x = randn([3, 5, 4, 3], &rng), bias = randn([5], &rng), w = randn([5], &rng)
        #expect(finiteDifferenceError([x]) { $0[0].relu() } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].leakyRelu(slope: 0.2) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].sigmoid() } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].tanh() } < tol)
        #expect(finiteDifferenceError([x, bias]) { $0[0].fusedLeakyRelu(bias: $0[1]) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].fusedLeakyRelu(bias: nil) } < tol)
        let x2 = randn([4, 7], &rng), b2 = randn([7], &rng)
        #expect(finiteDifferenceError([x2, b2]) { $0[0].fusedLeakyRelu(bias: $0[1]) } < tol)
        #expect(finiteDifferenceError([x, w]) { $0[0].prelu(weight: $0[1]) } < tol)
    }

    @Test("matmul and linear")
    func linear() {
        var rng = SeededGenerator(seed: 3)
        let a = randn([3, 5], &rng), b = randn([5, 4], &rng)
        #expect(finiteDifferenceError([a, b]) { $0[0].matmul($0[1]) } < tol)
        let x = randn([4, 6], &rng), w = randn([3, 6], &rng), bias = randn([3], &rng)
        #expect(finiteDifferenceError([x, w, bias]) { $0[0].linear(weight: $0[1], bias: $0[2]) } < tol)
    }

    @Test("conv2d: strides, paddings, groups", arguments: [
        // (cin, cout, k, stride, pad, groups, h, w)
        (3, 4, 3, 1, 1, 1, 5, 6), (2, 3, 3, 1, 0, 1, 6, 5), (3, 2, 7, 2, 3, 1, 9, 8), (4, 5, 1, 2, 0, 1, 5, 7),
        (4, 4, 3, 1, 1, 4, 5, 5), (4, 6, 3, 2, 1, 2, 7, 6), (2, 3, 2, 1, 2, 1, 4, 3),
    ])
    func conv2d(_ c: (Int, Int, Int, Int, Int, Int, Int, Int)) {
        var rng = SeededGenerator(seed: 4)
        let (cin, cout, k, s, p, g, h, w) = c
        let x = randn([2, cin, h, w], &rng), wt = randn([cout, cin / g, k, k], &rng), b = randn([cout], &rng)
        #expect(finiteDifferenceError([x, wt, b]) { $0[0].conv2d(weight: $0[1], bias: $0[2], stride: s, padding: p, groups: g) } < tol,
                "conv2d \(c)")
        // Forward against a direct loop.
        let y = withoutGradients { x.conv2d(weight: wt, bias: b, stride: s, padding: p, groups: g) }
        let r = naiveConv2d(x, wt, b, stride: s, pad: p, groups: g)
        #expect(y.shape == r.shape && relativeError(y, r) < 1e-12, "conv2d forward \(c)")
    }

    @Test("conv2d with separate vertical and horizontal stride and padding")
    func conv2dAsymmetric() {
        var rng = SeededGenerator(seed: 5)
        let x = randn([2, 3, 6, 7], &rng), wt = randn([2, 3, 2, 3], &rng)
        #expect(finiteDifferenceError([x, wt]) { $0[0].conv2d(weight: $0[1], stride: (1, 2), padding: (1, 0)) } < tol)
        #expect(finiteDifferenceError([x, wt]) { $0[0].conv2d(weight: $0[1], stride: (1, 1), padding: (0, 2)) } < tol)
    }

    @Test("conv_transpose2d", arguments: [
        // (cin, cout, k, stride, pad, outputPadding, h, w)
        (3, 2, 3, 2, 0, 0, 3, 4), (2, 3, 4, 2, 1, 0, 4, 3), (3, 3, 3, 1, 1, 0, 4, 5), (2, 2, 3, 2, 1, 1, 3, 3),
    ])
    func convTranspose(_ c: (Int, Int, Int, Int, Int, Int, Int, Int)) {
        var rng = SeededGenerator(seed: 6)
        let (cin, cout, k, s, p, op, h, w) = c
        let x = randn([2, cin, h, w], &rng), wt = randn([cin, cout, k, k], &rng), b = randn([cout], &rng)
        #expect(finiteDifferenceError([x, wt, b]) {
            $0[0].convTranspose2d(weight: $0[1], bias: $0[2], stride: s, padding: p, outputPadding: op)
        } < tol, "convTranspose2d \(c)")
        let y = withoutGradients { x.convTranspose2d(weight: wt, bias: b, stride: s, padding: p, outputPadding: op) }
        let r = naiveConvTranspose2d(x, wt, b, stride: s, pad: p, outputPadding: op)
        #expect(y.shape == r.shape && relativeError(y, r) < 1e-12, "convTranspose2d forward \(c)")
    }

    @Test("upfirdn2d: up, down, negative pads, asymmetric kernels")
    func upfirdn() {
        var rng = SeededGenerator(seed: 7)
        let x = randn([2, 2, 5, 6], &rng), k = randn([3, 4], &rng), k4 = randn([4, 4], &rng)
        #expect(finiteDifferenceError([x]) { $0[0].upfirdn2d(kernel: k4, up: (2, 2), pad: UpFirDnPadding(2, 1)) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].upfirdn2d(kernel: k4, down: (2, 2), pad: UpFirDnPadding(1, 1)) } < tol)
        #expect(finiteDifferenceError([x]) {
            $0[0].upfirdn2d(kernel: k, up: (2, 1), down: (1, 2), pad: UpFirDnPadding(x0: 2, x1: 1, y0: 1, y1: -1))
        } < tol)
        #expect(finiteDifferenceError([x]) {
            $0[0].upfirdn2d(kernel: k, up: (1, 3), down: (3, 1), pad: UpFirDnPadding(x0: -1, x1: 3, y0: 0, y1: 2))
        } < tol)
    }

    @Test("batch norm (eval), pixel norm, L2 normalisation, cosine similarity")
    func normalisation() {
        var rng = SeededGenerator(seed: 8)
        let x = randn([3, 4, 3, 5], &rng), mean = randn([4], &rng), v = positive([4], &rng)
        let w = randn([4], &rng), b = randn([4], &rng)
        #expect(finiteDifferenceError([x, w, b]) { $0[0].batchNorm(mean: mean, variance: v, weight: $0[1], bias: $0[2]) } < tol)
        let x2 = randn([5, 4], &rng)
        #expect(finiteDifferenceError([x2]) { $0[0].batchNorm(mean: mean, variance: v, weight: nil, bias: nil, eps: 1e-3) } < tol)
        #expect(finiteDifferenceError([x2]) { $0[0].pixelNorm() } < tol)
        #expect(finiteDifferenceError([x2]) { $0[0].l2Normalized(axis: 1) } < tol)
        let a = randn([3, 6], &rng), c = randn([3, 6], &rng)
        #expect(finiteDifferenceError([a, c]) { D.cosineSimilarity($0[0], $0[1]) } < tol)
    }

    @Test("pooling: max, average, adaptive 1-D and 2-D")
    func pooling() {
        var rng = SeededGenerator(seed: 9)
        let x = randn([2, 3, 7, 9], &rng)
        #expect(finiteDifferenceError([x]) { $0[0].maxPool2d(kernel: 3, stride: 2, padding: 1) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].avgPool2d(kernel: 2) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].avgPool2d(kernel: 3, stride: 2, padding: 1, countIncludePad: false) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].adaptiveAvgPool2d(outHeight: 3, outWidth: 4) } < tol)
        let s = randn([2, 3, 11], &rng)
        #expect(finiteDifferenceError([s]) { $0[0].adaptiveAvgPool1d(5) } < tol)
    }

    @Test("reductions over axes")
    func reductions() {
        var rng = SeededGenerator(seed: 10)
        let x = randn([3, 4, 5], &rng)
        #expect(finiteDifferenceError([x]) { $0[0].sum(axes: [1]) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].sum(axes: [0, 2], keepDims: true) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].mean(axes: [-1]) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].mean() } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].sumOfSquares(axes: [1, 2]) } < tol)
    }

    @Test("shape ops: reshape, permute, slice, crop, concat, repeat, pad, roll")
    func shapeOps() {
        var rng = SeededGenerator(seed: 11)
        let x = randn([2, 3, 5, 4], &rng), y = randn([2, 2, 5, 4], &rng)
        #expect(finiteDifferenceError([x]) { $0[0].reshaped([6, -1]) * $0[0].reshaped([6, 20]) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].permuted([0, 2, 3, 1]) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].slice(axis: 2, 1, 5, step: 2) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].crop(top: 1, left: 1, height: 3, width: 2) } < tol)
        #expect(finiteDifferenceError([x, y]) { D.concat([$0[0], $0[1]], axis: 1) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].repeated([2, 1, 1, 3]) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].repeated([3, 1, 2, 1, 1]) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].padded([(0, 0), (1, 0), (2, -1), (-1, 2)]) } < tol)
        #expect(finiteDifferenceError([x]) { $0[0].rolled(1, axis: 3) + $0[0].rolled(-2, axis: 2) } < tol)
    }

    @Test("gradients accumulate through shared inputs and skip frozen ones")
    func graphSemantics() {
        var rng = SeededGenerator(seed: 12)
        let x = randn([4], &rng)
        #expect(finiteDifferenceError([x]) { ($0[0] * $0[0] + $0[0]).sum() * $0[0] } < tol)
        let frozen = randn([4], &rng)
        let leaf = randn([4], &rng)
        leaf.requiresGrad = true
        (leaf * frozen).sum().backward()
        #expect(frozen.grad == nil)
        #expect(leaf.grad!.scalars == frozen.scalars)
        // No history without a tensor that needs it, or under withoutGradients.
        #expect((frozen * frozen).gradFn == nil)
        #expect(withoutGradients { (leaf * frozen).gradFn } == nil)
    }
}

/// Direct-loop convolution (reference for the forward pass).
func naiveConv2d(_ x: D, _ w: D, _ b: D?, stride s: Int, pad p: Int, groups g: Int) -> D {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let oh = (h + 2 * p - kh) / s + 1, ow = (wd + 2 * p - kw) / s + 1, og = o / g
    var out = [Double](repeating: 0, count: n * o * oh * ow)
    let xv = x.scalars, wv = w.scalars
    for b0 in 0..<n { for oc in 0..<o { for y in 0..<oh { for xx in 0..<ow {
        var acc = b?.scalars[oc] ?? 0
        let grp = oc / og
        for ci in 0..<cg { for i in 0..<kh { for j in 0..<kw {
            let iy = y * s + i - p, ix = xx * s + j - p
            if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
            acc += wv[((oc * cg + ci) * kh + i) * kw + j] * xv[((b0 * c + grp * cg + ci) * h + iy) * wd + ix]
        } } }
        out[((b0 * o + oc) * oh + y) * ow + xx] = acc
    } } } }
    return D(shape: [n, o, oh, ow], scalars: out)
}

/// Direct-loop transposed convolution (reference for the forward pass).
func naiveConvTranspose2d(_ x: D, _ w: D, _ b: D?, stride s: Int, pad p: Int, outputPadding op: Int) -> D {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (w.shape[1], w.shape[2], w.shape[3])
    let oh = (h - 1) * s - 2 * p + kh + op, ow = (wd - 1) * s - 2 * p + kw + op
    var out = [Double](repeating: 0, count: n * o * oh * ow)
    let xv = x.scalars, wv = w.scalars
    for b0 in 0..<n { for ci in 0..<c { for y in 0..<h { for xx in 0..<wd { for oc in 0..<o { for i in 0..<kh { for j in 0..<kw {
        let oy = y * s + i - p, ox = xx * s + j - p
        if oy < 0 || oy >= oh || ox < 0 || ox >= ow { continue }
        out[((b0 * o + oc) * oh + oy) * ow + ox] += xv[((b0 * c + ci) * h + y) * wd + xx] * wv[((ci * o + oc) * kh + i) * kw + j]
    } } } } } } }
    if let b { for b0 in 0..<n { for oc in 0..<o { for k in 0..<(oh * ow) { out[(b0 * o + oc) * oh * ow + k] += b.scalars[oc] } } } }
    return D(shape: [n, o, oh, ow], scalars: out)
}

@Suite("Graph lifetime")
struct GraphLifetimeTests {
    @Test("a recorded graph is freed with its result (no reference cycles through backward closures)")
    func noCycles() {
        // Weak references to the output of every op that keeps its output for the backward pass.
        var weakOutputs: [() -> AnyObject?] = []
        func track(_ t: Tensor<Double>) -> Tensor<Double> {
            weak var w = t
            weakOutputs.append { w }
            return t
        }
        do {
            var rng = SeededGenerator(seed: 1)
            let x = Tensor<Double>.randomUniform([3, 4], low: 0.5, high: 2, using: &rng)
            x.requiresGrad = true
            let a = track(track(track(track(x.sqrt()).rsqrt()).exp()).sigmoid())
            let out = track((track(a * x).pixelNorm() + x.l2Normalized()).sum())
            out.backward()
        }
        #expect(weakOutputs.allSatisfy { $0() == nil }, "a recorded op outlived its result")
    }
}
