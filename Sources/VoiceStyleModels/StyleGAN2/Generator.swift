// Follows rosinality/stylegan2-pytorch model.py `Generator` (with `StyledConv`, `ToRGB`, `NoiseInjection`,
// `ConstantInput`, `PixelNorm`, `Upsample`), as used by voicestyle generation/model.py.
import Foundation
import VoiceStyleCheckpoints
import VoiceStyleEngine

/// Architecture of a rosinality generator. Defaults equal upstream's `Generator(256, 512, 8)`.
public struct GeneratorConfig: Sendable, Equatable {
    /// Output resolution (a power of two ≥ 4).
    public var size: Int = 256
    /// Width of z and W.
    public var styleDim: Int = 512
    /// Number of EqualLinear layers in the mapping network.
    public var mappingLayers: Int = 8
    /// Learning-rate multiplier of the mapping network (not stored in checkpoints; upstream default 0.01).
    public var lrMLP: Float = 0.01
    /// Channels per resolution (4, 8, …, size); channel multiplier 2 gives 512 up to 64 px, then 256, 128, 64, 32.
    public var channels: [Int: Int] = [4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32]
    /// 1-D blur kernel of the up/down-sampling layers.
    public var blur: [Float] = [1, 3, 3, 1]

    public init() {}

    /// log₂(size).
    public var logSize: Int { Int(log2(Double(size)).rounded()) }
    /// Number of per-layer latents: 2·log₂(size) − 2 (14 at 256 px).
    public var latentCount: Int { 2 * logSize - 2 }
    /// Number of noise inputs: 2·log₂(size) − 3 (13 at 256 px).
    public var noiseCount: Int { 2 * logSize - 3 }
    /// Resolution of noise input i: 2^((i + 5) / 2) → 4, 8, 8, 16, 16, …
    public func noiseResolution(_ i: Int) -> Int { 1 << ((i + 5) / 2) }

    /// The architecture a state dict implies: style width from `style.1.weight`, mapping depth from the
    /// `style.N.weight` keys, resolution from the number of `to_rgbs`, channels from the conv weights.
    public static func inferred(from shapes: [String: [Int]], lrMLP: Float = 0.01, file: String = "") throws -> GeneratorConfig {
        func fail(_ why: String) -> StateDictError {
            StateDictError(model: "StyleGAN2 generator", file: file, missing: [why], unexpected: [], misShaped: [])
        }
        guard let s1 = shapes["style.1.weight"], s1.count == 2 else { throw fail("style.1.weight") }
        guard let input = shapes["input.input"], input.count == 4 else { throw fail("input.input") }
        var c = GeneratorConfig()
        c.styleDim = s1[1]
        c.lrMLP = lrMLP
        var n = 0
        while shapes["style.\(n + 1).weight"] != nil { n += 1 }
        c.mappingLayers = n
        var rgbs = 0
        while shapes["to_rgbs.\(rgbs).conv.weight"] != nil { rgbs += 1 }
        c.size = 1 << (rgbs + 2)
        var channels: [Int: Int] = [4: input[1]]
        for k in 0..<rgbs {
            guard let w = shapes["convs.\(2 * k).conv.weight"], w.count == 5 else { throw fail("convs.\(2 * k).conv.weight") }
            channels[1 << (k + 3)] = w[1]
        }
        c.channels = channels
        return c
    }

    /// Every state-dict key and shape of this architecture, in upstream order (recorded from the
    /// generator's declaration). Noise buffers and blur kernels are optional.
    public var parameterSpecs: [ParameterSpec] {
        let r = ParameterReader.recording()
        _ = StyleGAN2Generator(r, config: self, latentAverage: nil)
        return r.specs
    }
}

/// ModulatedConv2d → NoiseInjection (out + weight·noise) → FusedLeakyReLU(bias).
public final class StyledConv {
    public let conv: ModulatedConv2d
    /// NoiseInjection weight [1].
    public let noiseWeight: Tensor<Float>
    /// FusedLeakyReLU bias [out].
    public let activationBias: Tensor<Float>

    public init(conv: ModulatedConv2d, noiseWeight: Tensor<Float>, activationBias: Tensor<Float>) {
        self.conv = conv
        self.noiseWeight = noiseWeight
        self.activationBias = activationBias
    }

