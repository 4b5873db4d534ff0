// Follows eladrich/pixel2style2pixel models/encoders/model_irse.py (`Backbone(112, 50, 'ir_se')`) and
// helpers.py (`bottleneck_IR_SE`, `SEModule`, `get_blocks`), as copied into voicestyle's facial_recognition.
import VoiceStyleEngine

/// Batch norm in eval mode with its stored statistics (eps 1e-5).
public struct FrozenBatchNorm {
    public let weight: Tensor<Float>?, bias: Tensor<Float>?, mean: Tensor<Float>, variance: Tensor<Float>
    public var eps: Float = 1e-5

    /// Reads `prefix.{weight,bias,running_mean,running_var}` of `c` channels (`num_batches_tracked`
    /// optional: old files lack it).
    init(_ r: ParameterReader, _ prefix: String, _ c: Int) {
        weight = r.tensor("\(prefix).weight", [c], .constant(1))
        bias = r.tensor("\(prefix).bias", [c], .constant(0))
        mean = r.tensor("\(prefix).running_mean", [c], .constant(0))
        variance = r.tensor("\(prefix).running_var", [c], .constant(1))
        _ = r.optional("\(prefix).num_batches_tracked", [])
    }

    public func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> {
        x.batchNorm(mean: mean, variance: variance, weight: weight, bias: bias, eps: eps)
    }

    /// The convolution `weight` [out, in, k, k] before this batch norm with the batch norm folded in.
    func folded(into weight: Tensor<Float>, stride: Int, padding: Int) -> FoldedConvolution {
        let a = Tensor.batchNormAffine(mean: mean, variance: variance, weight: self.weight, bias: bias, eps: eps)
        return FoldedConvolution(weight: weight, stride: stride, padding: padding, scale: a.scale, shift: a.shift)
    }

    /// Its tensors (statistics and the affine parameters present).
    var tensors: [Tensor<Float>] { [mean, variance] + [weight, bias].compactMap { $0 } }
}

/// The IR-SE50 face-recognition backbone (ArcFace-trained, TreB1eN/pSp `model_ir_se50.pth`).
///
/// Input [N, 3, 112, 112] RGB in [-1, 1]; output [N, E] unit embeddings (E = 512; x/‖x‖ with no epsilon).
/// Layout: Conv3×3 → BN → PReLU; 24 bottleneck_IR_SE units in 4 stages (widths 64, 128, 256, 512; 3, 4, 14, 3
/// units; the first unit of every stage has stride 2: 112 → 7); BN2d → flatten (C, H, W) → Linear → BN1d.
/// Stage widths, unit counts and E are read from the state dict.
public final class IRSE50 {
    /// One bottleneck_IR_SE unit.
    struct Unit {
        let bn0: FrozenBatchNorm, conv1: Tensor<Float>, prelu: Tensor<Float>, conv2: Tensor<Float>, bn4: FrozenBatchNorm
        let fc1: Tensor<Float>, fc2: Tensor<Float>
        let shortcut: (conv: Tensor<Float>, bn: FrozenBatchNorm)?
        let stride: Int
    }

    let inputConv: Tensor<Float>, inputBN: FrozenBatchNorm, inputPReLU: Tensor<Float>
    let units: [Unit]
    let outputBN: FrozenBatchNorm, linearWeight: Tensor<Float>, linearBias: Tensor<Float>, embeddingBN: FrozenBatchNorm
    /// Width of the embedding.
    public let embeddingSize: Int

    /// Unit widths of IR-SE50 (`get_blocks(50)`): 3 × 64, 4 × 128, 14 × 256, 3 × 512.
    public static let depths50 = [Int](repeating: 64, count: 3) + [Int](repeating: 128, count: 4) + [Int](repeating: 256, count: 14)
        + [Int](repeating: 512, count: 3)

    /// The state-dict keys and shapes for unit depths `depths` (one per unit) and embedding size `e`.
    public static func specs(depths: [Int], stem: Int, embedding e: Int) -> [ParameterSpec] {
        let r = ParameterReader.recording()
        _ = IRSE50(r, depths: depths, stem: stem, embedding: e)
        return r.specs
    }

    /// From a `Backbone(112, 50, 'ir_se')` state dict; depths, stem width and embedding size are inferred.
    public convenience init(stateDict: StateDict) throws {
        let shapes = stateDict.shapes
        var depths: [Int] = []
        while let w = shapes["body.\(depths.count).res_layer.1.weight"], w.count == 4 { depths.append(w[0]) }
        let stem = shapes["input_layer.0.weight"]?.first ?? 64
        let e = shapes["output_layer.3.weight"]?.first ?? 512
        guard !depths.isEmpty else {
            throw StateDictError(model: "IR-SE50", file: stateDict.file, missing: ["body.0.res_layer.1.weight"], unexpected: [], misShaped: [])
        }
        let r = ParameterReader(stateDict)
        self.init(r, depths: depths, stem: stem, embedding: e)
        try r.finish(model: "IR-SE50")
    }

