// `voicestyle index build|invert|import-cmpc-memory|merge` and `voicestyle search`.
import ArgumentParser
import Foundation
import VoiceStyle

/// Options naming an index folder.
struct IndexLocation: ParsableArguments {
    @Option(help: "Folder holding the prototype indexes.", completion: .directory)
    var prototypes: String = "prototypes"

    func directory(_ name: String) -> URL {
        name.contains("/") ? URL(fileURLWithPath: name) : URL(fileURLWithPath: prototypes).appendingPathComponent(name)
    }
}

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Build and maintain prototype indexes (CMPC face embeddings in FAISS + metadata in SQLite).",
        subcommands: [IndexBuildCommand.self, IndexInvertCommand.self, IndexImportCommand.self, IndexMergeCommand.self])
}

struct IndexBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Index a face collection: a folder tree (identity = first folder level) or a CSV path,identity[,extra…].",
        discussion: """
            Resumable: rerun the same command after an interruption (even kill -9) and finished images are not \
            embedded again; new files added to the folder are added to the index. Unreadable or non-image files \
            are recorded as skipped with a reason; byte-identical files as duplicates. The index refuses images \
            embedded with another CMPC checkpoint. --shard I/N builds the I-th of N disjoint slices (merge them \
            with `voicestyle index merge`).
            """)

    @Argument(help: "Index name (a folder under --prototypes) or a path.")
    var name: String

    @Option(help: "Root folder of face images.", completion: .directory)
    var faces: String?

    @Option(help: "CSV manifest (path,identity[,extra columns kept as metadata]).", completion: .file(extensions: ["csv"]))
    var csv: String?

    @Option(help: "Folder the CSV's relative paths start from (default: the CSV's folder).", completion: .directory)
    var facesRoot: String?

    @Option(help: "Folder level below the root that names the identity.")
    var identityLevel: Int = 1

    @Option(help: "CMPC checkpoint (default checkpoints/model_best_256.pth.tar).", completion: .file())
    var cmpc: String?

    @Option(help: "FAISS index: Flat (exact), IVF<n>,Flat or HNSW<m>,Flat.")
    var factory: String = "Flat"

    @Option(help: "k-means clusters for cluster-mode search (as upstream's prototype memory).")
    var clusters: Int?

    @Option(help: "Images per database transaction.")
    var batch: Int = 8

    @Option(help: "Build slice I of N (e.g. 0/4), for batch schedulers.")
    var shard: String?

    @OptionGroup var location: IndexLocation

    @Flag(help: "No progress display.")
    var quiet = false

    func validate() throws {
        guard (faces == nil) != (csv == nil) else { throw ValidationError("give exactly one of --faces and --csv") }
        if let shard {
            let p = shard.split(separator: "/").compactMap { Int($0) }
            guard p.count == 2, p[1] >= 1, p[0] >= 0, p[0] < p[1] else { throw ValidationError("--shard takes I/N with 0 ≤ I < N, e.g. 0/4") }
        }
    }

    func run() throws {
        let cmpcURL = try ModelFile.cmpc.resolve(cmpc)
        let model = try CMPCModel(stateDict: StateDict(Checkpoint.open(cmpcURL), path: "model"))
        let source: IndexSource
        if let faces { source = .folder(URL(fileURLWithPath: faces), identityLevel: identityLevel) }
        else {
            let c = URL(fileURLWithPath: csv!)
            source = .csv(c, facesRoot: facesRoot.map { URL(fileURLWithPath: $0) } ?? c.deletingLastPathComponent())
        }
        var options = IndexBuildOptions()
        options.factory = factory
        options.clusters = clusters
        options.batch = batch
        if let shard { let p = shard.split(separator: "/").compactMap { Int($0) }; options.shard = (p[0], p[1]) }
        let dir = location.directory(name)
        var bar: Progress? = nil
        let summary = try PrototypeIndex.build(directory: dir, source: source, cmpc: model, cmpcSHA256: try SHA256.hex(file: cmpcURL),
                                               options: options) { done, total in
            if bar == nil { bar = Progress(label: "index", total: total, quiet: quiet, rateUnit: "img", first: done) }
            bar!.update(done, "")
        }
        print("index \(dir.path): \(summary.embedded) embedded, \(summary.skipped) skipped, \(summary.duplicates) duplicates, "
              + "\(summary.alreadyDone) already done, in \(String(format: "%.1f", summary.seconds)) s")
        for (reason, n) in summary.skipReasons.sorted(by: { $0.key < $1.key }) { print("  skipped (\(reason)): \(n)") }
    }
}

