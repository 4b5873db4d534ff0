// `voicestyle-bench invert` (no upstream counterpart: upstream has no benchmarks).
import ArgumentParser
import Foundation
import VoiceStyle

struct BenchInvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invert",
        abstract: "Time one projector iteration at 256 px (generator + LPIPS-VGG16 + IR-SE50 identity, forward and backward), per component.",
        discussion: """
            Full-size random weights, batch 1. --pytorch times upstream's loop in PyTorch beside it (scripts/bench_pytorch.py, \
            same threads), which runs the target through VGG16 and IR-SE50 every step as upstream does (ours reads them once).
            """)

    @OptionGroup var options: BenchOptions

    func run() throws {
        let g = try StyleGAN2Generator.random(GeneratorConfig(), seed: 1)
        let lpips = try LPIPS.random(seed: 2)
        let irse = try IRSE50.random(seed: 4)
        let identity = IdentityLoss(network: irse)
        var rng = SeededGenerator(seed: 5)
        let target = Tensor<Float>.randomUniform([1, 3, 256, 256], low: -1, high: 1, using: &rng)
        let targetFeatures = withoutGradients { lpips.normalizedFeatures(target) }
        let targetID = withoutGradients { identity.features(target) }
        let w = withoutGradients { g.map(Tensor.randomNormal([1, 512], using: &rng)) }
        let noise = try g.noise(.random(seed: 6), batch: 1)
        func leaf(_ t: Tensor<Float>) -> Tensor<Float> { let c = t.detached(); c.requiresGrad = true; return c }
        let image = withoutGradients { g.synthesize(try! g.latents([w], inputIsLatent: true), noise: noise) }
        let tLPIPS = bestTime(seconds: options.seconds) {
            let x = leaf(image)
            lpips.distance(x, target: targetFeatures).sum().backward()
        }
        let tID = bestTime(seconds: options.seconds) {
            let x = leaf(image)
            identity(x, targetFeatures: targetID).backward()
        }
        func iteration(withIdentity: Bool) {
            let wv = leaf(w), maps = noise.map(leaf)
            let img = g.synthesize(try! g.latents([wv], inputIsLatent: true), noise: maps)
            var loss = lpips.distance(img, target: targetFeatures).sum() + ProjectorFunctions.noiseRegularize(maps) * 1e5
            if withIdentity { loss = loss + identity(img, targetFeatures: targetID) }
            loss.backward()
        }
        let tIterNoID = bestTime(seconds: options.seconds) { iteration(withIdentity: false) }
        let tIter = bestTime(seconds: options.seconds) { iteration(withIdentity: true) }
        let torch = pytorchFigures(options, cases: ["lpips-backward", "irse50-backward", "projector-step-noid", "projector-step"])
        let rows: [(String, Double, Double?)] = [
            ("LPIPS-VGG16 forward+backward", tLPIPS, torch?.seconds("lpips-backward")),
            ("IR-SE50 identity forward+backward", tID, torch?.seconds("irse50-backward")),
            ("iteration without identity", tIterNoID, torch?.seconds("projector-step-noid")),
            ("iteration with identity", tIter, torch?.seconds("projector-step")),
        ]
        let peakMB = Double(residentKiB().peak) / 1024
        reportRatios(rows, title: "projector iteration, 256 px, batch 1, \(Parallel.workers) threads; \(pytorchLabel(torch))", label: "component",
                     width: 36, json: options.json, extra: withPyTorch(["peak_rss_mb": peakMB], torch))
    }
}
