// Follows gan_face_generate/models.py (`Generator`) of PyPI gan-face-generate 1.1.1 (MIT), which follows the PyTorch
// DCGAN tutorial (pytorch/tutorials beginner_source/dcgan_faces_tutorial.py); its weights.tar holds the generator
// trained on DigiFace-1M (synthetic faces; that data set's licence allows non-commercial research only).
import Foundation
import VoiceStyleCheckpoints
import VoiceStyleEngine

/// Architecture of a DCGAN generator. Defaults equal upstream's `Generator(ngpu, nc: 3, nz: 100, ngf: 64)`, the
/// 64-px face generator of gan-face-generate.
///
/// Shapes, with ngf the feature-map width: z [B, nz, 1, 1] → 4×4 × 8·ngf → 8×8 × 4·ngf → 16×16 × 2·ngf →
/// 32×32 × ngf → 64×64 × nc (tanh, in (−1, 1)).
public struct DCGANConfig: Sendable, Equatable {
    /// Width of z (nz): 100.
    public var latentDim: Int = 100
    /// Channels of the four inner stages at 4, 8, 16 and 32 px ([8, 4, 2, 1]·ngf): [512, 256, 128, 64].
    public var widths: [Int] = [512, 256, 128, 64]
    /// Image channels (nc): 3.
    public var channels: Int = 3

    /// Upstream's parameters: nz, ngf (widths 8·ngf, 4·ngf, 2·ngf, ngf) and nc; `DCGANConfig()` is the 64-px face
    /// generator.
    public init(latentDim: Int = 100, featureMaps ngf: Int = 64, channels: Int = 3) {
        self.latentDim = latentDim
        widths = [8 * ngf, 4 * ngf, 2 * ngf, ngf]
        self.channels = channels
    }

    /// Every state-dict key and shape of this architecture, in upstream order (recorded from the generator's
    /// declaration); BatchNorm `num_batches_tracked` is optional.
    public var parameterSpecs: [ParameterSpec] {
        let r = ParameterReader.recording()
        _ = DCGANGenerator(r, config: self)
        return r.specs
    }

    /// Side of the output images: 64 (4 px doubled by each of the four stride-2 layers).
    public var size: Int { 4 << widths.count }

    /// The architecture a state dict implies, from the shapes of its five transposed-convolution weights
    /// (`main.0.weight` [nz, w0, 4, 4], `main.3/6/9.weight` [w_i, w_i+1, 4, 4], `main.12.weight` [w3, nc, 4, 4]).
    public static func inferred(from shapes: [String: [Int]], file: String = "") throws -> DCGANConfig {
        let keys = DCGANGenerator.convolutionLayers.map { "main.\($0).weight" }
        let missing = keys.filter { shapes[$0] == nil }
        let misShaped = keys.compactMap { k in
            shapes[k].flatMap { $0.count == 4 && $0.allSatisfy { $0 > 0 } ? nil : (k, [-1, -1, 4, 4], $0) }
        }
        guard missing.isEmpty && misShaped.isEmpty else {
            throw StateDictError(model: "DCGAN generator", file: file, missing: missing, unexpected: [], misShaped: misShaped)
        }
        var c = DCGANConfig()
        c.latentDim = shapes[keys[0]]![0]
        c.widths = keys.dropLast().map { shapes[$0]![1] }
        c.channels = shapes[keys[4]]![1]
        return c
    }
}

/// The DCGAN generator (`nn.Sequential` `main`): five bias-free transposed 4×4 convolutions, the first stride 1
/// padding 0 (1 → 4 px), the others stride 2 padding 1 (doubling); eval-mode BatchNorm (running statistics, eps
/// 1e-5) and ReLU after the first four; tanh at the end.
///
/// Keys, as upstream's `state_dict()`: `main.{0,3,6,9,12}.weight` (ConvTranspose2d, [in, out, 4, 4]) and
/// `main.{1,4,7,10}.{weight,bias,running_mean,running_var}` (BatchNorm2d; `num_batches_tracked` optional).
public final class DCGANGenerator {
    /// Index in `main` of each transposed convolution and of each BatchNorm.
    static let convolutionLayers = [0, 3, 6, 9, 12]
    static let batchNormLayers = [1, 4, 7, 10]

    public let config: DCGANConfig
    /// Transposed-convolution weights [in, out, 4, 4], in order.
    let weights: [Tensor<Float>]
    let norms: [FrozenBatchNorm]

