// Normalisations and similarities: batch norm in eval mode (torch BatchNorm1d/2d with running stats),
// rosinality PixelNorm, L2 normalisation, cosine similarity.

extension Tensor {
    /// Batch normalisation with fixed statistics (eval mode):
    /// `(x − mean[c]) / √(var[c] + eps) · weight[c] + bias[c]` along axis 1 of [N, C, …].
    /// `weight`/`bias` may be nil (affine=False). Gradients flow to x, weight and bias.
    public func batchNorm(mean: Tensor<T>, variance: Tensor<T>, weight: Tensor<T>?, bias: Tensor<T>?,
                          eps: T = 1e-5) -> Tensor<T> {
        let c = channelLayout.channels
        precondition(mean.count == c && variance.count == c, "batch norm statistics do not match \(c) channels")
        var shapeC = [Int](repeating: 1, count: rank)
        shapeC[1] = c
        // The statistics are constants: fold them into one scale and shift per channel.
        let invStd = Tensor<T>(uninitializedShape: shapeC)
        let mu = Tensor<T>(uninitializedShape: shapeC)
        for i in 0..<c {
            invStd.storage.pointer[i] = 1 / (variance.storage.pointer[i] + eps).squareRoot()
            mu.storage.pointer[i] = mean.storage.pointer[i]
        }
        var y = (self - mu) * invStd
        if let weight { y = y * weight.reshaped(shapeC) }
        if let bias { y = y + bias.reshaped(shapeC) }
        return y
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
