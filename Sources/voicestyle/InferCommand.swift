// `voicestyle infer`: a voice clip in, a face out (with the evidence); `voicestyle doctor`.
import ArgumentParser
import Foundation
import VoiceStyle

enum AggregateOption: String, ExpressibleByArgument, CaseIterable { case mean, similarity }

struct InferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Guess a face from a voice: retrieve prototypes, average their latents, refine towards the voice.",
        discussion: """
            Writes face.png, sheet.png (the prototypes with identity and cosine, the averaged-latent face and the \
            refined face, captioned), latent.npy and report.json to --out. Prototype latents come from the index's cache \
            (`voicestyle index invert`) or are inverted now and cached. Model files default to checkpoints/. \
            --upstream-compat uses upstream's refinement loss exactly (no identity term, no latent anchor).
            """)

    @Option(help: "Voice clip (any format libsndfile reads).", completion: .file())
    var voice: String
    @Option(help: "Prototype index name or path.")
    var index: String
    @Option(help: "Output folder.", completion: .directory)
    var out: String
    @Option(name: .short, help: "Number of prototypes.")
    var k: Int = 8
    @Option(help: "instances (cosine ranking) or clusters (upstream retrieval).")
    var mode: SearchMode = .instances
    @Option(help: "mean (upstream) or similarity (softmax(cos/τ) weights).")
    var aggregate: AggregateOption = .mean
    @Option(help: "Temperature τ of similarity aggregation.")
    var temperature: Float = 0.1
    @Option(help: "Refinement steps.")
    var steps: Int = 100
    @Option(help: "Identity-loss weight in refinement.")
    var idWeight: Double = 0.1
    @Option(help: "Weight of the pull towards the averaged latent.")
    var anchorWeight: Double = 0.01
    @Flag(help: "Refine with upstream's exact loss.")
    var upstreamCompat = false
    @Option(help: "Projector steps for prototypes without a cached latent.")
    var invertSteps: Int = 300
    @Option(help: "Seed (same inputs and seed give identical outputs).")
    var seed: UInt64 = 0
    @Option(help: "z samples for σ_W.")
    var meanSamples: Int = 10_000
    @Option(help: "Generator (default checkpoints/550000.pt).", completion: .file()) var generator: String?
    @Option(help: "CMPC (default checkpoints/model_best_256.pth.tar).", completion: .file()) var cmpc: String?
    @Option(help: "IR-SE50 (default checkpoints/model_ir_se50.pth).", completion: .file()) var idModel: String?
    @Option(help: "VGG16 (default checkpoints/vgg16-397923af.pth), or a whole lpips state dict; only to invert uncached prototypes.", completion: .file()) var vgg: String?
    @Option(help: "LPIPS lin weights (default checkpoints/vgg.pth; only to invert uncached prototypes).", completion: .file()) var lpips: String?
    @OptionGroup var location: IndexLocation
    @Flag(help: "No progress display.") var quiet = false
    @Flag(help: "Print report.json to standard output.") var json = false

    func run() throws {
        let started = Date()
        let genURL = try ModelFile.generator.resolve(generator), cmpcURL = try ModelFile.cmpc.resolve(cmpc)
        let wantsIdentity = !upstreamCompat && idWeight != 0
        let idURL: URL? = wantsIdentity ? try ModelFile.irse50.resolve(idModel) : (try? ModelFile.irse50.resolve(idModel))
        let idx = try PrototypeIndex(directory: location.directory(index))
        guard !(try idx.store.all().isEmpty) else { throw IndexError.empty(idx.directory.path) }
        let cmpcSHA = try SHA256.hex(file: cmpcURL)
        if try idx.store.setting("source") == nil, let built = try idx.store.setting("cmpc_sha256"), built != cmpcSHA {
            throw IndexError.mixedCheckpoints(index: idx.directory.path, existing: built, given: cmpcSHA)
        }
        let features = try VoiceFrontEnd().features(try Waveform.read(URL(fileURLWithPath: voice)), file: voice)
        let g = try StyleGAN2Generator(checkpoint: Checkpoint.open(genURL))
        let model = try CMPCModel(stateDict: StateDict(Checkpoint.open(cmpcURL), path: "model"))
        let identity = try idURL.map { IdentityLoss(network: try IRSE50(stateDict: StateDict(Checkpoint.open($0)))) }
        let models = InferenceModels(generator: g, cmpc: model, identity: identity) {
            try loadLPIPS(vgg: vgg, lpips: lpips)
        }
        var config = InferenceConfig()
        config.k = k
        config.searchMode = mode == .instances ? .instances : .clusters
        config.aggregate = aggregate == .mean ? .mean : .similarity
        config.temperature = temperature
        config.seed = seed
        config.meanLatentSamples = meanSamples
        config.refinement.steps = steps
        config.refinement.identityWeight = idWeight
        config.refinement.anchorWeight = anchorWeight
        config.refinement.upstreamCompat = upstreamCompat
        config.projector.steps = invertSteps
        var bars: [String: Progress] = [:]
        let result = try InferencePipeline.run(features: features, index: idx, models: models, config: config) { stage, done, total, detail in
            if bars[stage] == nil { bars[stage] = Progress(label: stage, total: total, quiet: quiet || json) }
            bars[stage]!.update(done, detail)
        }
        for (path, reason) in result.skipped { FileHandle.standardError.write(Data("warning: skipped prototype \(path): \(reason)\n".utf8)) }
        // Outputs.
        let outURL = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        try PNGCodec.write(result.face, to: outURL.appendingPathComponent("face.png"))
        try NumPyFile.writeNpy(StoredTensor(result.latent), to: outURL.appendingPathComponent("latent.npy"))
        try PNGCodec.write(result.sheet, to: outURL.appendingPathComponent("sheet.png"))
        var checkpoints: [String: Any] = ["generator": ["path": genURL.path, "sha256": try SHA256.hex(file: genURL)],
                                          "cmpc": ["path": cmpcURL.path, "sha256": cmpcSHA]]
        if let idURL { checkpoints["irse50"] = ["path": idURL.path, "sha256": try SHA256.hex(file: idURL)] }
        let report: [String: Any] = [
            "voicestyle": voiceStyleVersion, "command": "infer",
            "inputs": ["voice": voice, "index": idx.directory.path, "features_frames": features.shape[2]],
            "settings": ["k": k, "mode": mode.rawValue, "aggregate": aggregate.rawValue, "temperature": Double(temperature), "steps": steps,
                         "id_weight": idWeight, "anchor_weight": anchorWeight, "upstream_compat": upstreamCompat, "invert_steps": invertSteps,
                         "seed": seed, "mean_samples": meanSamples],
            "checkpoints": checkpoints,
            "sheet": result.sheetCaptions.map { $0.joined(separator: " | ") },
            "prototypes": result.prototypes.map { ["rank": $0.hit.rank, "path": $0.hit.path, "identity": $0.hit.identity, "cosine": Double($0.hit.cosine),
                                                   "weight": Double($0.weight), "latent_cached": $0.latentWasCached] as [String: Any] },
            "skipped": result.skipped.map { ["path": $0.path, "reason": $0.reason] },
            "steps": result.steps.map { ["step": $0.step, "lr": $0.learningRate, "cmpc": $0.cmpc, "identity": $0.identity, "anchor": $0.anchor,
                                         "noise_regularize": $0.noiseRegularization, "loss": $0.total] as [String: Any] },
            "timings_s": Dictionary(result.timings.map { ($0.stage, $0.seconds) }, uniquingKeysWith: +),
            "total_s": Date().timeIntervalSince(started) >= 0 ? "see timings_s" : "",
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: outURL.appendingPathComponent("report.json"), options: .atomic)
        if json { print(String(decoding: data, as: UTF8.self)) } else if !quiet {
            let first = result.steps.first?.cmpc ?? 0, last = result.steps.last?.cmpc ?? 0
            print("wrote \(out)/face.png, sheet.png, latent.npy, report.json (CMPC distance \(String(format: "%.4f → %.4f", first, last)))")
        }
    }
}

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the model files in checkpoints/ (present, loadable, expected shapes) and the system libraries.")

    @Option(help: "Folder of the model files.", completion: .directory)
    var checkpoints: String = "checkpoints"

    func run() throws {
        var problems = 0
        func check(_ file: ModelFile, _ load: (URL) throws -> String) {
            let url = URL(fileURLWithPath: checkpoints).appendingPathComponent(file.name)
            guard FileManager.default.fileExists(atPath: url.path) else {
                print("✗ \(file.name): missing — the \(file.what); download it from \(file.source)")
                problems += 1
                return
            }
            do { print("✓ \(file.name): \(try load(url))") } catch {
                print("✗ \(file.name): \(error)")
                problems += 1
            }
        }
        check(.generator) { u in let g = try StyleGAN2Generator(checkpoint: Checkpoint.open(u)); return "StyleGAN2 \(g.config.size) px, W \(g.config.styleDim), latent_avg \(g.latentAverage != nil ? "present" : "absent")" }
        check(.cmpc) { u in let m = try CMPCModel(stateDict: StateDict(Checkpoint.open(u), path: "model")); return "CMPC voice/face ResNets, \(m.voice.embeddingSize)-d" }
        check(.memory) { u in let c = try Checkpoint.open(u); return "prototype memory with \(c.root.children.count) entries" }
        check(.irse50) { u in let n = try IRSE50(stateDict: StateDict(Checkpoint.open(u))); return "IR-SE50, \(n.embeddingSize)-d embeddings" }
        check(.vgg16) { u in
            let vgg = try StateDict(Checkpoint.open(u))
            let lin = URL(fileURLWithPath: checkpoints).appendingPathComponent(ModelFile.lpips.name)
            if FileManager.default.fileExists(atPath: lin.path) { _ = try LPIPS(vgg: vgg, lin: StateDict(Checkpoint.open(lin))) }
            return "VGG16 features, \(vgg.keys.count) tensors"
        }
        check(.lpips) { u in "LPIPS lin layers, \(try StateDict(Checkpoint.open(u)).keys.count) tensors" }
        print("✓ system libraries: OpenBLAS \(BLASThreads.current) threads, libsndfile, soxr, WebRTC VAD, TurboJPEG, libpng, FAISS (linked)")
        if problems > 0 { throw ExitCode(1) }
    }
}