    /// Reads the generator from `r` (the one place its keys are spelled). Random weights are He-normal for
    /// the fan-in of each output pixel (nz for the first layer, 4·in for the stride-2 ones); BatchNorm (1, 0),
    /// statistics (0, 1).
    init(_ r: ParameterReader, config c: DCGANConfig) {
        precondition(c.widths.count == 4 && c.latentDim > 0 && c.channels > 0 && c.widths.allSatisfy { $0 > 0 },
                     "a DCGAN generator has four positive stage widths")
        config = c
        let ins = [c.latentDim] + c.widths, outs = c.widths + [c.channels]
        var weights: [Tensor<Float>] = [], norms: [FrozenBatchNorm] = []
        for i in 0..<5 {  // in state-dict order
            let fanIn = i == 0 ? ins[0] : 4 * ins[i]
            weights.append(r.tensor("main.\(Self.convolutionLayers[i]).weight", [ins[i], outs[i], 4, 4], .normal((2 / Float(fanIn)).squareRoot())))
            if i < 4 { norms.append(FrozenBatchNorm(r, "main.\(Self.batchNormLayers[i])", outs[i])) }
        }
        self.weights = weights
        self.norms = norms
    }

    /// From a state dict with upstream's keys (strict: every missing, unexpected and mis-shaped key is reported
    /// in one `StateDictError`); the widths are inferred from the convolution weights.
    public convenience init(stateDict sd: StateDict) throws {
        let cfg = try DCGANConfig.inferred(from: sd.shapes, file: sd.file)
        let r = ParameterReader(sd)
        self.init(r, config: cfg)
        try r.finish(model: "DCGAN generator")
    }

    /// From a checkpoint: gan-face-generate's `weights.tar` (a PyTorch zip holding `{"netG_state_dict": …}`), a bare
    /// state dict, or a safetensors copy of either.
    public convenience init(checkpoint: Checkpoint) throws {
        let path = (try? checkpoint.value(at: Self.nestedKey)) != nil ? Self.nestedKey : ""
        try self.init(stateDict: StateDict(checkpoint, path: path))
    }

    /// Opens and loads a checkpoint file (e.g. `checkpoints/dcgan-faces-64.pth`, the wheel's `weights.tar`).
    public convenience init(contentsOf url: URL) throws {
        try self.init(checkpoint: Checkpoint.open(url))
    }

    /// The entry of gan-face-generate's file that holds the generator.
    public static let nestedKey = "netG_state_dict"

    /// A generator of architecture `config` with seeded random weights (see `init(_:config:)`).
    public static func random(_ config: DCGANConfig = DCGANConfig(), seed: UInt64) throws -> DCGANGenerator {
        let r = ParameterReader.random(seed: seed)
        let g = DCGANGenerator(r, config: config)
        try r.finish(model: "DCGAN generator")
        return g
    }

    /// Whether state-dict keys are this family's: `main.0.weight` … `main.12.weight` exactly as
    /// `DCGANConfig.parameterSpecs` lists them (the keys do not depend on the widths), nothing else; each
    /// BatchNorm's `num_batches_tracked` may be absent.
    public static func recognizes<S: Sequence>(keys: S) -> Bool where S.Element == String {
        let present = Set(keys)
        let specs = DCGANConfig().parameterSpecs
        let required = Set(specs.filter { !$0.optional }.map(\.key)), allowed = Set(specs.map(\.key))
        return required.isSubset(of: present) && present.isSubset(of: allowed)
    }

    /// Whether a checkpoint holds this family: its root, or its `netG_state_dict` entry, has `recognizes(keys:)`'s keys.
    public static func recognizes(_ checkpoint: Checkpoint) -> Bool {
        [Self.nestedKey, ""].contains { path in
            (try? checkpoint.tensors(under: path)).map { recognizes(keys: $0.map(\.name)) } ?? false
        }
    }

    /// Images [B, nc, 64, 64] in (−1, 1) from z [B, nz] or [B, nz, 1, 1]. Recorded on the tape when z (or a
    /// weight) requires a gradient, so `backward()` reaches z.
    public func callAsFunction(_ z: Tensor<Float>) -> Tensor<Float> {
        let nz = config.latentDim
        precondition((z.rank == 2 && z.shape[1] == nz) || (z.rank == 4 && z.shape[1] == nz && z.shape[2] == 1 && z.shape[3] == 1),
                     "DCGAN input \(z.shape) is not [B, \(nz)] or [B, \(nz), 1, 1]")
        var h = z.rank == 2 ? z.reshaped([z.shape[0], nz, 1, 1]) : z
        for i in 0..<4 {
            h = norms[i](h.convTranspose2d(weight: weights[i], stride: i == 0 ? 1 : 2, padding: i == 0 ? 0 : 1)).relu()
        }
        return h.convTranspose2d(weight: weights[4], stride: 2, padding: 1).tanh()
    }

    /// z ~ N(0, I), [batch, nz] (the prior the generator was trained with).
    public func sampleLatent(batch: Int, using rng: inout SeededGenerator) -> Tensor<Float> {
        Tensor.randomNormal([batch, config.latentDim], using: &rng)
    }
}