struct IndexImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-cmpc-memory",
        abstract: "Import cmpc2's frame memory + training.csv as an index whose cluster mode reproduces getKNearestSamples.")

    @Argument(help: "Index name or path.")
    var name: String

    @Option(help: "frame_memory_best_256.pth.tar", completion: .file())
    var memory: String

    @Option(help: "training.csv (VGGFace1 ID, …, video_id), one row per memory instance.", completion: .file())
    var csv: String

    @Option(help: "Folder holding VGGFace1 ID/1.6/video_id face folders.", completion: .directory)
    var facesRoot: String

    @Option(help: "cmpc2's cluster setting (1000 in voicestyle).")
    var clusters: Int = 1000

    @OptionGroup var location: IndexLocation

    func run() throws {
        let dir = location.directory(name)
        try PrototypeIndex.importCMPCMemory(directory: dir, memory: Checkpoint.open(URL(fileURLWithPath: memory)), csv: URL(fileURLWithPath: csv),
                                            facesRoot: URL(fileURLWithPath: facesRoot), clusters: clusters)
        print("imported \(memory) into \(dir.path)")
    }
}

struct IndexMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "merge", abstract: "Merge shard indexes into one.")

    @Argument(help: "Output index name or path.")
    var output: String

    @Argument(help: "Shard indexes (names or paths).")
    var parts: [String]

    @OptionGroup var location: IndexLocation

    func run() throws {
        let out = location.directory(output)
        try PrototypeIndex.merge(output: out, parts: parts.map { location.directory($0) })
        let index = try PrototypeIndex(directory: out)
        print("merged \(parts.count) parts into \(out.path): \(index.records.count) prototypes")
    }
}

struct IndexInvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invert",
        abstract: "Invert every prototype with the projector and cache its W latent and noise maps in the index (resumable).")

    @Argument(help: "Index name or path.")
    var name: String

    @Option(help: "Generator checkpoint (default checkpoints/550000.pt).", completion: .file())
    var generator: String?
    @Option(help: "VGG16 weights (default checkpoints/vgg16-397923af.pth).", completion: .file())
    var vgg: String?
    @Option(help: "LPIPS lin weights (default checkpoints/vgg.pth).", completion: .file())
    var lpips: String?
    @Option(help: "IR-SE50 weights (default checkpoints/model_ir_se50.pth).", completion: .file())
    var idModel: String?
    @Option(help: "Projector steps.")
    var steps: Int = 300
    @Option(help: "Identity-loss weight (0 skips IR-SE50).")
    var idWeight: Double = 1
    @Option(help: "Seed.")
    var seed: UInt64 = 0
    @OptionGroup var location: IndexLocation
    @Flag(help: "No progress display.")
    var quiet = false

    func run() throws {
        let dir = location.directory(name)
        let index = try PrototypeIndex(directory: dir)
        let g = try StyleGAN2Generator(checkpoint: Checkpoint.open(ModelFile.generator.resolve(generator)))
        let projector = try loadProjector(generator: g, vgg: vgg, lpips: lpips, idModel: idModel, identity: idWeight != 0)
        let root = URL(fileURLWithPath: try index.store.setting("faces_root") ?? ".")
        var config = ProjectorConfig()
        config.steps = steps
        config.identityWeight = idWeight
        try index.store.setSettings(["inversion": "steps=\(steps) lr=\(config.learningRate) id_weight=\(idWeight) w_plus=false seed=\(seed)"])
        var rng = SeededGenerator(seed: seed)
        let (mean, std) = projector.latentStatistics(count: config.meanLatentSamples, using: &rng)
        let todo = index.records.filter { $0.latent == nil }
        let bar = Progress(label: "invert prototypes", total: todo.count, quiet: quiet)
        for (n, r) in todo.enumerated() {
            let url = r.path.hasPrefix("/") ? URL(fileURLWithPath: r.path) : root.appendingPathComponent(r.path)
            guard let img = try? ImageFile.read(url) else {
                FileHandle.standardError.write(Data("\nskipping \(r.path): unreadable\n".utf8))
                continue
            }
            let size = min(g.config.size, 256)
            let target = FacePreprocessing.projector(img, size: size).reshaped([1, 3, size, size])
            var randomness = SeededProjectorRandomness(seed: seed &+ UInt64(r.id ?? 0))
            let result = try projector.project(target, config: config, latentMean: mean, latentStd: std, randomness: &randomness)
            let last = result.steps.last!
            let metrics = String(decoding: try JSONSerialization.data(withJSONObject: ["lpips": last.perceptual, "identity": last.identity, "mse": last.mse,
                                                                                       "steps": steps], options: [.sortedKeys]), as: UTF8.self)
            try index.store.setLatent(path: r.path, latent: result.latent.scalars, noises: result.noises.flatMap { $0.scalars }, metrics: metrics)
            bar.update(n + 1, String(format: "lpips %.3f", last.perceptual))
        }
        print("cached latents for \(todo.count) prototype(s) in \(dir.path)")
    }
}

