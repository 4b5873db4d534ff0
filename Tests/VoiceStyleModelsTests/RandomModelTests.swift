// Seeded random-weight models (benchmarks) and the one-pass state-dict report of every model's loader.
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleModels
import VoiceStyleTestSupport

@Suite("random-weight models")
struct RandomModelTests {
    /// A 16-px generator with narrow layers.
    static var smallConfig: GeneratorConfig {
        var c = GeneratorConfig()
        c.size = 16
        c.styleDim = 32
        c.mappingLayers = 2
        c.channels = [4: 16, 8: 16, 16: 8]
        return c
    }

    @Test("generator: seeded, StyleGAN2 initialisation, finite output")
    func generator() throws {
        let c = RandomModelTests.smallConfig
        let a = try StyleGAN2Generator.random(c, seed: 7), b = try StyleGAN2Generator.random(c, seed: 7)
        #expect(a.config == c && a.storedNoise == nil)
        #expect(a.conv1.conv.weight.scalars == b.conv1.conv.weight.scalars)
        #expect(a.conv1.conv.modulation.bias.scalars.allSatisfy { $0 == 1 })
        #expect(a.blocks[1].toRGB.conv.modulation.bias.scalars.allSatisfy { $0 == 1 })
        #expect(a.conv1.noiseWeight.scalars == [0.1])
        #expect(a.conv1.activationBias.scalars.allSatisfy { $0 == 0 } && a.mapping[0].bias.scalars.allSatisfy { $0 == 0 })
        // Raw equalised weights are N(0, 1).
        let w = a.blocks[0].up.conv.weight.scalars
        let mean = w.reduce(0, +) / Float(w.count), variance = w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(w.count)
        #expect(abs(mean) < 0.1 && abs(variance - 1) < 0.15)
        var rng = SeededGenerator(seed: 1)
        let (image, _) = try a([Tensor.randomNormal([1, c.styleDim], using: &rng)], noise: .zero)
        #expect(image.shape == [1, 3, 16, 16] && image.scalars.allSatisfy(\.isFinite))
        let other = try StyleGAN2Generator.random(c, seed: 8)
        #expect(other.conv1.conv.weight.scalars != a.conv1.conv.weight.scalars)
    }

    @Test("CMPC, IR-SE and LPIPS: seeded and finite")
    func faceNetworks() throws {
        let cmpc = try CMPCModel.random(blocks: [1, 1, 1, 1], widths: [8, 16, 32, 64], stem: 8, seed: 1)
        #expect(cmpc.voice.inputChannels == 1 && cmpc.face.inputChannels == 3 && cmpc.face.embeddingSize == 64)
        var rng = SeededGenerator(seed: 2)
        let voice = Tensor<Float>.randomNormal([1, 1, 64, 40], using: &rng)
        let v1 = cmpc.voice(voice), v2 = try CMPCModel.random(blocks: [1, 1, 1, 1], widths: [8, 16, 32, 64], stem: 8, seed: 1).voice(voice)
        #expect(v1.shape == [1, 64] && v1.scalars == v2.scalars && v1.scalars.allSatisfy(\.isFinite))

        let irse = try IRSE50.random(depths: [16, 32, 48, 64], stem: 16, embedding: 24, seed: 3)
        let face = Tensor<Float>.randomUniform([1, 3, 112, 112], low: -1, high: 1, using: &rng)
        let e = irse(face)
        #expect(e.shape == [1, 24] && e.scalars.allSatisfy(\.isFinite))

        let widths = [4, 4, 8, 8, 8, 8, 8, 16, 16, 16, 16, 16, 16]
        let lpips = try LPIPS.random(widths: widths, seed: 4), again = try LPIPS.random(widths: widths, seed: 4)
        let x0 = Tensor<Float>.randomUniform([1, 3, 32, 32], low: -1, high: 1, using: &rng)
        let x1 = Tensor<Float>.randomUniform([1, 3, 32, 32], low: -1, high: 1, using: &rng)
        let d = lpips(x0, x1)
        #expect(d.shape == [1, 1, 1, 1] && d.scalars[0] > 0 && d.scalars == again(x0, x1).scalars)
        #expect(lpips(x0, x0).scalars[0] == 0)
    }

