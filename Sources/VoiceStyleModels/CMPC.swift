// Follows audio-visual/cmpc2 cmpc2/fv_resnet.py (torchvision ResNet-34 with `conv1` replaced and `fc` =
// ChannelPooling, an identity on 512-d vectors) and fv_wrapper.py (`voice_subnet` / `face_subnet`).
import Foundation
import VoiceStyleEngine

/// A torchvision-layout ResNet with BasicBlocks (ResNet-34: 3, 4, 6, 3 blocks), eval mode, without `fc`.
///
/// Input [N, C, H, W] (voice: C = 1, H = 64 mel bins, W = T frames; face: C = 3, 256×256 in [-1, 1]);
/// output [N, D] unnormalised embeddings (D = 512 upstream). Widths and block counts come from the state dict.
public final class ResNetEncoder {
    struct Block {
        let conv1: Tensor<Float>, bn1: FrozenBatchNorm, conv2: Tensor<Float>, bn2: FrozenBatchNorm
        let downsample: (conv: Tensor<Float>, bn: FrozenBatchNorm)?
        let stride: Int
    }

    let conv1: Tensor<Float>, bn1: FrozenBatchNorm
    let layers: [[Block]]
    /// Input channels (1 for voice, 3 for faces) and embedding width.
    public let inputChannels: Int, embeddingSize: Int

    /// Block counts per stage and widths read from `shapes` under `prefix` (e.g. "voice_subnet.").
    static func architecture(_ shapes: [String: [Int]], prefix: String) -> (blocks: [Int], widths: [Int], stem: [Int])? {
        guard let stem = shapes[prefix + "conv1.weight"], stem.count == 4 else { return nil }
        var blocks: [Int] = [], widths: [Int] = []
        for l in 1...4 {
            var n = 0
            while shapes["\(prefix)layer\(l).\(n).conv1.weight"] != nil { n += 1 }
            guard n > 0, let w = shapes["\(prefix)layer\(l).0.conv2.weight"] else { return nil }
            blocks.append(n)
            widths.append(w[0])
        }
        return (blocks, widths, stem)
    }

    /// Every key and shape of the encoder under `prefix` (BatchNorm `num_batches_tracked` optional).
    public static func specs(prefix p: String, blocks: [Int], widths: [Int], stem: [Int]) -> [ParameterSpec] {
        let r = ParameterReader.recording()
        _ = ResNetEncoder(r, prefix: p, blocks: blocks, widths: widths, stem: stem)
        return r.specs
    }

    /// The encoder under `prefix`, read from `r` (the one place its keys are spelled); `stem` is the shape
    /// [out, in, k, k] of `conv1`.
    init(_ r: ParameterReader, prefix: String, blocks: [Int], widths: [Int], stem: [Int]) {
        conv1 = Conv2dWeights(r, prefix + "conv1", out: stem[0], in: stem[1], kernel: stem[2]).weight
        bn1 = FrozenBatchNorm(r, prefix + "bn1", stem[0])
        inputChannels = stem[1]
        embeddingSize = widths.last ?? stem[0]
        var inplanes = stem[0]
        var stages: [[Block]] = []
        for (l, (n, w)) in zip(blocks, widths).enumerated() {
            stages.append((0..<n).map { i in
                let b = "\(prefix)layer\(l + 1).\(i)."
                let cin = i == 0 ? inplanes : w
                let conv1 = Conv2dWeights(r, b + "conv1", out: w, in: cin, kernel: 3).weight
                let bn1 = FrozenBatchNorm(r, b + "bn1", w)
                let conv2 = Conv2dWeights(r, b + "conv2", out: w, in: w, kernel: 3).weight
                let bn2 = FrozenBatchNorm(r, b + "bn2", w)
                let down = i == 0 && (l > 0 || cin != w)
                    ? (Conv2dWeights(r, b + "downsample.0", out: w, in: cin, kernel: 1).weight, FrozenBatchNorm(r, b + "downsample.1", w))
                    : nil
                return Block(conv1: conv1, bn1: bn1, conv2: conv2, bn2: bn2, downsample: down, stride: (i == 0 && l > 0) ? 2 : 1)
            })
            inplanes = w
        }
        layers = stages
    }

    /// The forward of `x`: on the fused oneDNN network when no gradient can flow through it (gradients off, or
    /// neither `x` nor a parameter needs one), `VOICESTYLE_ENGINE` is not blas and oneDNN has a plan for the shape;
    /// otherwise on the engine's operations (recording autodiff history).
    public func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> {
        precondition(x.rank == 4 && x.shape[1] == inputChannels, "ResNet input \(x.shape) needs \(inputChannels) channels")
        if fusedPathAllowed, !GradientMode.isEnabled || !(x.needsGrad || parameters.contains { $0.needsGrad }), let y = fused(x) {
            return y
        }
        return engineForward(x)
    }

    /// The oneDNN implementations the fused path runs inputs of `shape` on ("jit:avx2"); nil when such inputs take
    /// the engine's path even without gradients (`VOICESTYLE_ENGINE=blas`, no oneDNN, or no plan for the shape).
    public func fusedImplementation(forInput shape: [Int]) -> String? {
        fusedPathAllowed ? fused.implementation(forInput: shape) : nil
    }

