// `voicestyle infer`: argument parsing over InferRequest and InferManyRequest.
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
            cached; report.json says which ("latent_source": "cache" or "inverted"). Model files are found in the \
            checkpoints folders (`voicestyle doctor` lists them); \
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
    @OptionGroup var precisionOption: PrecisionOption
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
        c.precision = precisionOption.precision
        let loader = try modelFiles.loader(cmpc)
        if let voices { return try runMany(voices, config: c, loader: loader) }
        var request = InferRequest(voice: voice ?? "", index: location.directory(index).path)
        request.config = c
        request.models = modelFiles.paths(cmpc: cmpc)
        try c.validate()
        let outURL = try prepareOutputFolder(out, field: "out")
        let result = try request.run(in: JobContext(models: loader, progress: ProgressPrinter(quiet: quiet || json).callAsFunction))
        for s in result.report.skipped { FileHandle.standardError.write(Data("warning: skipped prototype \(s.path): \(s.reason)\n".utf8)) }
        try result.write(to: outURL)
        if json { return try printReport(InferRequest.envelope(result.report)) }
        if !quiet { print(summaryLine(result, folder: out)) }
    }

    /// `--voices`: InferManyRequest; one line per voice, then the totals; exit status 1 when a voice failed.
    func runMany(_ voices: String, config: InferenceConfig, loader: ModelLoader) throws {
        var request = InferManyRequest(voices: voices, index: location.directory(index).path, out: out)
        request.config = config
        request.models = modelFiles.paths(cmpc: cmpc)
        request.shard = try shard.map { try Shard.parse($0) }
        let report = try request.run(in: JobContext(models: loader, progress: ProgressPrinter(quiet: quiet || json).callAsFunction))
        if json { try printReport(InferManyRequest.envelope(report)) } else {
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

