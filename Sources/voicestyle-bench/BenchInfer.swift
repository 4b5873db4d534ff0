// `voicestyle-bench infer` (no upstream counterpart: upstream has no benchmarks).
import ArgumentParser
import Foundation
import VoiceStyle

struct BenchInferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Time the real infer job (InferRequest) with full-size random-weight models and cached latents; seconds per stage.",
        discussion: """
            The index holds the bundled demo faces embedded by the random CMPC, each with a cached random W latent \
            made under the request's key, so no prototype is inverted: the stages timed are the job's own (voice \
            features and embedding, retrieval, σ_W statistics, cache reads, aggregation with the identity target, \
            refinement, rendering). --pytorch times one step of the refinement loop in PyTorch beside it \
            (scripts/bench_pytorch.py refine-step: G, CMPC face and IR-SE50 identity, forward and backward, same threads).
            """)

    @OptionGroup var options: BenchOptions

    @Option(help: "Refinement steps.")
    var steps: Int = 100

    @Option(help: "Speech clip (default: the bundled demo clip).", completion: .file())
    var voice: String?

    @Option(help: "Family of the random generator: stylegan2 (256 px, channel multiplier 2) or dcgan (the 64-px face DCGAN).")
    var family: String = GeneratorFamily.stylegan2.rawValue

    func validate() throws {
        guard GeneratorFamily(rawValue: family) != nil else {
            throw ValidationError("--family must be \(GeneratorFamily.allCases.map(\.rawValue).joined(separator: " or ")) (got \(family))")
        }
    }

    func run() throws {
        let setUp = Date()
        let loader = ModelLoader()
        let kind = GeneratorFamily(rawValue: family) ?? .stylegan2
        let g: any FaceGenerator = kind == .dcgan ? try DCGANGenerator.random(seed: 1) : try StyleGAN2Generator.random(GeneratorConfig(), seed: 1)
        loader.register(g, as: "bench:generator", sha256: "bench-random-\(kind.rawValue)")
        loader.register(try CMPCModel.random(seed: 7), as: "bench:cmpc", sha256: "bench-random-cmpc")
        loader.register(IdentityLoss(network: try IRSE50.random(seed: 4)), as: "bench:irse50", sha256: "bench-random-irse50")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("voicestyle-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        var build = BuildIndexRequest(index: dir.path, faces: try Demo.data.appendingPathComponent("faces").path)
        build.cmpc = "bench:cmpc"
        _ = try build.run(in: JobContext(models: loader))
        var request = InferRequest(voice: try voice ?? Demo.voices[0].path, index: dir.path)
        request.models = ModelPaths(generator: "bench:generator", cmpc: "bench:cmpc", identity: "bench:irse50")
        request.config.refinement.steps = steps
        // Cached latents under the request's key: random latents of the generator's prior (mapped W, or z).
        let key = LatentKey(generator: "bench-random-\(kind.rawValue)", family: kind, settings: request.config.inversion)
        let index = try PrototypeIndex(directory: dir)
        var rng = SeededGenerator(seed: 3)
        let d = g.latentDim
        let z = Tensor<Float>.randomNormal([index.records.count, d], using: &rng)
        let ws = (g as? StyleGAN2Generator).map { s in withoutGradients { s.map(z) } } ?? z
        for (i, r) in index.records.enumerated() {
            try index.store.setLatent(path: r.path, latent: Array(ws.buffer[(i * d)..<((i + 1) * d)]), noises: [], metrics: "{}", key: key.json)
        }
        let setUpSeconds = Date().timeIntervalSince(setUp)
        let start = Date()
        let result = try request.run(in: JobContext(models: loader))
        _ = try PNGCodec.encode(result.face)
        let job = Date().timeIntervalSince(start)
        let stages = result.report.timings
        // One refinement step: the stage (which also renders the result once) over its steps, beside PyTorch's.
        let step = stages.first { $0.stage == "refinement" }.map { $0.seconds / Double(max(1, steps)) }
        let torch = step == nil ? nil : pytorchFigures(options, cases: ["refine-step"])
        let upstreamStep = torch?.seconds("refine-step")
        if options.json {
            var stepRow: [String: Any] = [:]
            if let step { stepRow = ["seconds": step, "case": "refine-step"] }
            if let step, let upstreamStep { stepRow["pytorch_seconds"] = upstreamStep; stepRow["ratio"] = step / upstreamStep }
            printJSON(withPyTorch(["stages": stages.map { ["stage": $0.stage, "seconds": $0.seconds] }, "job_seconds": job, "set_up_seconds": setUpSeconds,
                                   "latent_sources": result.report.prototypes.map(\.latentSource.rawValue), "peak_rss_mb": Double(residentKiB().peak) / 1024,
                                   "refinement_step": stepRow], torch))
            return
        }
        print(tableRow(["model and index set-up (not part of the job)", String(format: "%.2f", setUpSeconds)], widths: [-44, 8]))
        for t in stages { print(tableRow([t.stage, String(format: "%.2f", t.seconds)], widths: [-44, 8])) }
        print(tableRow(["whole job incl. loading and PNG (target ≤ 60 s)", String(format: "%.2f", job)], widths: [-44, 8]))
        if let step {
            print(tableRow(["one refinement step (stage / steps)", String(format: "%.3f", step)], widths: [-44, 8])
                  + (upstreamStep.map { String(format: "   %@: %.3f s, ratio %.2f", pytorchLabel(torch), $0, step / $0) } ?? ""))
        }
        print(String(format: "peak RSS: %.0f MB; prototype latents: %@", Double(residentKiB().peak) / 1024,
                     Set(result.report.prototypes.map(\.latentSource.rawValue)).sorted().joined(separator: ", ")))
    }
}