    private var fusedPathAllowed: Bool { EngineChoice.current != .blas && FusedResNet.isAvailable }

    private let fusedLock = NSLock()
    nonisolated(unsafe) private var fusedNetwork: FusedResNet?

    /// This encoder on oneDNN, every batch norm folded into its convolution (made on first use).
    private var fused: FusedResNet {
        fusedLock.withLock {
            if let f = fusedNetwork { return f }
            let f = FusedResNet(FusedResNetLayout(
                stem: bn1.folded(into: conv1, stride: 2, padding: 3),
                blocks: layers.joined().map { b in
                    FusedResNetLayout.Block(conv1: b.bn1.folded(into: b.conv1, stride: b.stride, padding: 1),
                                            conv2: b.bn2.folded(into: b.conv2, stride: 1, padding: 1),
                                            downsample: b.downsample.map { $0.bn.folded(into: $0.conv, stride: b.stride, padding: 0) })
                }))
            fusedNetwork = f
            return f
        }
    }

    /// Every weight and batch-norm tensor.
    private var parameters: [Tensor<Float>] {
        [conv1] + bn1.tensors + layers.joined().flatMap { b in
            [b.conv1, b.conv2] + b.bn1.tensors + b.bn2.tensors + (b.downsample.map { [$0.conv] + $0.bn.tensors } ?? [])
        }
    }

    /// The forward on the engine's operations (torchvision's order: conv, BN, ReLU, …).
    func engineForward(_ x: Tensor<Float>) -> Tensor<Float> {
        var h = bn1(x.conv2d(weight: conv1, stride: 2, padding: 3)).relu().maxPool2d(kernel: 3, stride: 2, padding: 1)
        for layer in layers {
            for b in layer {
                let out = b.bn2(b.bn1(h.conv2d(weight: b.conv1, stride: b.stride, padding: 1)).relu().conv2d(weight: b.conv2, padding: 1))
                let shortcut = b.downsample.map { $0.bn(h.conv2d(weight: $0.conv, stride: b.stride)) } ?? h
                h = (out + shortcut).relu()
            }
        }
        return h.mean(axes: [2, 3])  // AdaptiveAvgPool2d(1) + flatten; fc = identity
    }
}

/// The CMPC model: a voice encoder and a face encoder into one embedding space.
public final class CMPCModel {
    public let voice: ResNetEncoder
    public let face: ResNetEncoder

    init(voice: ResNetEncoder, face: ResNetEncoder) {
        self.voice = voice
        self.face = face
    }

    /// From the `model` entry of `model_best_256.pth.tar` (keys `voice_subnet.*`, `face_subnet.*`), strict.
    public convenience init(stateDict sd: StateDict) throws {
        let shapes = sd.shapes
        guard let v = ResNetEncoder.architecture(shapes, prefix: "voice_subnet."),
              let f = ResNetEncoder.architecture(shapes, prefix: "face_subnet.") else {
            throw StateDictError(model: "CMPC", file: sd.file, missing: ["voice_subnet.conv1.weight", "face_subnet.conv1.weight"].filter { shapes[$0] == nil },
                                 unexpected: [], misShaped: [])
        }
        let r = ParameterReader(sd)
        self.init(voice: ResNetEncoder(r, prefix: "voice_subnet.", blocks: v.blocks, widths: v.widths, stem: v.stem),
                  face: ResNetEncoder(r, prefix: "face_subnet.", blocks: f.blocks, widths: f.widths, stem: f.stem))
        try r.finish(model: "CMPC")
    }

    /// A CMPC model with seeded random weights (He-normal convolutions, batch norm (1, 0, 0, 1)); the voice
    /// stem takes 1 channel, the face stem 3, both 7×7, as the real model.
    public static func random(blocks: [Int] = [3, 4, 6, 3], widths: [Int] = [64, 128, 256, 512], stem: Int = 64,
                              seed: UInt64) throws -> CMPCModel {
        let r = ParameterReader.random(seed: seed)
        let model = CMPCModel(voice: ResNetEncoder(r, prefix: "voice_subnet.", blocks: blocks, widths: widths, stem: [stem, 1, 7, 7]),
                              face: ResNetEncoder(r, prefix: "face_subnet.", blocks: blocks, widths: widths, stem: [stem, 3, 7, 7]))
        try r.finish(model: "CMPC")
        return model
    }

    /// voicestyle's CMPCLoss: 1 − Σ(a·f) / (‖a‖·‖f‖) per face (no epsilon), voice embedding `a` [1 or N, D]
    /// broadcast over the faces' embeddings `f` [N, D]. Returns [N].
    public static func distance(voice a: Tensor<Float>, face f: Tensor<Float>) -> Tensor<Float> {
        let dot = (a * f).sum(axes: [1])
        let na = a.square().sum(axes: [1]).sqrt(), nf = f.square().sum(axes: [1]).sqrt()
        return 1 - dot / (na * nf)
    }
}
