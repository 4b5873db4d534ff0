// The fused oneDNN ResNet path (Sources/VoiceStyleEngine/FusedResNet.swift, ResNetEncoder in CMPC.swift) against
// the engine's path: CMPC encoders with random batch-norm statistics (so the folding is exercised), faces and
// voices of several shapes and batches, and which calls take which path.
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleModels
import VoiceStyleTestSupport

@Suite("fused ResNet")
struct FusedResNetTests {
    /// A CMPC model of the given widths with seeded random convolutions and batch norms whose statistics and affine
    /// parameters are all away from (1, 0, 0, 1).
    static func model(widths: [Int], stem: Int, seed: UInt64) throws -> CMPCModel {
        var rng = SeededGenerator(seed: seed)
        var tensors: [(name: String, tensor: StoredTensor)] = []
        for (prefix, channels) in [("voice_subnet.", 1), ("face_subnet.", 3)] {
            for spec in ResNetEncoder.specs(prefix: prefix, blocks: [3, 4, 6, 3], widths: widths, stem: [stem, channels, 7, 7]) where !spec.optional {
                let t: Tensor<Float>
                if spec.shape.count == 4 {
                    let fanIn = Float(spec.shape[1...].reduce(1, *))
                    t = Tensor<Float>.randomNormal(spec.shape, using: &rng) * (2 / fanIn).squareRoot()
                } else if spec.key.hasSuffix("running_var") || spec.key.hasSuffix(".weight") {
                    t = Tensor<Float>.randomUniform(spec.shape, low: 0.5, high: 1.5, using: &rng)
                } else {
                    t = Tensor<Float>.randomNormal(spec.shape, using: &rng) * 0.1
                }
                tensors.append((spec.key, StoredTensor(t)))
            }
        }
        return try CMPCModel(stateDict: StateDict(file: "random-bn-cmpc", tensors: tensors))
    }

    /// Max |fused − engine| / max |engine| and the smallest cosine between rows.
    static func compare(_ encoder: ResNetEncoder, _ x: Tensor<Float>) -> (relative: Double, cosine: Double) {
        let fused = withoutGradients { encoder(x) }
        let engine = EngineChoice.$override.withValue(.blas) { withoutGradients { encoder(x) } }
        #expect(fused.shape == engine.shape)
        let d = fused.shape[1]
        var worstCosine = 1.0
        for r in 0..<fused.shape[0] {
            var ab = 0.0, aa = 0.0, bb = 0.0
            for j in 0..<d {
                let a = Double(fused.buffer[r * d + j]), b = Double(engine.buffer[r * d + j])
                (ab, aa, bb) = (ab + a * b, aa + a * a, bb + b * b)
            }
            worstCosine = min(worstCosine, ab / max((aa * bb).squareRoot(), 1e-30))
        }
        return (relativeError(fused, engine), worstCosine)
    }

    /// Expects a fused plan for `shape` and the fused output within 1e-4 (relative) and cosine 0.99999 of the engine's.
    static func expectAgreement(_ encoder: ResNetEncoder, _ shape: [Int], using rng: inout SeededGenerator) {
        #expect(encoder.fusedImplementation(forInput: shape) != nil, "no fused plan for \(shape)")
        let c = compare(encoder, Tensor<Float>.randomUniform(shape, low: -1, high: 1, using: &rng))
        #expect(c.relative <= 1e-4 && c.cosine >= 0.99999, "\(shape): relative \(c.relative), cosine \(c.cosine)")
    }

    @Test("fused and engine paths agree: faces 64 and 256 px, voices of two lengths, batches 1 and 3")
    func agreement() throws {
        guard FusedResNet.isAvailable else { return }
        let m = try Self.model(widths: [16, 32, 64, 128], stem: 16, seed: 11)
        var rng = SeededGenerator(seed: 3)
        for (encoder, shape) in [(m.face, [1, 3, 64, 64]), (m.face, [3, 3, 64, 64]), (m.face, [1, 3, 256, 256]),
                                 (m.voice, [1, 1, 64, 100]), (m.voice, [3, 1, 64, 100]), (m.voice, [1, 1, 64, 83])] {
            Self.expectAgreement(encoder, shape, using: &rng)
        }
    }

    @Test("fused and engine paths agree on the full-width ResNet-34 (seeded random CMPC)")
    func fullWidth() throws {
        guard FusedResNet.isAvailable else { return }
        var rng = SeededGenerator(seed: 4)
        Self.expectAgreement(try Self.model(widths: [64, 128, 256, 512], stem: 64, seed: 5).face, [2, 3, 128, 128], using: &rng)
    }

    @Test("gradient-recording calls and VOICESTYLE_ENGINE=blas keep the engine's path")
    func pathChoice() throws {
        guard FusedResNet.isAvailable else { return }
        let m = try Self.model(widths: [8, 8, 16, 16], stem: 8, seed: 2)
        var rng = SeededGenerator(seed: 1)
        let x = Tensor<Float>.randomUniform([1, 3, 32, 32], low: -1, high: 1, using: &rng)
        #expect(m.face.fusedImplementation(forInput: x.shape) != nil)
        #expect(EngineChoice.$override.withValue(.blas) { m.face.fusedImplementation(forInput: x.shape) } == nil)
        // The engine's path records history; the fused one has none.
        #expect(!m.face(x).needsGrad)
        x.requiresGrad = true
        let y = m.face(x)
        #expect(y.needsGrad)
        #expect(!withoutGradients { m.face(x) }.needsGrad)
        y.sum().backward()
        #expect(x.grad != nil)
    }
}
