// Follows audio-visual/cmpc2 cmpc2/fv_resnet.py (torchvision ResNet-34 with `conv1` replaced and `fc` =
// ChannelPooling, an identity on 512-d vectors) and fv_wrapper.py (`voice_subnet` / `face_subnet`).
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
        var s = [ParameterSpec(p + "conv1.weight", stem)] + FrozenBatchNorm.specs(p + "bn1", stem[0])
        var inplanes = stem[0]
        for (l, (n, w)) in zip(blocks, widths).enumerated() {
            for i in 0..<n {
                let b = "\(p)layer\(l + 1).\(i)."
                let cin = i == 0 ? inplanes : w
                s += [ParameterSpec(b + "conv1.weight", [w, cin, 3, 3])] + FrozenBatchNorm.specs(b + "bn1", w)
                s += [ParameterSpec(b + "conv2.weight", [w, w, 3, 3])] + FrozenBatchNorm.specs(b + "bn2", w)
                if i == 0 && (l > 0 || cin != w) {
                    s += [ParameterSpec(b + "downsample.0.weight", [w, cin, 1, 1])] + FrozenBatchNorm.specs(b + "downsample.1", w)
                }
            }
            inplanes = w
        }
        return s
    }

    init(_ p: [String: Tensor<Float>], prefix: String, blocks: [Int], widths: [Int]) {
        conv1 = p[prefix + "conv1.weight"]!
        bn1 = FrozenBatchNorm(p, prefix + "bn1")
        inputChannels = conv1.shape[1]
        embeddingSize = widths.last!
        var inplanes = conv1.shape[0]
        layers = zip(blocks, widths).enumerated().map { l, bw in
            let (n, w) = bw
            defer { inplanes = w }
            return (0..<n).map { i in
                let b = "\(prefix)layer\(l + 1).\(i)."
                let down = p[b + "downsample.0.weight"].map { ($0, FrozenBatchNorm(p, b + "downsample.1")) }
                _ = inplanes
                return Block(conv1: p[b + "conv1.weight"]!, bn1: FrozenBatchNorm(p, b + "bn1"), conv2: p[b + "conv2.weight"]!,
                             bn2: FrozenBatchNorm(p, b + "bn2"), downsample: down, stride: (i == 0 && l > 0) ? 2 : 1)
            }
        }
    }

    public func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> {
        precondition(x.rank == 4 && x.shape[1] == inputChannels, "ResNet input \(x.shape) needs \(inputChannels) channels")
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

    /// From the `model` entry of `model_best_256.pth.tar` (keys `voice_subnet.*`, `face_subnet.*`), strict.
    public init(stateDict sd: StateDict) throws {
        let shapes = sd.shapes
        guard let v = ResNetEncoder.architecture(shapes, prefix: "voice_subnet."),
              let f = ResNetEncoder.architecture(shapes, prefix: "face_subnet.") else {
            throw StateDictError(model: "CMPC", file: sd.file, missing: ["voice_subnet.conv1.weight", "face_subnet.conv1.weight"].filter { shapes[$0] == nil },
                                 unexpected: [], misShaped: [])
        }
        let specs = ResNetEncoder.specs(prefix: "voice_subnet.", blocks: v.blocks, widths: v.widths, stem: v.stem)
            + ResNetEncoder.specs(prefix: "face_subnet.", blocks: f.blocks, widths: f.widths, stem: f.stem)
        let p = try sd.load(specs, model: "CMPC")
        voice = ResNetEncoder(p, prefix: "voice_subnet.", blocks: v.blocks, widths: v.widths)
        face = ResNetEncoder(p, prefix: "face_subnet.", blocks: f.blocks, widths: f.widths)
    }

    /// voicestyle's CMPCLoss: 1 − Σ(a·f) / (‖a‖·‖f‖) per face (no epsilon), voice embedding `a` [1 or N, D]
    /// broadcast over the faces' embeddings `f` [N, D]. Returns [N].
    public static func distance(voice a: Tensor<Float>, face f: Tensor<Float>) -> Tensor<Float> {
        let dot = (a * f).sum(axes: [1])
        let na = a.square().sum(axes: [1]).sqrt(), nf = f.square().sum(axes: [1]).sqrt()
        return 1 - dot / (na * nf)
    }
}
