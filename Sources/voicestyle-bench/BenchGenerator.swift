// `voicestyle-bench generator` (no upstream counterpart: upstream has no benchmarks).
import ArgumentParser
import Foundation
import VoiceStyle


struct BenchGeneratorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generator",
        abstract: "Time the 256-px StyleGAN2 generator (random weights, batch 1 or --batch B, W input): forward, and forward + backward to W and the noise maps.",
        discussion: """
            --pytorch times rosinality's generator in PyTorch beside it (scripts/bench_pytorch.py, same threads; \
            256 px, batch 1) and prints the ratios ours / PyTorch; the targets are issue 26's (AVX512-BF16). GFLOP/s counts \
            90.84 GFLOP per forward pass and twice that for the input-gradient pass (../shared/anchors/flops_g256.json).
            """)

    @OptionGroup var options: BenchOptions

    @Option(help: "Output resolution of the random generator.")
    var size: Int = 256

    @Option(help: "Images per pass (seconds are reported per pass; divide by the batch for per image).")
    var batch: Int = 1

    func run() throws {
        var config = GeneratorConfig()
        config.size = size
        let g = try StyleGAN2Generator.random(config, seed: 1)
        var rng = SeededGenerator(seed: 2)
        let w = withoutGradients { g.map(Tensor.randomNormal([batch, config.styleDim], using: &rng)) }
        let noise = try g.noise(.random(seed: 3), batch: batch)
        let latent = try g.latents([w], inputIsLatent: true)
        let forward = bestTime(seconds: options.seconds) {
            _ = withoutGradients { g.synthesize(latent, noise: noise) }
        }
        let backward = bestTime(seconds: options.seconds) {
            let wv = w.detached()
            wv.requiresGrad = true
            let maps = noise.map { m -> Tensor<Float> in let c = m.detached(); c.requiresGrad = true; return c }
            let lat = try! g.latents([wv], inputIsLatent: true)
            let image = g.synthesize(lat, noise: maps)
            image.sum().backward()
        }
        let peakMB = Double(residentKiB().peak) / 1024
        // Working set of one forward+backward pass (large blocks live at once, beyond the weights).
        BlockPool.shared.resetPeak()
        let base = BlockPool.shared.statistics.liveBytes
        do {
            let wv = w.detached()
            wv.requiresGrad = true
            let maps = noise.map { m -> Tensor<Float> in let c = m.detached(); c.requiresGrad = true; return c }
            g.synthesize(try g.latents([wv], inputIsLatent: true), noise: maps).sum().backward()
        }
        let workingSetMB = Double(BlockPool.shared.statistics.peakLiveBytes - base) / 1e6
        let torch = size == 256 && batch == 1 ? pytorchFigures(options, cases: ["g256-forward", "g256-backward"]) : nil
        let flops = 90.839121152 * Double(size * size) / 65536 * Double(batch)
        var rows: [[String: Any]] = []
        for (name, t, torchCase, fl, target) in [("forward", forward, "g256-forward", flops, 0.25),
                                                 ("forward+backward (W, noises)", backward, "g256-backward", 2 * flops, 0.12)] {
            var row: [String: Any] = ["pass": name, "case": torchCase, "seconds": t, "gflops": fl / t, "target_ratio": target]
            if let a = torch?.seconds(torchCase) { row["pytorch_seconds"] = a; row["ratio"] = t / a }
            rows.append(row)
        }
        if options.json {
            printJSON(withPyTorch(["size": size, "batch": batch, "threads": Parallel.workers, "peak_rss_mb": peakMB,
                                   "working_set_mb": workingSetMB, "rows": rows], torch))
            return
        }
        print("StyleGAN2 \(size) px, batch \(batch) (seconds per pass), W input, \(Parallel.workers) threads; \(pytorchLabel(torch))")
        print(tableRow(["pass", "seconds", "GFLOP/s", "PyTorch s", "ratio", "target"], widths: [-30, 8, 8, 10, 6, 7]))
        for r in rows {
            print(tableRow([r["pass"] as! String, String(format: "%.3f", r["seconds"] as! Double), String(format: "%.1f", r["gflops"] as! Double),
                            (r["pytorch_seconds"] as? Double).map { String(format: "%.3f", $0) } ?? "-",
                            (r["ratio"] as? Double).map { String(format: "%.2f", $0) } ?? "-",
                            String(format: "≤ %.2f", r["target_ratio"] as! Double)], widths: [-30, 8, 8, 10, 6, 7]))
        }
        print(String(format: "peak RSS: %.0f MB; working set of one forward+backward: %.0f MB", peakMB, workingSetMB))
    }
}