    /// Reads `prefix.conv.*` (a 3×3 ModulatedConv2d), `prefix.noise.weight` [1] (random: 0.1) and
    /// `prefix.activate.bias` [out] (random: 0).
    convenience init(_ r: ParameterReader, _ prefix: String, out: Int, in cin: Int, styleDim: Int, upsample: Bool, blur: [Float]) {
        self.init(conv: ModulatedConv2d(r, "\(prefix).conv", out: out, in: cin, kernel: 3, styleDim: styleDim, upsample: upsample, blur: blur),
                  noiseWeight: r.tensor("\(prefix).noise.weight", [1], .constant(0.1)),
                  activationBias: r.tensor("\(prefix).activate.bias", [out], .constant(0)))
    }

    /// x [B, in, H, W], style [B, D], noise [B or 1, 1, H', W'] → [B, out, H', W'].
    public func callAsFunction(_ x: Tensor<Float>, style: Tensor<Float>, noise: Tensor<Float>) -> Tensor<Float> {
        let (out, d) = conv.modulatedConvolution(x, style: style)
        return StyledConv.epilogue(out, demodulation: d, noise: noise, noiseWeight: noiseWeight, bias: activationBias)
    }

    /// leaky_relu(o·d[b,c] + w·noise + bias[c], 0.2)·√2 as one op: one pass forward, one backward, and only
    /// `o` kept for the backward (the pre-activation is recomputed).
    ///
    /// Shapes: o [B, C, H, W], d [B, C] or nil (1), noise [B or 1, 1, H, W], noiseWeight [1], bias [C].
    static func epilogue(_ o: Tensor<Float>, demodulation d: Tensor<Float>?, noise: Tensor<Float>,
                         noiseWeight: Tensor<Float>, bias: Tensor<Float>) -> Tensor<Float> {
        let (b, c, h, w) = (o.shape[0], o.shape[1], o.shape[2], o.shape[3])
        let hw = h * w
        precondition(noise.rank == 4 && noise.shape[1] == 1 && noise.shape[2] == h && noise.shape[3] == w
                     && (noise.shape[0] == 1 || noise.shape[0] == b), "noise \(noise.shape) does not fit \(o.shape)")
        precondition(bias.count == c && noiseWeight.count == 1 && (d == nil || d!.shape == [b, c]), "StyledConv parameters do not fit \(o.shape)")
        let noiseBatch = noise.shape[0]
        let slope: Float = 0.2, gain = Float(2).squareRoot()
        let out = Tensor<Float>(uninitializedShape: o.shape)
        let op = o.storage.pointer, np = noise.storage.pointer, bp = bias.storage.pointer, outp = out.storage.pointer
        let dp = d?.storage.pointer
        let nw = noiseWeight.storage.pointer[0]
        Parallel.forChunks(b * c, costPerItem: hw) { planes in
            for plane in planes {
                let bi = plane / c, ci = plane % c
                let scale = dp?[plane] ?? 1, shift = bp[ci]
                let src = op + plane * hw, dst = outp + plane * hw, nz = np + (noiseBatch == 1 ? 0 : bi) * hw
                for i in 0..<hw {
                    let z = src[i] * scale + nw * nz[i] + shift
                    dst[i] = (z > 0 ? z : z * slope) * gain
                }
            }
        }
        var inputs = [o, noise, noiseWeight, bias]
        if let d { inputs.append(d) }
        return Tensor.custom("styledConvEpilogue", out, inputs: inputs) { g in
            let gp = g.storage.pointer
            // dL/dz for every element, then the reductions each input needs.
            let gz = Tensor<Float>(uninitializedShape: o.shape)
            let gzp = gz.storage.pointer
            let dScale = d.map { Tensor<Float>(zeros: $0.shape) }
            let biasGrad = Tensor<Float>(zeros: [c])
            let noiseGrad = Tensor<Float>(zeros: noise.shape)
            var weightGrad = 0.0
            let nwNeeds = noiseWeight.needsGrad
            // Per plane: gz, Σ gz·o (for d), Σ gz (for bias), Σ gz·noise (for the noise weight).
            let sums = UnsafeMutablePointer<(Double, Double, Double)>.allocate(capacity: b * c)
            defer { sums.deallocate() }
            Parallel.forChunks(b * c, costPerItem: hw) { planes in
                for plane in planes {
                    let bi = plane / c, ci = plane % c
                    let scale = dp?[plane] ?? 1, shift = bp[ci]
                    let src = op + plane * hw, gsrc = gp + plane * hw, gdst = gzp + plane * hw
                    let nz = np + (noiseBatch == 1 ? 0 : bi) * hw
                    var so = 0.0, sb = 0.0, sn = 0.0
                    for i in 0..<hw {
                        let z = src[i] * scale + nw * nz[i] + shift
                        let v = gsrc[i] * gain * (z > 0 ? 1 : slope)
                        gdst[i] = v
                        so += Double(v * src[i]); sb += Double(v)
                        if nwNeeds { sn += Double(v * nz[i]) }
                    }
                    sums[plane] = (so, sb, sn)
                }
            }
            for plane in 0..<(b * c) {
                dScale?.storage.pointer[plane] = Float(sums[plane].0)
                biasGrad.storage.pointer[plane % c] += Float(sums[plane].1)
                weightGrad += sums[plane].2
            }
            if noise.needsGrad {
                // Σ over channels of gz·w, summed over the batch when the noise is shared.
                let ngp = noiseGrad.storage.pointer
                for bi in 0..<b {
                    let dst = ngp + (noiseBatch == 1 ? 0 : bi) * hw
                    for ci in 0..<c {
                        let src = gzp + (bi * c + ci) * hw
                        for i in 0..<hw { dst[i] += nw * src[i] }
                    }
                }
            }
            var go: Tensor<Float>? = nil
            if o.needsGrad {
                if let dp {
                    let t = Tensor<Float>(uninitializedShape: o.shape)
                    let tp = t.storage.pointer
                    Parallel.forChunks(b * c, costPerItem: hw) { planes in
                        for plane in planes {
                            let s = dp[plane], src = gzp + plane * hw, dst = tp + plane * hw
                            for i in 0..<hw { dst[i] = src[i] * s }
                        }
                    }
                    go = t
                } else {
                    go = gz
                }
            }
            var grads: [Tensor<Float>?] = [go, noise.needsGrad ? noiseGrad : nil,
                                           nwNeeds ? Tensor<Float>(shape: noiseWeight.shape, scalars: [Float(weightGrad)]) : nil,
                                           bias.needsGrad ? biasGrad : nil]
            if let d { grads.append(d.needsGrad ? dScale : nil) }
            return grads
        }
    }
}

