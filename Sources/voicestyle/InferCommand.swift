// `voicestyle infer` (Jobs.infer), `voicestyle demo` (Jobs.demo) and `voicestyle doctor`.
import ArgumentParser
import Foundation
import VoiceStyle

struct InferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Guess a face from a voice: retrieve prototypes, average their latents, refine towards the voice.",
        discussion: """
            Writes face.png, sheet.png (the prototypes with identity and cosine, the averaged-latent face and the \
            refined face, captioned), latent.npy and report.json to --out. Prototype latents come from the index's cache \
            (`voicestyle index invert`) when made with the same generator and settings, else they are inverted now and \
            cached; report.json says which ("latent_source": "cache" or "inverted"). Model files default to checkpoints/; \
            CMPC defaults to the checkpoint the index was built with. --upstream-compat uses upstream's refinement loss \
            exactly (no identity term, no latent anchor). \
            --voices LIST infers every clip of a folder (walked) or of a CSV with a path column into --out/NAME/, NAME \
            being the clip's folder-relative path without extension (-2, -3, … when two clash). Models are loaded once \
            and prototypes inverted at most once; a voice whose folder already holds the complete result of the same \
            settings is skipped, so an interrupted run resumes; a failing voice is reported and the others go on \
            (exit status 1 at the end). --shard I/N (or auto, as index build) infers slice I of N of the list.
            """)

    @Option(help: "Voice clip (any format libsndfile reads).", completion: .file())
    var voice: String?
    @Option(help: "Many voices: a folder of clips or a CSV with a path column; one result folder per voice under --out.")
    var voices: String?
    @Option(help: "With --voices: infer slice I of N of the list (e.g. 0/4); auto: the Slurm array task (Kubernetes: auto/N).")
    var shard: String?
    @Option(help: "Prototype index name or path.")
    var index: String
    @Option(help: "Output folder.", completion: .directory)
    var out: String
    @Option(name: .short, help: "Number of prototypes.")
    var k: Int = 8
    @Option(help: "instances (cosine ranking) or clusters (upstream retrieval).")
    var mode: SearchRequest.Mode = .instances
    @Option(help: "mean (upstream) or similarity (softmax(cos/τ) weights).")
    var aggregate: InferenceConfig.Aggregation = .mean
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
    @Option(help: "Projector steps for prototypes without a matching cached latent (as index invert --steps).")
    var invertSteps: Int = 300
    @Option(help: "Seed of prototype inversions (as index invert --seed).")
    var invertSeed: UInt64 = 0
    @Option(help: "Seed of the refinement (same inputs and seed give identical outputs).")
    var seed: UInt64 = 0
    @Option(help: "z samples for σ_W.")
    var meanSamples: Int = 10_000
    @Option(help: "CMPC (default: the checkpoint the index was built with).", completion: .file())
    var cmpc: String?
    @OptionGroup var modelFiles: InversionModelOptions
    @OptionGroup var location: IndexLocation
    @Flag(help: "No progress display.") var quiet = false
    @Flag(help: "Print report.json to standard output.") var json = false

    func run() throws {
        guard (voice == nil) != (voices == nil) else { throw ValidationError("give exactly one of --voice and --voices") }
        guard shard == nil || voices != nil else { throw ValidationError("--shard goes with --voices") }
        var c = InferenceConfig()
        (c.k, c.searchMode, c.aggregate, c.temperature, c.seed, c.meanLatentSamples) = (k, mode, aggregate, temperature, seed, meanSamples)
        c.refinement.steps = steps
        c.refinement.identityWeight = idWeight
        c.refinement.anchorWeight = anchorWeight
        c.refinement.upstreamCompat = upstreamCompat
        c.inversion.projector.steps = invertSteps
        c.inversion.seed = invertSeed
        let loader = try Demo.loader(for: modelFiles.names + [cmpc])
        if let voices { return try runMany(voices, config: c, loader: loader) }
        var request = InferRequest(voice: voice ?? "", index: location.directory(index).path)
        request.config = c
        request.models = modelFiles.paths(cmpc: cmpc)
        try c.validate()
        let outURL = try prepareOutputFolder(out, option: "--out")
        let result = try Jobs.infer(request, models: loader, progress: ProgressPrinter(quiet: quiet || json).callAsFunction)
        for s in result.report.skipped { FileHandle.standardError.write(Data("warning: skipped prototype \(s.path): \(s.reason)\n".utf8)) }
        try result.write(to: outURL)
        if json { return try printReport(result.report) }
        if !quiet { print(summaryLine(result, folder: out)) }
    }

    /// `--voices`: Jobs.inferMany; one line per voice, then the totals; exit status 1 when a voice failed.
    func runMany(_ voices: String, config: InferenceConfig, loader: ModelLoader) throws {
        var request = InferManyRequest(voices: voices, index: location.directory(index).path, out: out)
        request.config = config
        request.models = modelFiles.paths(cmpc: cmpc)
        request.shard = try shard.map { try Shard.parse($0) }
        let report = try Jobs.inferMany(request, models: loader, progress: ProgressPrinter(quiet: quiet || json).callAsFunction)
        if json { try printReport(report) } else {
            for v in report.voices {
                switch v.status {
                case .done: if !quiet { print("\(v.folder): done in \(String(format: "%.1f", v.seconds)) s") }
                case .complete: if !quiet { print("\(v.folder): already complete") }
                case .failed: FileHandle.standardError.write(Data("error: \(v.voice): \(v.error ?? "failed")\n".utf8))
                }
            }
            let rate = report.voicesPerHour.map { String(format: " (%.0f voices/hour)", $0) } ?? ""
            print("\(report.voices.count) of \(report.listed) voices\(report.shard.map { " (shard \($0))" } ?? ""): \(report.done) inferred now\(rate), "
                  + "\(report.voices.count - report.done - report.failed) already complete, \(report.failed) failed; results in \(report.out)")
        }
        if report.failed > 0 { throw ExitCode(1) }
    }
}

