// `voicestyle-bench voice` (no upstream counterpart: upstream has no benchmarks).
import ArgumentParser
import Foundation
import VoiceStyle

struct BenchVoiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voice",
        abstract: "Time the voice features of a 10 s clip and the CMPC encoders (full-size random ResNet-34s, 2 threads).")

    @OptionGroup var options: BenchOptions

    @Option(help: "Speech clip, tiled to 10 s.", completion: .file())
    var voice: String = "../shared/data/voices/voxceleb/id10724_DP5gCFoWgGI_00001.wav"

    func run() throws {
        let clip = try Waveform.read(URL(fileURLWithPath: voice))
        var samples: [Int16] = []
        while samples.count < 160_000 { samples += clip.samples }
        let wave = Waveform(samples: Array(samples.prefix(160_000)))
        let frontEnd = VoiceFrontEnd()
        var features = try frontEnd.features(wave)
        let tFeatures = bestTime(seconds: options.seconds) { features = try! frontEnd.features(wave) }
        let model = try CMPCModel.random(seed: 7)
        var rng = SeededGenerator(seed: 8)
        let face = Tensor<Float>.randomUniform([1, 3, 256, 256], low: -1, high: 1, using: &rng)
        let voice800 = features.shape[2] >= 800 ? features.slice(axis: 2, 0, 800).reshaped([1, 1, 64, 800]) : features.reshaped([1, 1, 64, -1])
        let tVoice = bestTime(seconds: options.seconds) { _ = withoutGradients { model.voice(voice800) } }
        let tFace = bestTime(seconds: options.seconds) { _ = withoutGradients { model.face(face) } }
        let tFaceGrad = bestTime(seconds: options.seconds) {
            let a = withoutGradients { model.voice(voice800) }
            let x = face.detached()
            x.requiresGrad = true
            CMPCModel.distance(voice: a, face: model.face(x)).sum().backward()
        }
        let torch = pytorchFigures(options, cases: ["cmpc-voice", "cmpc-face-b1", "cmpc-face-backward"])
        let rows: [(String, Double, Double?)] = [
            ("features of a 10 s clip (target ≤ 0.050 s)", tFeatures, nil),
            ("CMPC voice forward 1×1×64×800", tVoice, torch?.seconds("cmpc-voice")),
            ("CMPC face forward 1×3×256×256", tFace, torch?.seconds("cmpc-face-b1")),
            ("CMPC face fwd+bwd d/dimage (+ voice fwd)", tFaceGrad, torch?.seconds("cmpc-face-backward")),
        ]
        reportRatios(rows, title: "voice front-end and CMPC, \(Parallel.workers) threads; \(pytorchLabel(torch))", label: "case",
                     width: 42, json: options.json, extra: withPyTorch([:], torch))
    }
}
