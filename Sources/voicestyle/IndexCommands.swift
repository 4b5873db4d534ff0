// `voicestyle index build|invert|import-cmpc-memory|merge|merge-latents` and `voicestyle search`: argument parsing
// over the library's jobs (BuildIndexRequest, InvertPrototypesRequest, …, SearchRequest).
import ArgumentParser
import Foundation
import VoiceStyle

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Build and maintain prototype indexes (CMPC face embeddings in FAISS + metadata in SQLite).",
        subcommands: [IndexBuildCommand.self, IndexInvertCommand.self, IndexImportCommand.self, IndexMergeCommand.self,
                      IndexMergeLatentsCommand.self])
}

struct IndexBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Index a face collection: a folder tree (identity = first folder level) or a CSV path,identity[,extra…].",
        discussion: """
            Resumable: rerun the same command after an interruption (even kill -9) and finished images are not \
            embedded again; new files added to the folder are added to the index. Unreadable or non-image files \
            are recorded as skipped with a reason; byte-identical files as duplicates. The index remembers its CMPC \
            checkpoint (search, infer and index invert use it unless told otherwise) and refuses images embedded \
            with another one. --shard I/N builds the I-th of N disjoint slices (merge them with `voicestyle index merge`). \
            Without --faces or --csv, repairs an existing index: its FAISS file is re-derived from its database. \
            One writer at a time: a second build or merge of the same index fails at once. \
            With --align each photo is FFHQ-aligned before embedding (photos without a face are skipped); the index \
            keeps the landmarks and inverts the aligned crops. An index is built one way only.
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
    @Option(help: "Build slice I of N (e.g. 0/4); auto: the Slurm array task (or Kubernetes JOB_COMPLETION_INDEX with auto/N).")
    var shard: String?
    @OptionGroup var alignment: AlignFlag
    @OptionGroup var location: IndexLocation
    @OptionGroup var folder: CheckpointsOption
    @Flag(help: "No progress display.")
    var quiet = false
    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        var request = BuildIndexRequest(index: location.directory(name).path, faces: faces, csv: csv)
        request.facesRoot = facesRoot
        request.identityLevel = identityLevel
        request.cmpc = cmpc
        request.factory = factory
        request.clusters = clusters
        request.batch = batch
        request.align = alignment.options
        request.shard = try shard.map { try Shard.parse($0) }
        let report = try request.run(in: JobContext(models: Demo.loader(for: [cmpc], locator: folder.locator), progress: ProgressPrinter(quiet: quiet || json).callAsFunction))
        if json { return try printReport(BuildIndexRequest.envelope(report)) }
        let s = report.summary
        print("index \(report.index): \(s.embedded) embedded, \(s.skipped) skipped, \(s.duplicates) duplicates, "
              + "\(s.alreadyDone) already done, in \(String(format: "%.1f", s.seconds)) s")
        for (reason, n) in s.skipReasons.sorted(by: { $0.key < $1.key }) { print("  skipped (\(reason)): \(n)") }
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
        var request = ImportMemoryRequest(index: location.directory(name).path, memory: memory, csv: csv, facesRoot: facesRoot)
        request.clusters = clusters
        let report = try request.run(in: JobContext())
        print("imported \(memory) into \(report.index): \(report.prototypes) prototypes")
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
        let report = try MergeIndexesRequest(output: location.directory(output).path, parts: parts.map { location.directory($0).path }).run(in: JobContext())
        print("merged \(report.parts) parts into \(report.output): \(report.prototypes) prototypes")
    }
}

struct IndexInvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invert",
        abstract: "Invert every prototype with the projector and cache its latent and noise maps in the index (resumable).",
        discussion: """
            Each cached latent is stored with how it was made (generator sha256, W or W+, steps, seed, loss weights). \
            A prototype whose cached latent was made another way is inverted again; `infer` reuses exactly the \
            latents made with its own settings (the defaults of both agree). Prototype P is inverted with seed \
            SEED + fnv1a64(P's path), whichever command inverts it. --per-cluster M inverts only the M members \
            nearest each k-means centroid (the prototypes cluster-mode retrieval starts from). --shard I/N inverts \
            slice I of N into INDEX/latents/shard-I-of-N.sqlite (resumable; never the index's own database, so N \
            tasks can run at once on a shared filesystem); `voicestyle index merge-latents` then copies the slices \
            into the index, the same bit for bit as one unsharded run. --shard auto takes the slice from a Slurm \
            job array (SLURM_ARRAY_TASK_ID/COUNT) or, as auto/N, a Kubernetes Indexed Job (JOB_COMPLETION_INDEX).
            """)

    @Argument(help: "Index name or path.")
    var name: String
    @OptionGroup var modelFiles: InversionModelOptions
    @OptionGroup var projector: ProjectorOptions
    @OptionGroup var precisionOption: PrecisionOption
    @Option(help: "Invert only the M members nearest each k-means centroid (the index needs --clusters).")
    var perCluster: Int?
    @Option(help: "Invert slice I of N (e.g. 0/4) into INDEX/latents; auto: the Slurm array task (Kubernetes: auto/N).")
    var shard: String?
    @OptionGroup var location: IndexLocation
    @Flag(help: "No progress display.")
    var quiet = false
    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        var request = InvertPrototypesRequest(index: location.directory(name).path)
        request.perCluster = perCluster
        request.shard = try shard.map { try Shard.parse($0) }
        request.settings.projector = projector.config
        request.settings.seed = projector.seed
        request.models = modelFiles.paths()
        request.precision = precisionOption.precision
        let report = try request.run(in: JobContext(models: modelFiles.loader(), progress: ProgressPrinter(quiet: quiet || json).callAsFunction))
        if json { return try printReport(InvertPrototypesRequest.envelope(report)) }
        for s in report.skipped { FileHandle.standardError.write(Data("skipped \(s.path): \(s.reason)\n".utf8)) }
        print("\(report.index)\(report.shard.map { " shard \($0)" } ?? ""): \(report.inverted) prototype(s) inverted now, \(report.cached) already cached, "
              + "\(report.skipped.count) skipped" + (report.latentFile.map { " (latents in \($0))" } ?? ""))
    }
}

struct IndexMergeLatentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-latents",
        abstract: "Copy the latent slices of `index invert --shard I/N` (INDEX/latents/shard-I-of-N.sqlite) into the index.",
        discussion: """
            Refuses, before writing anything, a missing or unfinished slice and slices inverted with other settings or \
            over another selection. The slice files are kept; merging again writes the same.
            """)

    @Argument(help: "Index name or path.")
    var name: String
    @Option(help: "N of the slices to merge (default: the one split present).")
    var shards: Int?
    @OptionGroup var location: IndexLocation
    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        var request = MergeLatentsRequest(index: location.directory(name).path)
        request.shards = shards
        let report = try request.run(in: JobContext())
        if json { return try printReport(MergeLatentsRequest.envelope(report)) }
        for (path, reason) in report.summary.skipped.sorted(by: { $0.key < $1.key }) { FileHandle.standardError.write(Data("skipped \(path): \(reason)\n".utf8)) }
        print("\(report.index): merged \(report.summary.latents) latent(s) from \(report.summary.shards) shard(s), \(report.summary.skipped.count) skipped")
    }
}

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
    @Option(help: "CMPC checkpoint for --voice/--face (default: the one the index was built with).", completion: .file())
    var cmpc: String?
    @Option(name: .short, help: "Number of prototypes.")
    var k: Int = 8
    @Option(help: "instances (cosine ranking) or clusters (upstream).")
    var mode: SearchRequest.Mode = .instances
    @Flag(help: "JSON output.")
    var json = false
    @OptionGroup var location: IndexLocation
    @OptionGroup var folder: CheckpointsOption

    func run() throws {
        var request = SearchRequest(index: location.directory(index).path)
        (request.voice, request.face, request.embedding, request.cmpc, request.k, request.mode) = (voice, face, embedding, cmpc, k, mode)
        let hits = try request.run(in: JobContext(models: Demo.loader(for: [cmpc], locator: folder.locator))).hits
        if json { return print(String(decoding: try JSONEncoder().encode(hits), as: UTF8.self)) }
        print(tableRow(["rank", "cosine", "identity", "path"], widths: [4, 7, -24, -40]))
        for h in hits { print(tableRow([String(h.rank), String(format: "%.4f", h.cosine), h.identity, h.path], widths: [4, 7, -24, -40])) }
    }
}

extension SearchRequest.Mode: ExpressibleByArgument {}
extension InferenceConfig.Aggregation: ExpressibleByArgument {}