/// "wrote DIR/face.png, … (CMPC distance a → b; prototypes: n cached, m inverted)".
func summaryLine(_ result: InferenceResult, folder: String) -> String {
    let first = result.report.steps.first?.cmpc ?? 0, last = result.report.steps.last?.cmpc ?? 0
    let cached = result.report.prototypes.filter { $0.latentSource == .cache }.count
    return "wrote \(folder)/face.png, sheet.png, latent.npy, report.json (CMPC distance \(String(format: "%.4f → %.4f", first, last)); "
        + "prototype latents: \(cached) cached, \(result.report.prototypes.count - cached) inverted now)"
}

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole pipeline on the bundled sample faces and voice with tiny untrained models (no downloads).",
        discussion: """
            Builds a prototype index of the 44 bundled face photos (11 people), inverts the prototypes the voice \
            retrieves, refines their averaged latent towards the voice and writes face.png, sheet.png, latent.npy, \
            report.json and demo.json to --out. The models are seeded random weights made by code, so the face is \
            not meaningful: the demo shows every stage and every output. With the real model files \
            (`voicestyle models fetch`) use `voicestyle index build` and `voicestyle infer`.
            """)

    @Option(help: "Output folder.", completion: .directory)
    var out: String = "voicestyle-demo"
    @Option(help: "A voice clip of your own (default: the bundled VoxCeleb clip).", completion: .file())
    var voice: String?
    @Option(help: "Refinement steps.")
    var steps: Int = 20
    @Option(help: "Projector steps per retrieved prototype.")
    var invertSteps: Int = 30
    @Option(help: "Seed.")
    var seed: UInt64 = 0
    @Flag(inversion: .prefixedNo, help: "FFHQ-align the bundled photos first (dlib; needs libdlib-data).")
    var align = true
    @Flag(help: "No progress display.") var quiet = false

    func run() throws {
        var request = DemoRequest()
        (request.out, request.voice, request.steps, request.invertSteps, request.seed) = (out, voice, steps, invertSteps, seed)
        request.align = align
        let (result, report) = try Jobs.demo(request, progress: ProgressPrinter(quiet: quiet).callAsFunction)
        let s = report.index.summary
        print("demo index: \(s.embedded) faces \(align ? "aligned and " : "")embedded in \(report.index.index)"
              + (s.skipped > 0 ? " (\(s.skipped) skipped: \(s.skipReasons.keys.sorted().joined(separator: ", ")))" : ""))
        print(summaryLine(result, folder: out))
        print(Demo.notice)
    }
}

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the model files in checkpoints/ (present, loadable, expected shapes) and the system libraries.",
        discussion: "Missing files can be downloaded with `voicestyle models fetch`; `voicestyle demo` runs without any of them.")

    @Option(help: "Folder of the model files.", completion: .directory)
    var checkpoints: String = "checkpoints"

    func run() throws {
        var problems = 0
        let folder = URL(fileURLWithPath: checkpoints)
        let loader = ModelLoader(checkpoints: folder)
        func check(_ file: ModelFile, _ load: () throws -> String) {
            guard FileManager.default.fileExists(atPath: folder.appendingPathComponent(file.name).path) else {
                print("✗ \(file.name): missing — the \(file.what); `voicestyle models fetch --only \(file.name)` or download it from \(file.source)")
                problems += 1
                return
            }
            do { print("✓ \(file.name): \(try load())") } catch {
                print("✗ \(file.name): \(error)")
                problems += 1
            }
        }
        check(.generator) { let g = try loader.generator(nil).0; return "StyleGAN2 \(g.config.size) px, W \(g.config.styleDim), latent_avg \(g.latentAverage != nil ? "present" : "absent")" }
        check(.cmpc) { "CMPC voice/face ResNets, \(try loader.cmpc(nil).0.voice.embeddingSize)-d" }
        check(.memory) { "prototype memory with \(try Checkpoint.open(folder.appendingPathComponent(ModelFile.memory.name)).root.children.count) entries" }
        check(.irse50) { "IR-SE50, \(try loader.identity(nil).0.network.embeddingSize)-d embeddings" }
        check(.vgg16) { _ = try loader.lpips(vgg: nil, lin: nil); return "VGG16 features + LPIPS lin layers" }
        check(.lpips) { "LPIPS lin layers, \(try StateDict(Checkpoint.open(folder.appendingPathComponent(ModelFile.lpips.name))).keys.count) tensors" }
        if FileManager.default.fileExists(atPath: FaceDetector.defaultLandmarkModel) {
            do {
                _ = try FaceDetector.shared()
                print("✓ face alignment: dlib detector + 68-point landmarks (\(FaceDetector.defaultLandmarkModel); iBUG 300-W, no commercial use)")
            } catch { print("✗ face alignment: \(error)"); problems += 1 }
        } else {
            print("✗ face alignment: \(FaceDetectorError.landmarkModelMissing(FaceDetector.defaultLandmarkModel))")
            problems += 1
        }
        let recognizerFiles = [FaceRecognizer.defaultModel, FaceRecognizer.defaultShapePredictor]
            .map { folder.appendingPathComponent(URL(fileURLWithPath: $0).lastPathComponent).path }
        do {
            _ = try FaceRecognizer.shared(model: recognizerFiles[0], shapePredictor: recognizerFiles[1])
            print("✓ face recognition: dlib ResNet, 128-d descriptors + 5-point landmarks (CC0)")
        } catch { print("✗ face recognition: \(error)"); problems += 1 }
        print("✓ system libraries: OpenBLAS \(BLASThreads.current) threads, libsndfile, soxr, WebRTC VAD, TurboJPEG, libpng, FAISS, dlib (linked)")
        if (try? Demo.data) != nil { print("✓ demo material: bundled (voicestyle demo runs without model files)") }
        if problems > 0 { throw ExitCode(1) }
    }
}

struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "Get the upstream model files.", subcommands: [ModelsFetchCommand.self])
}

struct ModelsFetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download the upstream model files into checkpoints/ (resumable; verified where sizes and hashes are known).",
        discussion: """
            Files come from where upstream publishes them (ModelFile table; `voicestyle doctor` lists them). An \
            interrupted download resumes from its .part file; Google Drive's confirm page is answered. When a host \
            refuses (a Drive folder, a quota, a login), the message names the URL to open in a browser and where to \
            save the file. Exit status 1 when any file is missing afterwards.
            """)

    @Option(help: "Only this file (repeatable): 550000.pt, model_best_256.pth.tar, frame_memory_best_256.pth.tar, model_ir_se50.pth, vgg16-397923af.pth, vgg.pth.")
    var only: [String] = []
    @Option(help: "Folder to download into.", completion: .directory)
    var checkpoints: String = "checkpoints"
    @Flag(help: "No progress display.") var quiet = false

    func run() throws {
        var request = FetchModelsRequest()
        request.folder = checkpoints
        request.only = only.isEmpty ? nil : only
        let results = try Jobs.fetchModels(request, progress: ProgressPrinter(quiet: quiet).callAsFunction)
        for r in results {
            if let e = r.error { print("✗ \(r.name): \(e)") } else { print("✓ \(r.name): \(r.status), \(r.bytes ?? 0) bytes, sha256 \(r.sha256 ?? "?")") }
        }
        if results.contains(where: { $0.status == "failed" }) { throw ExitCode(1) }
    }
}
