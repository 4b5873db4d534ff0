// Follows rosinality/stylegan2-pytorch op/upfirdn2d.py (`upfirdn2d_native`): upsample by zero insertion,
// pad (negative = crop), FIR filter by true convolution, downsample.

/// Per-side padding of upfirdn2d, in upstream's 4-tuple order (x0, x1, y0, y1). Negative values crop.
public struct UpFirDnPadding: Sendable, Equatable {
    public var x0, x1, y0, y1: Int
    public init(x0: Int, x1: Int, y0: Int, y1: Int) { self.x0 = x0; self.x1 = x1; self.y0 = y0; self.y1 = y1 }
    /// Upstream's 2-tuple form (p0, p1) = (p0, p1, p0, p1).
    public init(_ p0: Int, _ p1: Int) { self.init(x0: p0, x1: p1, y0: p0, y1: p1) }
}

extension Tensor {
    /// upfirdn2d on NCHW: every plane is upsampled by (upX, upY) with zeros, padded, convolved with the
    /// 2-D FIR `kernel` [kh, kw] (true convolution: the kernel is flipped) and subsampled by (downX, downY).
    ///
    /// Output extents: (H·upY + y0 + y1 − kh + downY) / downY by (W·upX + x0 + x1 − kw + downX) / downX.
    /// Gradients flow to the input only (the kernel is a constant buffer upstream).
    public func upfirdn2d(kernel: Tensor<T>, up: (x: Int, y: Int) = (1, 1), down: (x: Int, y: Int) = (1, 1),
                          pad: UpFirDnPadding) -> Tensor<T> {
        precondition(rank == 4 && kernel.rank == 2, "upfirdn2d needs NCHW input and a 2-D kernel, got \(shape), \(kernel.shape)")
        precondition(up.x >= 1 && up.y >= 1 && down.x >= 1 && down.y >= 1, "upfirdn2d: factors must be ≥ 1")
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let (kh, kw) = (kernel.shape[0], kernel.shape[1])
        // Padded, upsampled plane extents and output extents.
        let hp = h * up.y + pad.y0 + pad.y1, wp = w * up.x + pad.x0 + pad.x1
        let oh = (hp - kh + down.y) / down.y, ow = (wp - kw + down.x) / down.x
        precondition(hp >= kh && wp >= kw && oh > 0 && ow > 0, "upfirdn2d: empty output for \(shape) with \(pad)")
        // Flipped kernel: out[oy, ox] = Σ kf[i, j] · p[oy·dy + i, ox·dx + j].
        let kf = UnsafeMutablePointer<T>.allocate(capacity: kh * kw)
        for i in 0..<kh { for j in 0..<kw { kf[i * kw + j] = kernel.storage.pointer[(kh - 1 - i) * kw + (kw - 1 - j)] } }
        let filter = OwnedBuffer(kf)
        let out = Tensor<T>(uninitializedShape: [n, c, oh, ow])
        let x = storage.pointer, o = out.storage.pointer
        let geo = (h: h, w: w, hp: hp, wp: wp, oh: oh, ow: ow, kh: kh, kw: kw)
        Parallel.forChunks(n * c, costPerItem: oh * ow * kh * kw) { planes in
            let p = UnsafeMutablePointer<T>.allocate(capacity: hp * wp)
            defer { p.deallocate() }
            for plane in planes {
                // Materialise the padded, upsampled plane p[py, px] = x[(py − y0)/upY, (px − x0)/upX].
                p.initialize(repeating: 0, count: hp * wp)
                let xs = x + plane * h * w
                for iy in 0..<h {
                    let py = iy * up.y + pad.y0
                    if py < 0 || py >= hp { continue }
                    for ix in 0..<w {
                        let px = ix * up.x + pad.x0
                        if px >= 0 && px < wp { p[py * wp + px] = xs[iy * w + ix] }
                    }
                }
                let os = o + plane * oh * ow
                os.initialize(repeating: 0, count: oh * ow)
                for oy in 0..<oh {
                    let orow = os + oy * ow
                    for i in 0..<kh {
                        let prow = p + (oy * down.y + i) * wp
                        for j in 0..<kw {
                            let k = kf[i * kw + j]
                            if down.x == 1 {
                                let src = prow + j
                                for ox in 0..<ow { orow[ox] += k * src[ox] }
                            } else {
                                for ox in 0..<ow { orow[ox] += k * prow[ox * down.x + j] }
                            }
                        }
                    }
                }
            }
        }
        return Tensor.record("upfirdn2d", out, [self]) { [shape] g in
            let gi = Tensor<T>(uninitializedShape: shape)
            let gp = g.storage.pointer, gip = gi.storage.pointer
            let kf = filter.pointer
            Parallel.forChunks(n * c, costPerItem: geo.oh * geo.ow * geo.kh * geo.kw) { planes in
                let p = UnsafeMutablePointer<T>.allocate(capacity: geo.hp * geo.wp)
                defer { p.deallocate() }
                for plane in planes {
                    // Scatter the output gradient onto the padded plane, then gather the input samples.
                    p.initialize(repeating: 0, count: geo.hp * geo.wp)
                    let gs = gp + plane * geo.oh * geo.ow
                    for oy in 0..<geo.oh {
                        let grow = gs + oy * geo.ow
                        for i in 0..<geo.kh {
                            let prow = p + (oy * down.y + i) * geo.wp
                            for j in 0..<geo.kw {
                                let k = kf[i * geo.kw + j]
                                for ox in 0..<geo.ow { prow[ox * down.x + j] += k * grow[ox] }
                            }
                        }
                    }
                    let gd = gip + plane * geo.h * geo.w
                    for iy in 0..<geo.h {
                        let py = iy * up.y + pad.y0
                        for ix in 0..<geo.w {
                            let px = ix * up.x + pad.x0
                            gd[iy * geo.w + ix] = (py >= 0 && py < geo.hp && px >= 0 && px < geo.wp) ? p[py * geo.wp + px] : 0
                        }
                    }
                }
            }
            return [gi]
        }
    }
}

/// Owns a raw allocation captured by a backward closure.
final class OwnedBuffer<T> {
    let pointer: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { pointer = p }
    deinit { pointer.deallocate() }
}
