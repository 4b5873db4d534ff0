// Spatial pooling on NCHW (and NCL) tensors: max pool, average pool, adaptive average pool with PyTorch's
// uneven bins (torch.nn.functional max_pool2d / avg_pool2d / adaptive_avg_pool1d / adaptive_avg_pool2d).

extension Tensor {
    /// 2-D max pooling; padding counts as −∞. Output extent (H + 2p − k) / s + 1 (floor).
    /// The gradient goes to the first maximal element of each window (as PyTorch).
    public func maxPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor<T> {
        precondition(rank == 4, "maxPool2d needs NCHW, got \(shape)")
        let s = stride ?? kernel
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let oh = (h + 2 * padding - kernel) / s + 1, ow = (w + 2 * padding - kernel) / s + 1
        precondition(oh > 0 && ow > 0, "maxPool2d: window \(kernel) larger than the padded input \(shape)")
        let out = Tensor<T>(uninitializedShape: [n, c, oh, ow])
        let argmax = UnsafeMutableBufferPointer<Int32>.allocate(capacity: out.count)
        let x = storage.pointer, o = out.storage.pointer
        Parallel.forChunks(n * c, costPerItem: oh * ow * kernel * kernel) { planes in
            for p in planes {
                let xp = x + p * h * w
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var best = -T.infinity, at: Int32 = -1
                        for ky in 0..<kernel {
                            let iy = oy * s - padding + ky
                            if iy < 0 || iy >= h { continue }
                            for kx in 0..<kernel {
                                let ix = ox * s - padding + kx
                                if ix < 0 || ix >= w { continue }
                                let v = xp[iy * w + ix]
                                if v > best || v.isNaN || at < 0 { best = v; at = Int32(iy * w + ix) }
                            }
                        }
                        let oi = (p * oh + oy) * ow + ox
                        o[oi] = best
                        argmax[oi] = at
                    }
                }
            }
        }
        let box = ArgmaxBox(argmax)
        return Tensor.record("maxPool2d", out, [self]) { [shape] g in
            let gi = Tensor<T>(zeros: shape)
            let gp = g.storage.pointer, gip = gi.storage.pointer
            for p in 0..<(n * c) {
                for j in 0..<(oh * ow) {
                    let idx = box.indices[p * oh * ow + j]
                    if idx >= 0 { gip[p * h * w + Int(idx)] += gp[p * oh * ow + j] }
                }
            }
            return [gi]
        }
    }

    /// 2-D average pooling (zero padding counted in the divisor when `countIncludePad`, as PyTorch's default).
    public func avgPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0, countIncludePad: Bool = true) -> Tensor<T> {
        precondition(rank == 4, "avgPool2d needs NCHW, got \(shape)")
        let s = stride ?? kernel
        let (h, w) = (shape[2], shape[3])
        let oh = (h + 2 * padding - kernel) / s + 1, ow = (w + 2 * padding - kernel) / s + 1
        precondition(oh > 0 && ow > 0, "avgPool2d: window \(kernel) larger than the padded input \(shape)")
        let rows = (0..<oh).map { oy -> PoolBin in
            let a = oy * s - padding, b = a + kernel
            return PoolBin(start: Swift.max(a, 0), end: Swift.min(b, h), divisor: countIncludePad ? kernel : Swift.min(b, h) - Swift.max(a, 0))
        }
        let cols = (0..<ow).map { ox -> PoolBin in
            let a = ox * s - padding, b = a + kernel
            return PoolBin(start: Swift.max(a, 0), end: Swift.min(b, w), divisor: countIncludePad ? kernel : Swift.min(b, w) - Swift.max(a, 0))
        }
        return pooled(rows: rows, cols: cols, name: "avgPool2d")
    }

    /// Adaptive average pooling to `outHeight × outWidth`: bin i covers [⌊i·H/out⌋, ⌈(i+1)·H/out⌉).
    public func adaptiveAvgPool2d(outHeight: Int, outWidth: Int) -> Tensor<T> {
        precondition(rank == 4, "adaptiveAvgPool2d needs NCHW, got \(shape)")
        return pooled(rows: PoolBin.adaptive(shape[2], outHeight), cols: PoolBin.adaptive(shape[3], outWidth),
                      name: "adaptiveAvgPool2d")
    }

    /// Adaptive average pooling of [N, C, L] to [N, C, out].
    public func adaptiveAvgPool1d(_ outLength: Int) -> Tensor<T> {
        precondition(rank == 3, "adaptiveAvgPool1d needs [N, C, L], got \(shape)")
        return reshaped([shape[0], shape[1], 1, shape[2]])
            .pooled(rows: [PoolBin(start: 0, end: 1, divisor: 1)], cols: PoolBin.adaptive(shape[2], outLength),
                    name: "adaptiveAvgPool1d")
            .reshaped([shape[0], shape[1], outLength])
    }

    /// Separable average pooling over row bins × column bins (divisor = row divisor × column divisor).
    func pooled(rows: [PoolBin], cols: [PoolBin], name: String) -> Tensor<T> {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let oh = rows.count, ow = cols.count
        let out = Tensor<T>(uninitializedShape: [n, c, oh, ow])
        let x = storage.pointer, o = out.storage.pointer
        Parallel.forChunks(n * c, costPerItem: h * w) { planes in
            for p in planes {
                let xp = x + p * h * w
                for (oy, r) in rows.enumerated() {
                    for (ox, q) in cols.enumerated() {
                        var acc: T = 0
                        for iy in r.start..<r.end { for ix in q.start..<q.end { acc += xp[iy * w + ix] } }
                        o[(p * oh + oy) * ow + ox] = acc / T(r.divisor * q.divisor)
                    }
                }
            }
        }
        return Tensor.record(name, out, [self]) { [shape] g in
            let gi = Tensor<T>(zeros: shape)
            let gp = g.storage.pointer, gip = gi.storage.pointer
            for p in 0..<(n * c) {
                let gq = gip + p * h * w
                for (oy, r) in rows.enumerated() {
                    for (ox, q) in cols.enumerated() {
                        let v = gp[(p * oh + oy) * ow + ox] / T(r.divisor * q.divisor)
                        for iy in r.start..<r.end { for ix in q.start..<q.end { gq[iy * w + ix] += v } }
                    }
                }
            }
            return [gi]
        }
    }
}

/// One pooling window along one axis: input range and divisor.
struct PoolBin {
    var start: Int, end: Int, divisor: Int

    /// PyTorch's adaptive bins: [⌊i·n/out⌋, ⌈(i+1)·n/out⌉).
    static func adaptive(_ n: Int, _ out: Int) -> [PoolBin] {
        precondition(out > 0, "adaptive pooling to 0 bins")
        return (0..<out).map { i in
            let a = (i * n) / out, b = ((i + 1) * n + out - 1) / out
            return PoolBin(start: a, end: b, divisor: b - a)
        }
    }
}

/// Owns the argmax indices a max-pool backward needs.
final class ArgmaxBox {
    let indices: UnsafeMutableBufferPointer<Int32>
    init(_ i: UnsafeMutableBufferPointer<Int32>) { indices = i }
    deinit { indices.deallocate() }
}