/// Modulated 1×1 convolution to RGB (no demodulation) + bias, plus the upsampled previous RGB (skip).
public final class ToRGB {
    public let conv: ModulatedConv2d
    /// [1, 3, 1, 1]
    public let bias: Tensor<Float>
    /// Upsample kernel (make_kernel·4), nil for the first ToRGB (no skip input).
    public let upsampleKernel: Tensor<Float>?

    public init(conv: ModulatedConv2d, bias: Tensor<Float>, upsampleKernel: Tensor<Float>?) {
        self.conv = conv
        self.bias = bias
        self.upsampleKernel = upsampleKernel
    }

    /// Reads `prefix.bias` [1, 3, 1, 1] (random: 0), the optional `prefix.upsample.kernel` (computed from
    /// `blur` when absent) for the skip input, and `prefix.conv.*` (a 1×1 ModulatedConv2d, no demodulation).
    convenience init(_ r: ParameterReader, _ prefix: String, in cin: Int, styleDim: Int, upsample: Bool, blur: [Float]) {
        let bias = r.tensor("\(prefix).bias", [1, 3, 1, 1], .constant(0))
        let kernel = upsample ? (r.optional("\(prefix).upsample.kernel", [blur.count, blur.count]) ?? makeBlurKernel(blur, scale: 4)) : nil
        self.init(conv: ModulatedConv2d(r, "\(prefix).conv", out: 3, in: cin, kernel: 1, styleDim: styleDim, demodulate: false, blur: blur),
                  bias: bias, upsampleKernel: kernel)
    }

    public func callAsFunction(_ x: Tensor<Float>, style: Tensor<Float>, skip: Tensor<Float>?) -> Tensor<Float> {
        var out = conv(x, style: style) + bias
        if let skip, let k = upsampleKernel {
            // Upsample(kernel, factor 2): upfirdn2d(up=2, pad=(p0, p1)) with p = len(k) − 2.
            let p = k.shape[0] - 2
            out = out + skip.upfirdn2d(kernel: k, up: (2, 2), pad: UpFirDnPadding((p + 1) / 2 + 1, p / 2))
        }
        return out
    }
}