    @Test("full-size random models build")
    func fullSize() throws {
        let g = try StyleGAN2Generator.random(GeneratorConfig(), seed: 1)
        #expect(g.blocks.count == 6 && g.mapping.count == 8)
        let cmpc = try CMPCModel.random(seed: 1)
        #expect(cmpc.voice.embeddingSize == 512)
        #expect(try IRSE50.random(seed: 1).embeddingSize == 512)
        _ = try LPIPS.random(seed: 1)
    }

    /// Zero tensors for every non-optional key of `specs`.
    static func zeros(_ specs: [ParameterSpec]) -> [(name: String, tensor: StoredTensor)] {
        specs.filter { !$0.optional }.map { ($0.key, StoredTensor(Tensor<Float>(zeros: $0.shape))) }
    }

    @Test("one report lists a missing, an unexpected and a mis-shaped key")
    func oneReport() throws {
        var tensors = RandomModelTests.zeros(IRSE50.specs(depths: [16, 16], stem: 16, embedding: 8))
        #expect(tensors.count == 6 + 2 * 13 + 10)
        _ = try IRSE50(stateDict: StateDict(file: "ok.pt", tensors: tensors))
        tensors.removeAll { $0.name == "body.1.res_layer.3.weight" }
        tensors.append(("body.9.extra", StoredTensor(Tensor<Float>(zeros: [1]))))
        let i = try #require(tensors.firstIndex { $0.name == "output_layer.3.bias" })
        tensors[i].tensor = StoredTensor(Tensor<Float>(zeros: [9]))
        do {
            _ = try IRSE50(stateDict: StateDict(file: "bad.pt", tensors: tensors))
            Issue.record("no error")
        } catch let e as StateDictError {
            #expect(e.missing == ["body.1.res_layer.3.weight"])
            #expect(e.unexpected == ["body.9.extra"])
            #expect(e.misShaped.map(\.0) == ["output_layer.3.bias"] && e.misShaped.first?.1 == [8] && e.misShaped.first?.2 == [9])
            #expect("\(e)".contains("bad.pt") && "\(e)".contains("IR-SE50"))
        }
    }

    @Test("VGG16 + lin layout: classifier keys ignored, lin keys checked")
    func vggLayout() throws {
        let specs = LPIPS.vgg16Specs
        #expect(specs.features.count == 26 && specs.lin.map(\.key) == (0..<5).map { "lin\($0).model.1.weight" })
        #expect(specs.features.first == ParameterSpec("features.0.weight", [64, 3, 3, 3]))
        var vgg = RandomModelTests.zeros(specs.features)
        vgg.append(("classifier.0.weight", StoredTensor(Tensor<Float>(zeros: [2, 2]))))
        var lin = RandomModelTests.zeros(specs.lin)
        _ = try LPIPS(vgg: StateDict(file: "vgg.pth", tensors: vgg), lin: StateDict(file: "lin.pth", tensors: lin))
        lin.append(("lin5.model.1.weight", StoredTensor(Tensor<Float>(zeros: [1]))))
        #expect(throws: StateDictError.self) {
            _ = try LPIPS(vgg: StateDict(file: "vgg.pth", tensors: vgg), lin: StateDict(file: "lin.pth", tensors: lin))
        }
    }

    @Test("spec lists: generator and CMPC encoders")
    func specLists() {
        let g = RandomModelTests.smallConfig.parameterSpecs
        #expect(g.prefix(2).map(\.key) == ["style.1.weight", "style.1.bias"])
        #expect(g.filter(\.optional).map(\.key) == ["convs.0.conv.blur.kernel", "to_rgbs.0.upsample.kernel", "convs.2.conv.blur.kernel",
                                                    "to_rgbs.1.upsample.kernel", "noises.noise_0", "noises.noise_1", "noises.noise_2",
                                                    "noises.noise_3", "noises.noise_4"])
        #expect(g.first { $0.key == "convs.2.conv.weight" }?.shape == [1, 8, 16, 3, 3])
        let r = ResNetEncoder.specs(prefix: "v.", blocks: [1, 2], widths: [8, 16], stem: [8, 1, 7, 7])
        #expect(r.filter { !$0.optional }.count == 1 + 4 + (2 + 8) + (2 + 8 + 1 + 4) + (2 + 8))
        #expect(r.contains(ParameterSpec("v.layer2.0.downsample.0.weight", [16, 8, 1, 1])))
        #expect(!r.contains { $0.key.hasPrefix("v.layer1.0.downsample") })
    }
}
