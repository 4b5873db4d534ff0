// Follows torch.nn.init.kaiming_normal_ (fan_in, ReLU gain) for convolutions and linear layers, and the
// initialisers of rosinality/stylegan2-pytorch model.py (raw N(0,1) equalised weights, modulation bias 1).
import VoiceStyleCheckpoints
import VoiceStyleEngine

/// Seeded random state dicts for benchmarks and tests: same seed, same weights, on every machine.
enum RandomWeights {
    /// A state dict with every non-optional key of `specs`, each tensor made by `make` in spec order.
    static func stateDict(_ specs: [ParameterSpec], file: String,
                          _ make: (ParameterSpec) -> Tensor<Float>) -> StateDict {
        StateDict(file: file, tensors: specs.filter { !$0.optional }.map { ($0.key, StoredTensor(make($0))) })
    }

    /// He-normal N(0, 2/fan_in) with fan_in = count / shape[0].
    static func heNormal(_ shape: [Int], using rng: inout SeededGenerator) -> Tensor<Float> {
        let fanIn = shape.reduce(1, *) / shape[0]
        return Tensor.randomNormal(shape, using: &rng) * (2 / Float(fanIn)).squareRoot()
    }

    /// Torchvision-style networks: He-normal conv/linear weights, batch norm (1, 0, 0, 1), biases 0,
    /// PReLU 0.25 (`isPReLU`), LPIPS lin weights uniform [0, 0.1) (`isLin`).
    static func torchStyle(_ specs: [ParameterSpec], seed: UInt64, file: String,
                           isPReLU: (String) -> Bool = { _ in false }, isLin: (String) -> Bool = { _ in false }) -> StateDict {
        var rng = SeededGenerator(seed: seed)
        return stateDict(specs, file: file) { s in
            let k = s.key
            if k.hasSuffix(".running_var") { return Tensor(shape: s.shape, repeating: 1) }
            if k.hasSuffix(".running_mean") || k.hasSuffix(".bias") { return Tensor(zeros: s.shape) }
            if isPReLU(k) { return Tensor(shape: s.shape, repeating: 0.25) }
            if s.shape.count == 1 { return Tensor(shape: s.shape, repeating: 1) }  // batch-norm weight
            if isLin(k) { return Tensor.randomUniform(s.shape, low: 0, high: 0.1, using: &rng) }
            return heNormal(s.shape, using: &rng)
        }
    }
}

extension StyleGAN2Generator {
    /// A generator of architecture `config` with seeded random weights: raw equalised weights and the
    /// constant input N(0, 1), modulation biases 1, noise weights 0.1, other biases 0; no noise buffers.
    public static func random(_ config: GeneratorConfig, seed: UInt64) throws -> StyleGAN2Generator {
        var rng = SeededGenerator(seed: seed)
        let sd = RandomWeights.stateDict(config.parameterSpecs, file: "random StyleGAN2 generator") { s in
            if s.key.hasSuffix("modulation.bias") { return Tensor(shape: s.shape, repeating: 1) }
            if s.key.hasSuffix("noise.weight") { return Tensor(shape: s.shape, repeating: 0.1) }
            if s.key.hasSuffix("bias") { return Tensor(zeros: s.shape) }
            return Tensor.randomNormal(s.shape, using: &rng)
        }
        return try StyleGAN2Generator(stateDict: sd, lrMLP: config.lrMLP)
    }
}

extension CMPCModel {
    /// A CMPC model with seeded random weights (voice stem 1 channel, face stem 3 channels, both 7×7).
    public static func random(blocks: [Int] = [3, 4, 6, 3], widths: [Int] = [64, 128, 256, 512], stem: Int = 64,
                              seed: UInt64) throws -> CMPCModel {
        let specs = ResNetEncoder.specs(prefix: "voice_subnet.", blocks: blocks, widths: widths, stem: [stem, 1, 7, 7])
            + ResNetEncoder.specs(prefix: "face_subnet.", blocks: blocks, widths: widths, stem: [stem, 3, 7, 7])
        return try CMPCModel(stateDict: RandomWeights.torchStyle(specs, seed: seed, file: "random CMPC"))
    }
}

extension IRSE50 {
    /// An IR-SE backbone with seeded random weights (PReLU 0.25).
    public static func random(depths: [Int] = IRSE50.depths50, stem: Int = 64, embedding: Int = 512, seed: UInt64) throws -> IRSE50 {
        let specs = IRSE50.specs(depths: depths, stem: stem, embedding: embedding)
        return try IRSE50(stateDict: RandomWeights.torchStyle(specs, seed: seed, file: "random IR-SE50",
                                                              isPReLU: { $0 == "input_layer.2.weight" || $0.hasSuffix("res_layer.2.weight") }))
    }
}

extension LPIPS {
    /// LPIPS-VGG16 with seeded random weights for the 13 convolution output widths `widths` (lin weights
    /// uniform in [0, 0.1)).
    public static func random(widths: [Int] = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512],
                              seed: UInt64) throws -> LPIPS {
        precondition(widths.count == convIndices.count, "LPIPS.random needs \(convIndices.count) widths")
        let w = zip(widths, [3] + widths.dropLast()).map { ($0, $1) }
        let all = specs(w, conv: { "features.\($0)" }, lins: true, scaling: false)
        let sd = RandomWeights.torchStyle(all, seed: seed, file: "random LPIPS-VGG16", isLin: { $0.hasPrefix("lin") })
        var vgg = sd, lin = sd
        vgg.keys = sd.keys.filter { $0.hasPrefix("features.") }
        lin.keys = sd.keys.filter { $0.hasPrefix("lin") }
        return try LPIPS(vgg: vgg, lin: lin)
    }
}