/// Where the per-layer noise comes from.
public enum GeneratorNoise {
    /// Fresh N(0,1) maps from a seeded generator (upstream's randomize_noise=True, made reproducible).
    case random(seed: UInt64)
    /// The checkpoint's `noises.noise_i` buffers (upstream's randomize_noise=False).
    case stored
    /// All zeros.
    case zero
    /// Explicit maps, one per layer, each [B or 1, 1, R, R].
    case given([Tensor<Float>])
}

/// rosinality's StyleGAN2 generator (mapping network + synthesis network), parameters frozen.
///
/// Inputs: z or W latents [B, styleDim], or W+ latents [B, latentCount, styleDim]. Output: images
/// [B, 3, size, size], nominally in [-1, 1] (not clamped). Gradients flow to latents and noise maps that
/// require them.
public final class StyleGAN2Generator {
    public let config: GeneratorConfig
    public let mapping: [EqualLinear]
    public let constantInput: Tensor<Float>
    public let conv1: StyledConv
    public let toRGB1: ToRGB
    /// Per resolution above 4: (upsampling conv, conv, ToRGB).
    public let blocks: [(up: StyledConv, conv: StyledConv, toRGB: ToRGB)]
    /// The checkpoint's noise buffers (nil when absent, as in 550000.pt).
    public let storedNoise: [Tensor<Float>]?
    /// The checkpoint's `latent_avg` (train-style files), or nil.
    public let latentAverage: Tensor<Float>?

    /// The generator of architecture `cfg`, read from `r` (the one place its keys are spelled, in upstream
    /// order); `latentAverage` must hold `styleDim` values.
    init(_ r: ParameterReader, config cfg: GeneratorConfig, latentAverage: Tensor<Float>?) {
        let d = cfg.styleDim
        config = cfg
        mapping = (0..<cfg.mappingLayers).map { EqualLinear(r, "style.\($0 + 1)", out: d, in: d, lrMul: cfg.lrMLP, activation: true) }
        let c4 = cfg.channels[4] ?? 512
        constantInput = r.tensor("input.input", [1, c4, 4, 4], .standardNormal)
        conv1 = StyledConv(r, "conv1", out: c4, in: c4, styleDim: d, upsample: false, blur: cfg.blur)
        toRGB1 = ToRGB(r, "to_rgb1", in: c4, styleDim: d, upsample: false, blur: cfg.blur)
        var cin = c4
        blocks = (0..<(cfg.logSize - 2)).map { k in
            let cout = cfg.channels[1 << (k + 3)] ?? 512
            defer { cin = cout }
            return (StyledConv(r, "convs.\(2 * k)", out: cout, in: cin, styleDim: d, upsample: true, blur: cfg.blur),
                    StyledConv(r, "convs.\(2 * k + 1)", out: cout, in: cout, styleDim: d, upsample: false, blur: cfg.blur),
                    ToRGB(r, "to_rgbs.\(k)", in: cout, styleDim: d, upsample: true, blur: cfg.blur))
        }
        let noises = (0..<cfg.noiseCount).compactMap { i in
            r.optional("noises.noise_\(i)", [1, 1, cfg.noiseResolution(i), cfg.noiseResolution(i)])
        }
        storedNoise = noises.count == cfg.noiseCount ? noises : nil
        self.latentAverage = latentAverage?.reshaped([1, d])
    }

    /// Builds the generator from a state dict (keys as `Generator.state_dict()`), inferring the architecture.
    public convenience init(stateDict: StateDict, latentAverage: Tensor<Float>? = nil, lrMLP: Float = 0.01) throws {
        let cfg = try GeneratorConfig.inferred(from: stateDict.shapes, lrMLP: lrMLP, file: stateDict.file)
        let r = ParameterReader(stateDict)
        let fits = latentAverage.map { $0.count == cfg.styleDim } ?? true
        self.init(r, config: cfg, latentAverage: fits ? latentAverage : nil)
        try r.finish(model: "StyleGAN2 generator (\(cfg.size) px)")
        if let latentAverage, !fits {
            throw StateDictError(model: "StyleGAN2 generator", file: stateDict.file, missing: [], unexpected: [],
                                 misShaped: [("latent_avg", [cfg.styleDim], latentAverage.shape)])
        }
    }