enum SearchMode: String, ExpressibleByArgument, CaseIterable { case instances, clusters }

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Rank an index's prototypes for a voice, a face or an embedding.",
        discussion: "--mode clusters reproduces upstream's retrieval (nearest 3 clusters, members in order).")

    @Option(help: "Index name or path.")
    var index: String
    @Option(help: "Voice clip (embedded with the CMPC voice encoder).", completion: .file())
    var voice: String?
    @Option(help: "Face image (embedded with the CMPC face encoder).", completion: .file())
    var face: String?
    @Option(help: "A query embedding .npy ([D] or [1, D]).", completion: .file(extensions: ["npy"]))
    var embedding: String?
    @Option(help: "CMPC checkpoint for --voice/--face (default checkpoints/model_best_256.pth.tar).", completion: .file())
    var cmpc: String?
    @Option(name: .short, help: "Number of prototypes.")
    var k: Int = 8
    @Option(help: "instances (cosine ranking) or clusters (upstream).")
    var mode: SearchMode = .instances
    @Flag(help: "JSON output.")
    var json = false
    @OptionGroup var location: IndexLocation

    func validate() throws {
        guard [voice, face, embedding].compactMap({ $0 }).count == 1 else { throw ValidationError("give exactly one of --voice, --face, --embedding") }
        guard k >= 1 else { throw ValidationError("-k must be at least 1") }
    }

    func run() throws {
        let idx = try PrototypeIndex(directory: location.directory(index))
        var query: [Float]
        if let embedding {
            query = try NumPyFile.readNpy(URL(fileURLWithPath: embedding)).tensor(Float.self).scalars
        } else {
            let cmpcURL = try ModelFile.cmpc.resolve(cmpc)
            if let built = try idx.store.setting("cmpc_sha256"), try idx.store.setting("source") == nil, built != (try SHA256.hex(file: cmpcURL)) {
                throw IndexError.mixedCheckpoints(index: idx.directory.path, existing: built, given: try SHA256.hex(file: cmpcURL))
            }
            let model = try CMPCModel(stateDict: StateDict(Checkpoint.open(cmpcURL), path: "model"))
            if let voice {
                let f = try VoiceFrontEnd().features(try Waveform.read(URL(fileURLWithPath: voice)), file: voice)
                query = withoutGradients { model.voice(f.reshaped([1] + f.shape)) }.scalars
            } else {
                let img = try ImageFile.read(URL(fileURLWithPath: face!))
                query = withoutGradients { model.face(FacePreprocessing.cmpc(img).reshaped([1, 3, 256, 256])) }.scalars
            }
        }
        let hits = mode == .instances ? try idx.searchInstances(query, k: k) : try idx.searchClusters(query, k: k)
        if json {
            let data = try JSONEncoder().encode(hits)
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(tableRow(["rank", "cosine", "identity", "path"], widths: [4, 7, -24, -40]))
        for h in hits { print(tableRow([String(h.rank), String(format: "%.4f", h.cosine), h.identity, h.path], widths: [4, 7, -24, -40])) }
    }
}
