// Follows rosinality/stylegan2-pytorch model.py `ModulatedConv2d` (and `Blur`, `make_kernel`), computed in
// the equivalent styles-on-activations form.
import VoiceStyleEngine

/// rosinality's `make_kernel(k)`: the outer product of a 1-D kernel, normalised to sum 1, times `scale`.
public func makeBlurKernel(_ k: [Float] = [1, 3, 3, 1], scale: Float = 1) -> Tensor<Float> {
    let n = k.count
    var values = [Float](repeating: 0, count: n * n)
    for i in 0..<n { for j in 0..<n { values[i * n + j] = k[i] * k[j] } }
    let total = values.reduce(0, +)
    return Tensor(shape: [n, n], scalars: values.map { $0 / total * scale })
}

/// A 3×3 (or k×k) convolution whose input channels are modulated per sample by a style, with optional
/// demodulation, 2× upsampling (transposed convolution + blur) or 2× downsampling (blur + strided conv).
///
/// Upstream modulates the weight per sample, w'[b,o,i] = scale·W[o,i]·s[b,i], demodulates it by
/// d[b,o] = rsqrt(Σ_{i,kh,kw} w'² + 1e-8) and convolves grouped by sample. This computes the identical
/// result as conv(x·scale·s[b,i], W)·d[b,o]: the fixed weight serves the whole batch and the backward pass
/// needs no per-sample weight gradients.
///
/// Shapes: x [B, in, H, W], style [B, styleDim] → [B, out, H', W'] with H' = 2H (upsample), H/2
/// (downsample) or H.
public final class ModulatedConv2d {
    /// Stored weight [1, out, in, k, k] viewed as [out, in, k, k] (raw: `scale` is applied in forward).
    public let weight: Tensor<Float>
    public let modulation: EqualLinear
    public let demodulate: Bool
    public let upsample: Bool
    public let downsample: Bool
    /// The blur kernel as used (`make_kernel(blur)·4` for upsampling), or nil.
    public let blurKernel: Tensor<Float>?
    /// 1/√(in·k²).
    public let scale: Float
    private let blurPad: UpFirDnPadding
    private var cachedSquares: Tensor<Float>?
    private var cachedTransposed: Tensor<Float>?

    public var inChannels: Int { weight.shape[1] }
    public var outChannels: Int { weight.shape[0] }
    public var kernelSize: Int { weight.shape[2] }

    /// - Parameters:
    ///   - weight: [1, out, in, k, k] or [out, in, k, k].
    ///   - blurKernel: the stored `blur.kernel` buffer, or nil to compute it from `blur` (upstream's values).
    public init(weight: Tensor<Float>, modulation: EqualLinear, demodulate: Bool = true, upsample: Bool = false,
                downsample: Bool = false, blur: [Float] = [1, 3, 3, 1], blurKernel: Tensor<Float>? = nil) {
        let w = weight.rank == 5 ? weight.reshaped(Array(weight.shape.dropFirst())) : weight
        precondition(w.rank == 4 && modulation.outFeatures == w.shape[1],
                     "ModulatedConv2d: weight \(weight.shape) does not fit modulation \(modulation.weight.shape)")
        self.weight = w
        self.modulation = modulation
        self.demodulate = demodulate
        self.upsample = upsample
        self.downsample = downsample
        let k = w.shape[2], taps = blur.count
        scale = 1 / Float(w.shape[1] * k * k).squareRoot()
        if upsample {
            let p = (taps - 2) - (k - 1)
            blurPad = UpFirDnPadding((p + 1) / 2 + 1, p / 2 + 1)
            self.blurKernel = blurKernel ?? makeBlurKernel(blur, scale: 4)
        } else if downsample {
            let p = (taps - 2) + (k - 1)
            blurPad = UpFirDnPadding((p + 1) / 2, p / 2)
            self.blurKernel = blurKernel ?? makeBlurKernel(blur)
        } else {
            blurPad = UpFirDnPadding(0, 0)
            self.blurKernel = nil
        }
    }

    /// Reads `prefix.weight` [1, out, in, k, k] (random: N(0, 1)), the optional `prefix.blur.kernel` when
    /// upsampling, and the modulation `prefix.modulation.{weight,bias}` [in, styleDim], [in] (random bias 1).
    convenience init(_ r: ParameterReader, _ prefix: String, out: Int, in cin: Int, kernel k: Int, styleDim: Int,
                     demodulate: Bool = true, upsample: Bool = false, blur: [Float]) {
        let weight = r.tensor("\(prefix).weight", [1, out, cin, k, k], .standardNormal)
        let blurKernel = upsample ? r.optional("\(prefix).blur.kernel", [blur.count, blur.count]) : nil
        self.init(weight: weight, modulation: EqualLinear(r, "\(prefix).modulation", out: cin, in: styleDim, biasInit: 1),
                  demodulate: demodulate, upsample: upsample, blur: blur, blurKernel: blurKernel)
    }

    /// Σ_{kh,kw} W[o,i]² as [in, out] (constant while the weight is frozen).
    private func weightSquares() -> Tensor<Float> {
        if weight.needsGrad { return weight.square().sum(axes: [2, 3]).transposed() }
        if let c = cachedSquares { return c }
        let c = withoutGradients { weight.square().sum(axes: [2, 3]).transposed() }
        cachedSquares = c
        return c
    }

    /// The weight in conv_transpose2d layout [in, out, k, k].
    private func transposedWeight() -> Tensor<Float> {
        if weight.needsGrad { return weight.permuted([1, 0, 2, 3]) }
        if let c = cachedTransposed { return c }
        let c = withoutGradients { weight.permuted([1, 0, 2, 3]) }
        cachedTransposed = c
        return c
    }

    /// The modulated convolution before demodulation, and the demodulation coefficients d [B, out] (nil
    /// without demodulation). The output times d[b, o] is the layer's output; StyledConv fuses that product
    /// into its activation. For upsampling, the blur runs before the product (both are per-channel linear).
    public func modulatedConvolution(_ x: Tensor<Float>, style: Tensor<Float>) -> (output: Tensor<Float>, demodulation: Tensor<Float>?) {
        let b = x.shape[0]
        precondition(x.rank == 4 && x.shape[1] == inChannels, "ModulatedConv2d: input \(x.shape) for \(inChannels) channels")
        let s = modulation(style) * scale  // [B, in]
        let modulated = x * s.reshaped([b, inChannels, 1, 1])
        let out: Tensor<Float>
        if upsample {
            out = modulated.convTranspose2d(weight: transposedWeight(), stride: 2).upfirdn2d(kernel: blurKernel!, pad: blurPad)
        } else if downsample {
            out = modulated.upfirdn2d(kernel: blurKernel!, pad: blurPad).conv2d(weight: weight, stride: 2)
        } else {
            out = modulated.conv2d(weight: weight, padding: kernelSize / 2)
        }
        guard demodulate else { return (out, nil) }
        return (out, (s.square().matmul(weightSquares()) + 1e-8).rsqrt())
    }

    public func callAsFunction(_ x: Tensor<Float>, style: Tensor<Float>) -> Tensor<Float> {
        let (out, d) = modulatedConvolution(x, style: style)
        guard let d else { return out }
        return out * d.reshaped([x.shape[0], outChannels, 1, 1])
    }
}