    /// A backbone with seeded random weights: He-normal convolutions and linear layer, batch norm (1, 0, 0, 1),
    /// PReLU 0.25.
    public static func random(depths: [Int] = IRSE50.depths50, stem: Int = 64, embedding: Int = 512, seed: UInt64) throws -> IRSE50 {
        let r = ParameterReader.random(seed: seed)
        let model = IRSE50(r, depths: depths, stem: stem, embedding: embedding)
        try r.finish(model: "IR-SE50")
        return model
    }

    /// The whole network, read from `r` (the one place its keys are spelled).
    init(_ r: ParameterReader, depths: [Int], stem: Int, embedding e: Int) {
        inputConv = Conv2dWeights(r, "input_layer.0", out: stem, in: 3, kernel: 3).weight
        inputBN = FrozenBatchNorm(r, "input_layer.1", stem)
        inputPReLU = PReLU(r, "input_layer.2", stem).weight
        var cin = stem
        var us: [Unit] = []
        for (n, d) in depths.enumerated() {
            let pre = "body.\(n)"
            // A stage starts at unit 0 and wherever the width changes; its first unit has stride 2.
            let stride = (n == 0 || d != depths[n - 1]) ? 2 : 1
            let bn0 = FrozenBatchNorm(r, "\(pre).res_layer.0", cin)
            let conv1 = Conv2dWeights(r, "\(pre).res_layer.1", out: d, in: cin, kernel: 3).weight
            let prelu = PReLU(r, "\(pre).res_layer.2", d).weight
            let conv2 = Conv2dWeights(r, "\(pre).res_layer.3", out: d, in: d, kernel: 3).weight
            let bn4 = FrozenBatchNorm(r, "\(pre).res_layer.4", d)
            let fc1 = Conv2dWeights(r, "\(pre).res_layer.5.fc1", out: d / 16, in: d, kernel: 1).weight
            let fc2 = Conv2dWeights(r, "\(pre).res_layer.5.fc2", out: d, in: d / 16, kernel: 1).weight
            let shortcut = cin != d
                ? (Conv2dWeights(r, "\(pre).shortcut_layer.0", out: d, in: cin, kernel: 1).weight, FrozenBatchNorm(r, "\(pre).shortcut_layer.1", d))
                : nil
            us.append(Unit(bn0: bn0, conv1: conv1, prelu: prelu, conv2: conv2, bn4: bn4, fc1: fc1, fc2: fc2, shortcut: shortcut, stride: stride))
            cin = d
        }
        units = us
        outputBN = FrozenBatchNorm(r, "output_layer.0", cin)
        let linear = Linear(r, "output_layer.3", out: e, in: cin * 49)
        linearWeight = linear.weight
        linearBias = linear.bias
        embeddingBN = FrozenBatchNorm(r, "output_layer.4", e)
        embeddingSize = e
    }

    /// The output layer's result before the L2 normalisation, [N, E].
    public func unnormalizedEmbedding(_ x: Tensor<Float>) -> Tensor<Float> {
        precondition(x.rank == 4 && x.shape[1] == 3 && x.shape[2] == 112 && x.shape[3] == 112, "IR-SE50 needs [N, 3, 112, 112], got \(x.shape)")
        var h = inputBN(x.conv2d(weight: inputConv, padding: 1)).prelu(weight: inputPReLU)
        for u in units {
            var r = u.bn0(h).conv2d(weight: u.conv1, padding: 1).prelu(weight: u.prelu)
            r = u.bn4(r.conv2d(weight: u.conv2, stride: u.stride, padding: 1))
            // Squeeze-and-excitation: global average → 1×1 (C→C/16) → ReLU → 1×1 → sigmoid → scale.
            let n = r.shape[0], c = r.shape[1]
            let s = r.mean(axes: [2, 3]).linear(weight: u.fc1.reshaped([c / 16, c])).relu()
                .linear(weight: u.fc2.reshaped([c, c / 16])).sigmoid()
            r = r * s.reshaped([n, c, 1, 1])
            let shortcut: Tensor<Float>
            if let sc = u.shortcut {
                shortcut = sc.bn(h.conv2d(weight: sc.conv, stride: u.stride))
            } else {
                shortcut = u.stride == 1 ? h : h.slice(axis: 2, 0, h.shape[2], step: u.stride).slice(axis: 3, 0, h.shape[3], step: u.stride)
            }
            h = r + shortcut
        }
        h = outputBN(h)
        return embeddingBN(h.reshaped([h.shape[0], -1]).linear(weight: linearWeight, bias: linearBias))
    }

    /// Unit embeddings [N, E] (pSp l2_norm: x / ‖x‖₂, no epsilon).
    public func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> {
        unnormalizedEmbedding(x).l2Normalized(axis: 1)
    }
}