    /// A generator of architecture `config` with seeded random weights: raw equalised weights and the
    /// constant input N(0, 1), modulation biases 1, noise weights 0.1, other biases 0; no noise buffers.
    public static func random(_ config: GeneratorConfig, seed: UInt64) throws -> StyleGAN2Generator {
        let r = ParameterReader.random(seed: seed)
        let g = StyleGAN2Generator(r, config: config, latentAverage: nil)
        try r.finish(model: "StyleGAN2 generator (\(config.size) px)")
        return g
    }

    /// Loads from a checkpoint file: a train- or convert-style dict (its `g_ema` entry and `latent_avg`), a
    /// bare state dict, or a safetensors conversion of either.
    public convenience init(checkpoint: Checkpoint, lrMLP: Float = 0.01) throws {
        var path = ""
        if (try? checkpoint.value(at: "g_ema")) != nil { path = "g_ema" }
        var avg: Tensor<Float>? = nil
        if case .tensor? = try? checkpoint.value(at: "latent_avg") { avg = try checkpoint.floatTensor(at: "latent_avg") }
        try self.init(stateDict: StateDict(checkpoint, path: path), latentAverage: avg, lrMLP: lrMLP)
    }

    /// The mapping network: PixelNorm then the EqualLinear layers. z [B, D] → W [B, D].
    public func map(_ z: Tensor<Float>) -> Tensor<Float> {
        mapping.reduce(z.pixelNorm()) { $1($0) }
    }

    /// Mean of `count` mapped standard-normal z (upstream `mean_latent`), [1, D].
    public func meanLatent(count: Int, using rng: inout SeededGenerator) -> Tensor<Float> {
        withoutGradients { map(Tensor.randomNormal([count, config.styleDim], using: &rng)).mean(axes: [0], keepDims: true) }
    }

    /// Noise maps for a batch, one per layer ([batch, 1, R, R]; stored buffers are [1, 1, R, R]).
    public func noise(_ source: GeneratorNoise, batch: Int) throws -> [Tensor<Float>] {
        switch source {
        case let .random(seed):
            var rng = SeededGenerator(seed: seed)
            return (0..<config.noiseCount).map { i in
                let r = config.noiseResolution(i)
                return Tensor.randomNormal([batch, 1, r, r], using: &rng)
            }
        case .stored:
            guard let storedNoise else {
                throw GeneratorError.noStoredNoise
            }
            return storedNoise
        case .zero:
            return (0..<config.noiseCount).map { Tensor(zeros: [1, 1, config.noiseResolution($0), config.noiseResolution($0)]) }
        case let .given(maps):
            guard maps.count == config.noiseCount else { throw GeneratorError.noiseCount(expected: config.noiseCount, got: maps.count) }
            for (i, m) in maps.enumerated() {
                let r = config.noiseResolution(i)
                guard m.rank == 4, m.shape[1] == 1, m.shape[2] == r, m.shape[3] == r, m.shape[0] == 1 || m.shape[0] == batch else {
                    throw GeneratorError.noiseShape(index: i, expected: [batch, 1, r, r], got: m.shape)
                }
            }
            return maps
        }
    }

    /// Per-layer latents [B, latentCount, D] from styles (upstream Generator.forward up to the synthesis):
    /// z styles go through the mapping network unless `inputIsLatent`; truncation ψ < 1 pulls each style
    /// towards `truncationLatent` before the broadcast; two styles are mixed at `injectIndex`.
    public func latents(_ styles: [Tensor<Float>], inputIsLatent: Bool, truncation: Float = 1,
                        truncationLatent: Tensor<Float>? = nil, injectIndex: Int? = nil) throws -> Tensor<Float> {
        guard !styles.isEmpty && styles.count <= 2 else { throw GeneratorError.styleCount(styles.count) }
        let n = config.latentCount
        var s = inputIsLatent ? styles : styles.map { map($0) }
        if truncation < 1 {
            guard let t = truncationLatent ?? latentAverage else { throw GeneratorError.noTruncationLatent }
            s = s.map { t + truncation * ($0 - t) }
        }
        func broadcast(_ x: Tensor<Float>, _ count: Int) throws -> Tensor<Float> {
            if x.rank == 3 {
                guard x.shape[1] == n, x.shape[2] == config.styleDim else { throw GeneratorError.latentShape(x.shape, n, config.styleDim) }
                return x.slice(axis: 1, 0, count)
            }
            guard x.rank == 2, x.shape[1] == config.styleDim else { throw GeneratorError.latentShape(x.shape, n, config.styleDim) }
            return x.reshaped([x.shape[0], 1, config.styleDim]).repeated([1, count, 1])
        }
        if s.count == 1 {
            if s[0].rank == 3 { return try broadcast(s[0], n) }
            return try broadcast(s[0], n)
        }
        guard let inject = injectIndex, inject >= 1, inject < n else { throw GeneratorError.injectIndex(injectIndex, n) }
        let first = try broadcast(s[0], inject)
        let second = s[1].rank == 3 ? try broadcast(s[1], n).slice(axis: 1, inject, n)
                                    : s[1].reshaped([s[1].shape[0], 1, config.styleDim]).repeated([1, n - inject, 1])
        return Tensor.concat([first, second], axis: 1)
    }

