// Normalisations and similarities: batch norm in eval mode (torch BatchNorm1d/2d with running stats),
// rosinality PixelNorm, L2 normalisation, cosine similarity.

extension Tensor {
    /// Batch normalisation with fixed statistics (eval mode):
    /// `(x − mean[c]) / √(var[c] + eps) · weight[c] + bias[c]` along axis 1 of [N, C, …].
    /// `weight`/`bias` may be nil (affine=False). One pass forward (x·a[c] + b[c]); gradients flow to x,
    /// weight and bias (the statistics are constants). x is kept for the backward only when weight needs it.
    public func batchNorm(mean: Tensor<T>, variance: Tensor<T>, weight: Tensor<T>?, bias: Tensor<T>?,
                          eps: T = 1e-5) -> Tensor<T> {
        let (outer, c, inner) = channelLayout
        precondition(mean.count == c && variance.count == c && (weight?.count ?? c) == c && (bias?.count ?? c) == c,
                     "batch norm parameters do not match \(c) channels of \(shape)")
        let (scale, shift, invStd) = Tensor.batchNormAffine(mean: mean, variance: variance, weight: weight, bias: bias, eps: eps)
        let out = Tensor<T>(uninitializedShape: shape)
        let x = storage.pointer, o = out.storage.pointer
        Parallel.forChunks(outer * c, costPerItem: inner) { planes in
            for p in planes {
                let a = scale[p % c], b = shift[p % c]
                for i in (p * inner)..<((p + 1) * inner) { o[i] = x[i] * a + b }
            }
        }
        var inputs = [self]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let keep: Tensor<T>? = (weight?.needsGrad ?? false) ? self : nil
        let xNeeds = needsGrad, xShape = shape
        return Tensor.record("batchNorm", out, inputs) { g in
            let gp = g.storage.pointer
            var gx: Tensor<T>? = nil
            if xNeeds {
                let t = Tensor<T>(uninitializedShape: xShape)
                let tp = t.storage.pointer
                Parallel.forChunks(outer * c, costPerItem: inner) { planes in
                    for p in planes {
                        let a = scale[p % c]
                        for i in (p * inner)..<((p + 1) * inner) { tp[i] = gp[i] * a }
                    }
                }
                gx = t
            }
            var grads: [Tensor<T>?] = [gx]
            if let weight {
                var gw: Tensor<T>? = nil
                if let keep {
                    let t = Tensor<T>(zeros: [c]), xp = keep.storage.pointer, m = mean.storage.pointer
                    for p in 0..<(outer * c) {
                        let ch = p % c
                        var acc = 0.0
                        for i in (p * inner)..<((p + 1) * inner) { acc += Double(gp[i] * (xp[i] - m[ch])) }
                        t.storage.pointer[ch] += T(acc) * invStd[ch]
                    }
                    gw = t.reshaped(weight.shape)
                }
                grads.append(gw)
            }
            if let bias { grads.append(bias.needsGrad ? g.sumPerChannel().reshaped(bias.shape) : nil) }
            return grads
        }
    }

    /// Eval-mode batch norm as a per-channel affine map `x·scale[c] + shift[c]`: scale = weight / √(var + eps),
    /// shift = bias − mean · scale (and the 1 / √(var + eps) the backward uses). What `batchNorm` applies and
    /// what a convolution folds in (`FoldedConvolution`).
    public static func batchNormAffine(mean: Tensor<T>, variance: Tensor<T>, weight: Tensor<T>?, bias: Tensor<T>?,
                                       eps: T) -> (scale: [T], shift: [T], invStd: [T]) {
        let c = mean.count
        var scale = [T](repeating: 0, count: c), shift = [T](repeating: 0, count: c), invStd = [T](repeating: 0, count: c)
        for i in 0..<c {
            invStd[i] = 1 / (variance.storage.pointer[i] + eps).squareRoot()
            scale[i] = invStd[i] * (weight?.storage.pointer[i] ?? 1)
            shift[i] = (bias?.storage.pointer[i] ?? 0) - mean.storage.pointer[i] * scale[i]
        }
        return (scale, shift, invStd)
    }

    /// rosinality PixelNorm: `x · rsqrt(mean(x², axis 1) + 1e-8)`.
    public func pixelNorm(eps: T = 1e-8) -> Tensor<T> {
        self * (square().mean(axes: [1], keepDims: true) + eps).rsqrt()
    }

    /// `x / ‖x‖₂` along `axis` (pSp's l2_norm has no epsilon: pass eps 0 to match it; otherwise the norm is
    /// clamped below at eps, as F.normalize).
    public func l2Normalized(axis a: Int = 1, eps: T = 0) -> Tensor<T> {
        var norm = square().sum(axes: [a], keepDims: true).sqrt()
        if eps > 0 { norm = norm.clamp(min: eps) }
        return self / norm
    }

    /// Cosine similarity along `axis`: Σ a·b / (‖a‖·‖b‖). No epsilon (as voicestyle's cosin_metric) unless
    /// `eps` > 0, which clamps each norm below (F.cosine_similarity).
    public static func cosineSimilarity(_ a: Tensor<T>, _ b: Tensor<T>, axis: Int = 1, eps: T = 0) -> Tensor<T> {
        var na = a.square().sum(axes: [axis]).sqrt(), nb = b.square().sum(axes: [axis]).sqrt()
        if eps > 0 { na = na.clamp(min: eps); nb = nb.clamp(min: eps) }
        return (a * b).sum(axes: [axis]) / (na * nb)
    }
}
