// Follows richzhang/PerceptualSimilarity (pip lpips 0.1.4; rosinality's copy in voicestyle generation/lpips):
// LPIPS v0.1 "net-lin" on torchvision VGG16 features.
import VoiceStyleEngine

/// LPIPS v0.1 with the VGG16 backbone: scaling layer, features at relu1_2 / relu2_2 / relu3_3 / relu4_3 /
/// relu5_3, channel unit-normalisation f/(√Σf² + 1e-10), squared difference, non-negative 1×1 `lin`
/// weights, spatial mean, sum over layers.
///
/// Inputs [N, 3, H, W] in [-1, 1] (H, W ≥ 16); output [N, 1, 1, 1]. Symmetric in its arguments.
public final class LPIPS {
    /// torchvision `features` indices of the 13 convolutions, and where the five slices end.
    static let convIndices = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    static let sliceOf = [1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]

    let convs: [Conv2dWeights]
    let lins: [Tensor<Float>]
    let shift: Tensor<Float>, scale: Tensor<Float>

    /// Default ScalingLayer constants (lpips): shift (−.030, −.088, −.188), scale (.458, .448, .450).
    static let defaultShift: [Float] = [-0.030, -0.088, -0.188], defaultScale: [Float] = [0.458, 0.448, 0.450]

    /// VGG widths of a state dict, read from conv weights `key(i)` (out, in).
    private static func widths(_ shapes: [String: [Int]], _ key: (Int) -> String) -> [(Int, Int)]? {
        var w: [(Int, Int)] = []
        for i in convIndices {
            guard let s = shapes[key(i)], s.count == 4 else { return nil }
            w.append((s[0], s[1]))
        }
        return w
    }

    /// The 13 convolutions (`conv(i)` names torchvision index i), read from `r`.
    private static func readConvs(_ r: ParameterReader, _ widths: [(Int, Int)], _ conv: (Int) -> String) -> [Conv2dWeights] {
        zip(convIndices, widths).map { i, w in Conv2dWeights(r, conv(i), out: w.0, in: w.1, kernel: 3, bias: true) }
    }

    /// The five non-negative `linK.model.1.weight` [1, C, 1, 1] after relu1_2 … relu5_3, read from `r`.
    private static func readLins(_ r: ParameterReader, _ widths: [(Int, Int)]) -> [Tensor<Float>] {
        [widths[1].0, widths[3].0, widths[6].0, widths[9].0, widths[12].0].enumerated().map { k, c in
            r.tensor("lin\(k).model.1.weight", [1, c, 1, 1], .uniform(0, 0.1))
        }
    }

    /// `features.i` of torchvision's VGG16 layout.
    private static func vggConvName(_ i: Int) -> String { "features.\(i)" }

    /// `net.sliceK.i` of lpips' own layout for torchvision index i.
    private static func lpipsConvName(_ i: Int) -> String {
        "net.slice\(zip(convIndices, sliceOf).first { $0.0 == i }?.1 ?? 0).\(i)"
    }

    /// From an `lpips.LPIPS(net='vgg')` state dict (`net.sliceK.i.*`, `linK.model.1.weight`, `scaling_layer.*`).
    public convenience init(lpipsStateDict sd: StateDict) throws {
        guard let w = LPIPS.widths(sd.shapes, { LPIPS.lpipsConvName($0) + ".weight" }) else {
            throw StateDictError(model: "LPIPS-VGG", file: sd.file, missing: ["net.slice1.0.weight"], unexpected: [], misShaped: [])
        }
        let r = ParameterReader(sd)
        self.init(convs: LPIPS.readConvs(r, w, LPIPS.lpipsConvName), lins: LPIPS.readLins(r, w),
                  shift: r.optional("scaling_layer.shift", [1, 3, 1, 1]), scale: r.optional("scaling_layer.scale", [1, 3, 1, 1]))
        try r.finish(model: "LPIPS-VGG")
    }