    /// The synthesis network: latents [B, latentCount, D] and one noise map per layer → images [B, 3, size, size].
    public func synthesize(_ latent: Tensor<Float>, noise: [Tensor<Float>]) -> Tensor<Float> {
        precondition(latent.rank == 3 && latent.shape[1] == config.latentCount, "latent \(latent.shape) needs \(config.latentCount) layers")
        precondition(noise.count == config.noiseCount, "\(noise.count) noise maps for \(config.noiseCount) layers")
        let b = latent.shape[0]
        // Upstream slices latent[:, i] per layer; slice once per distinct index.
        let layer = (0..<config.latentCount).map { latent.slice(axis: 1, $0, $0 + 1).reshaped([b, config.styleDim]) }
        var out = constantInput.repeated([b, 1, 1, 1])
        out = conv1(out, style: layer[0], noise: noise[0])
        var skip = toRGB1(out, style: layer[1], skip: nil)
        var i = 1
        for (k, block) in blocks.enumerated() {
            out = block.up(out, style: layer[i], noise: noise[1 + 2 * k])
            out = block.conv(out, style: layer[i + 1], noise: noise[2 + 2 * k])
            skip = block.toRGB(out, style: layer[i + 2], skip: skip)
            i += 2
        }
        return skip
    }

    /// Upstream `Generator.forward`: styles → latents → image. Returns the image and the per-layer latents.
    public func callAsFunction(_ styles: [Tensor<Float>], inputIsLatent: Bool = false, noise: GeneratorNoise,
                               truncation: Float = 1, truncationLatent: Tensor<Float>? = nil,
                               injectIndex: Int? = nil) throws -> (image: Tensor<Float>, latent: Tensor<Float>) {
        let latent = try latents(styles, inputIsLatent: inputIsLatent, truncation: truncation,
                                 truncationLatent: truncationLatent, injectIndex: injectIndex)
        let maps = try self.noise(noise, batch: latent.shape[0])
        return (synthesize(latent, noise: maps), latent)
    }
}

/// Misuse of the generator, with what to do about it.
public enum GeneratorError: Error, CustomStringConvertible, Equatable {
    case noStoredNoise
    case noiseCount(expected: Int, got: Int)
    case noiseShape(index: Int, expected: [Int], got: [Int])
    case styleCount(Int)
    case noTruncationLatent
    case latentShape([Int], Int, Int)
    case injectIndex(Int?, Int)

    public var description: String {
        switch self {
        case .noStoredNoise: "this checkpoint has no noises.noise_* buffers (550000.pt lacks them): use random, zero or explicit noise"
        case let .noiseCount(e, g): "\(g) noise maps given; the generator has \(e) noise inputs (noise_0 … noise_\(e - 1))"
        case let .noiseShape(i, e, g): "noise_\(i) has shape \(g); expected \(e) (batch may be 1)"
        case let .styleCount(n): "\(n) styles given; the generator takes one, or two for style mixing"
        case .noTruncationLatent: "truncation needs a truncation latent: the checkpoint has no latent_avg, so pass the mean of mapped z"
        case let .latentShape(s, n, d): "latent of shape \(s): expected [B, \(d)] (W or z) or [B, \(n), \(d)] (W+)"
        case let .injectIndex(i, n): "style mixing needs an inject index in 1..<\(n), got \(i.map(String.init) ?? "none")"
        }
    }
}