    /// Output widths of VGG16's 13 convolutions.
    public static let vgg16Widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]

    /// Output and input widths of the 13 convolutions for output widths `widths`.
    private static func vggWidths(_ widths: [Int]) -> [(Int, Int)] {
        zip(widths, [3] + widths.dropLast()).map { ($0, $1) }
    }

    /// The keys and shapes of torchvision's VGG16 `features` (full widths 64…512) and of lpips' lin file.
    public static var vgg16Specs: (features: [ParameterSpec], lin: [ParameterSpec]) {
        let w = vggWidths(vgg16Widths)
        let features = ParameterReader.recording(), lin = ParameterReader.recording()
        _ = readConvs(features, w, vggConvName)
        _ = readLins(lin, w)
        return (features.specs, lin.specs)
    }

    /// From torchvision's VGG16 state dict (`vgg16-397923af.pth`: `features.i.*`, plus `classifier.*` which
    /// is ignored) and lpips' `vgg.pth` lin weights (`linK.model.1.weight`).
    public convenience init(vgg: StateDict, lin: StateDict) throws {
        guard let w = LPIPS.widths(vgg.shapes, { LPIPS.vggConvName($0) + ".weight" }) else {
            throw StateDictError(model: "VGG16 features", file: vgg.file, missing: ["features.0.weight"], unexpected: [], misShaped: [])
        }
        var features = vgg
        features.keys = vgg.keys.filter { $0.hasPrefix("features.") }
        let rv = ParameterReader(features), rl = ParameterReader(lin)
        self.init(convs: LPIPS.readConvs(rv, w, LPIPS.vggConvName), lins: LPIPS.readLins(rl, w), shift: nil, scale: nil)
        try rv.finish(model: "VGG16 features")
        try rl.finish(model: "LPIPS v0.1 lin layers")
    }

    /// LPIPS-VGG16 with seeded random weights for the 13 convolution output widths `widths`: He-normal
    /// convolutions, biases 0, lin weights uniform in [0, 0.1), default scaling layer.
    public static func random(widths: [Int] = LPIPS.vgg16Widths,
                              seed: UInt64) throws -> LPIPS {
        guard widths.count == convIndices.count else {
            throw StateDictError(model: "LPIPS-VGG", file: "random weights", missing: [], unexpected: [],
                                 misShaped: [("widths", [convIndices.count], [widths.count])])
        }
        let r = ParameterReader.random(seed: seed), w = vggWidths(widths)
        let model = LPIPS(convs: readConvs(r, w, vggConvName), lins: readLins(r, w), shift: nil, scale: nil)
        try r.finish(model: "LPIPS-VGG")
        return model
    }

    init(convs: [Conv2dWeights], lins: [Tensor<Float>], shift: Tensor<Float>?, scale: Tensor<Float>?) {
        self.convs = convs
        self.lins = lins
        self.shift = shift ?? Tensor(shape: [1, 3, 1, 1], scalars: LPIPS.defaultShift)
        self.scale = scale ?? Tensor(shape: [1, 3, 1, 1], scalars: LPIPS.defaultScale)
    }

    /// The five feature maps (relu1_2 … relu5_3) of a batch.
    func features(_ x: Tensor<Float>) -> [Tensor<Float>] {
        var h = (x - shift) / scale
        var out: [Tensor<Float>] = []
        for (k, conv) in convs.enumerated() {
            if k > 0 && LPIPS.sliceOf[k] != LPIPS.sliceOf[k - 1] { h = h.maxPool2d(kernel: 2, stride: 2) }
            h = h.conv2d(weight: conv.weight, bias: conv.bias, padding: 1).relu()
            if k == convs.count - 1 || LPIPS.sliceOf[k + 1] != LPIPS.sliceOf[k] { out.append(h) }
        }
        return out
    }

    /// The unit-normalised feature maps of an image batch: compute once for a fixed target.
    public func normalizedFeatures(_ x: Tensor<Float>) -> [Tensor<Float>] {
        features(x).map { $0 / ($0.square().sum(axes: [1], keepDims: true).sqrt() + 1e-10) }
    }

    /// Per-layer distances between `x0` and precomputed target features, each [N, 1, 1, 1].
    public func layerDistances(_ x0: Tensor<Float>, target: [Tensor<Float>]) -> [Tensor<Float>] {
        let n0 = normalizedFeatures(x0)
        precondition(n0.count == target.count && zip(n0, target).allSatisfy { $0.shape == $1.shape },
                     "LPIPS: image \(x0.shape) does not match the target features")
        return (0..<5).map { k in (n0[k] - target[k]).square().conv2d(weight: lins[k]).mean(axes: [2, 3], keepDims: true) }
    }

    /// Per-layer distances, each [N, 1, 1, 1]; their sum is the LPIPS distance.
    public func layerDistances(_ x0: Tensor<Float>, _ x1: Tensor<Float>) -> [Tensor<Float>] {
        precondition(x0.shape == x1.shape, "LPIPS inputs differ in shape: \(x0.shape) vs \(x1.shape)")
        return layerDistances(x0, target: normalizedFeatures(x1))
    }

    /// LPIPS distance [N, 1, 1, 1].
    public func callAsFunction(_ x0: Tensor<Float>, _ x1: Tensor<Float>) -> Tensor<Float> {
        let d = layerDistances(x0, x1)
        return d.dropFirst().reduce(d[0], +)
    }

    /// LPIPS distance [N, 1, 1, 1] to precomputed target features.
    public func distance(_ x0: Tensor<Float>, target: [Tensor<Float>]) -> Tensor<Float> {
        let d = layerDistances(x0, target: target)
        return d.dropFirst().reduce(d[0], +)
    }
}
