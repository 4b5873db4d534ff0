// The prototype-index jobs as library calls: build an index from a face collection, invert its prototypes
// into cached latents, search it. Upstream has no index (cmpc2 memory.py is a frozen k-means memory); the
// cached latents replace voicestyle pipeline.py's per-run `project2latent` of each prototype (L160–175).
import Foundation
import VoiceStyleHub
import VoiceStyleAudio
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleFaces
import VoiceStyleImaging
import VoiceStyleIndex
import VoiceStyleInversion
import VoiceStyleModels

/// `index build`: embed a face collection into a prototype index (resumable).
public struct BuildIndexRequest: Codable, Sendable, Equatable {
    /// The index folder.
    public var index: String
    /// A folder tree (identity = folder `identityLevel` levels down) …
    public var faces: String?
    public var identityLevel = 1
    /// … or a CSV `path,identity[,extra…]` with paths relative to `facesRoot` (default: the CSV's folder).
    public var csv: String?
    public var facesRoot: String?
    /// CMPC checkpoint (default checkpoints/model_best_256.pth.tar); remembered by the index.
    public var cmpc: String?
    /// FAISS factory: Flat, IVF<n>,Flat or HNSW<m>,Flat.
    public var factory = "Flat"
    /// k-means clusters for cluster-mode search.
    public var clusters: Int?
    /// Images per database transaction.
    public var batch = 8
    /// Build only this slice of the images (in path order); merge the slices with `index merge`.
    public var shard: Shard?
    /// FFHQ-align each photo before embedding (nil: as is, upstream's pre-aligned crops); the index keeps each
    /// prototype's landmarks and the aligned crop is what gets inverted.
    public var align: AlignOptions?

    public init(index: String, faces: String? = nil, csv: String? = nil) {
        self.index = index; self.faces = faces; self.csv = csv
    }

    /// Refuses bad settings before any image is read. Neither `faces` nor `csv` asks to repair an existing index
    /// (re-derive its FAISS file from its database).
    public func validate() throws {
        guard faces == nil || csv == nil else { throw JobError("give exactly one of {faces} and {csv}") }
        if faces == nil && csv == nil && !FileManager.default.fileExists(atPath: PrototypeIndex.storeURL(URL(fileURLWithPath: index)).path) {
            throw JobError("give exactly one of {faces} and {csv}")
        }
        if let faces {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: faces, isDirectory: &isDir), isDir.boolValue else {
                throw JobError(field: "faces", "\(faces) is not a folder")
            }
        }
        if let csv { try Check.file("csv", csv) }
        try Check.range("identityLevel", identityLevel, 1...64)
        guard factory.range(of: #"^(Flat|IVF[1-9][0-9]{0,6},Flat|HNSW([4-9]|[1-9][0-9]{1,2}),Flat)$"#, options: .regularExpression) != nil else {
            throw JobError(field: "factory", "\(factory) is not supported; use Flat, IVF<n>,Flat (n ≥ 1) or HNSW<m>,Flat (4 ≤ m ≤ 999)")
        }
        try Check.range("batch", batch, 1...10_000)
        if let clusters { try Check.range("clusters", clusters, 1...1_000_000) }
        if let shard { _ = try Shard(index: shard.index, count: shard.count) }
        if let align {
            try align.validate()
            guard align.face != .all else { throw JobError(field: "alignFace", "all is not possible for an index (one prototype per photo): use largest or last") }
        }
    }
}

/// What `index build` did.
public struct BuildIndexReport: Codable, Sendable, Equatable {
    public var index: String
    public var summary: IndexBuildSummary
    public var cmpc: ModelRef
}

/// `index invert`: cache the latent of every prototype (or of `paths`) in the index (resumable).
public struct InvertPrototypesRequest: Codable, Sendable, Equatable {
    public var index: String
    public var settings = PrototypeInversionSettings()
    public var models = ModelPaths()
    /// Only these prototypes (default: every embedded or imported one).
    public var paths: [String]?
    /// Only the `perCluster` members nearest each k-means centroid (of those above); the index needs clusters.
    public var perCluster: Int?
    /// Invert only this slice of the selection (in its order) into the slice's own file,
    /// INDEX/latents/shard-I-of-N.sqlite; `mergeLatents` then copies every slice into the index.
    public var shard: Shard?
    /// The precision of the projector's large products (`auto`: bf16 where the CPU has it); part of the latent key.
    public var precision = Precision.auto

    public init(index: String) { self.index = index }

    public func validate() throws {
        _ = try Check.precision("precision", precision)
        if let perCluster { try Check.range("perCluster", perCluster, 1...1_000_000) }
        if let shard { _ = try Shard(index: shard.index, count: shard.count) }
        try Check.projector(settings.projector)
    }
}

/// One prototype's latent in a report.
public struct PrototypeLatentReport: Codable, Sendable, Equatable {
    public var path: String
    public var latentSource: LatentOrigin
    public var metrics: InversionMetrics?
}

/// What `index invert` did.
public struct InvertPrototypesReport: Codable, Sendable, Equatable {
    public var index: String
    public var key: LatentKey
    /// The slice inverted and the file its latents went to (nil: the whole selection, into the index).
    public var shard: Shard?
    public var latentFile: String?
    public var prototypes: [PrototypeLatentReport]
    public var skipped: [SkippedItem]
    public var seconds: Double
    public var inverted: Int { prototypes.filter { $0.latentSource == .inverted }.count }
    public var cached: Int { prototypes.filter { $0.latentSource == .cache }.count }
}

/// `index merge-latents`: copy the latent slices of `index invert --shard I/N` into the index.
public struct MergeLatentsRequest: Codable, Sendable, Equatable {
    public var index: String
    /// N of the slices to merge (nil: the one split present in INDEX/latents).
    public var shards: Int?

    public init(index: String) { self.index = index }

    public func validate() throws {
        if let shards { try Check.range("shards", shards, 1...1_000_000) }
    }
}

/// What `index merge-latents` did.
public struct MergeLatentsReport: Codable, Sendable, Equatable {
    public var index: String
    public var summary: LatentMergeSummary
}

/// `search`: rank an index's prototypes for a voice, a face or an embedding.
public struct SearchRequest: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable, CaseIterable { case instances, clusters }
    public var index: String
    public var voice: String?
    public var face: String?
    /// A query embedding .npy ([D] or [1, D]).
    public var embedding: String?
    public var k = 8
    public var mode = Mode.instances
    public var cmpc: String?

    public init(index: String) { self.index = index }

    public func validate() throws {
        guard [voice, face, embedding].compactMap({ $0 }).count == 1 else { throw JobError("give exactly one of {voice}, {face}, {embedding}") }
        try Check.range("k", k, 1...100_000)
        for (name, p) in [("voice", voice), ("face", face), ("embedding", embedding)] { if let p { try Check.file(name, p) } }
    }
}

extension Jobs {
    /// Builds or extends an index; remembers its CMPC checkpoint for later jobs. Without faces or CSV, repairs the
    /// existing index (`PrototypeIndex.repair`: its FAISS file re-derived from its database; the CMPC file is needed
    /// only when the index does not record its path: `repairedCMPC`). A build that embeds no image is an error.
    public static func buildIndex(_ request: BuildIndexRequest, models: ModelLoader, progress: JobProgress = { _ in }) throws -> BuildIndexReport {
        try request.validate()
        if request.faces == nil && request.csv == nil {
            let dir = URL(fileURLWithPath: request.index)
            let store = try PrototypeStore(url: PrototypeIndex.storeURL(dir), existing: true)
            let cmpc = try repairedCMPC(store, request: request, models: models)
            let summary = try PrototypeIndex.repair(directory: dir)
            if let cmpc { try store.setSettings(["cmpc_path": cmpc.path]) }
            return BuildIndexReport(index: dir.path, summary: summary,
                                    cmpc: ModelRef(path: try store.setting("cmpc_path") ?? "", sha256: try store.setting("cmpc_sha256") ?? ""))
        }
        let encoders = try models.encoders(request.cmpc)
        let ref = encoders.ref
        let source: IndexSource
        if let faces = request.faces {
            source = .folder(URL(fileURLWithPath: faces), identityLevel: request.identityLevel)
        } else {
            let csv = URL(fileURLWithPath: request.csv ?? "")
            source = .csv(csv, facesRoot: request.facesRoot.map { URL(fileURLWithPath: $0) } ?? csv.deletingLastPathComponent())
        }
        let items = try PrototypeIndex.items(source)
        guard !items.isEmpty else {
            throw JobError(request.faces.map { "{faces} \($0) holds no files \(request.identityLevel) folder level(s) down (one folder per identity, images inside)" }
                           ?? "{csv} \(request.csv ?? "") lists no images")
        }
        if let needed = PrototypeIndex.trainingVectors(factory: request.factory), items.count < needed {
            throw JobError(field: "factory", "\(request.factory) needs at least \(needed) faces to train on; \(request.faces ?? request.csv ?? "") holds \(items.count): "
                           + "use Flat, or IVF<n>,Flat with n ≤ \(items.count)")
        }
        var options = IndexBuildOptions()
        options.settings = ["cmpc_path": ref.path]
        options.factory = request.factory
        options.clusters = request.clusters
        options.batch = request.batch
        if let s = request.shard { options.shard = (s.index, s.count) }
        if let align = request.align {
            _ = try FaceDetector.shared(landmarkModel: align.landmarkModel)
            options.preparation = "FFHQ alignment \(align.size) px, face \(align.face.rawValue), upsample \(align.upsample)"
            options.prepare = { image in
                let alignment = try PhotoAligner.align(image, options: align)
                guard let face = alignment.faces.first else { throw JobError("no face found") }
                let note = FaceAlignmentNote(face, of: alignment, options: align)
                return (face.image, String(decoding: try JSONEncoder().encode(note), as: UTF8.self))
            }
        }
        let dir = URL(fileURLWithPath: request.index)
        let summary = try PrototypeIndex.build(directory: dir, source: source, encoder: encoders.face, options: options) { done, total in
            progress(JobEvent(stage: "index", done: done, total: total))
        }
        guard !(try PrototypeIndex(directory: dir).records.isEmpty) else {
            let reasons = summary.skipReasons.sorted { $0.value > $1.value }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            throw JobError("no image could be embedded into \(dir.path) (\(summary.skipped) skipped: \(reasons.isEmpty ? "none readable" : reasons))")
        }
        return BuildIndexReport(index: dir.path, summary: summary, cmpc: ref)
    }

    /// The CMPC checkpoint a repair records when the index lacks its path (a first build stopped early, an index of
    /// an older version) or the file it names is gone: the one given, else the default file, if its sha256 is the
    /// index's; nil when the index's own still serves and none is given. Refuses before repairing when it cannot say
    /// which file it is.
    static func repairedCMPC(_ store: PrototypeStore, request: BuildIndexRequest, models: ModelLoader) throws -> ModelRef? {
        guard try store.setting("source") == nil, let built = try store.setting("cmpc_sha256") else { return nil }
        if let given = request.cmpc {
            let (_, ref) = try models.cmpc(given)
            guard ref.sha256 == built else { throw IndexError.mixedCheckpoints(index: store.index, existing: built, given: ref.sha256) }
            return ref
        }
        if let recorded = try store.setting("cmpc_path"),
           FileManager.default.fileExists(atPath: recorded) || models.isRegistered(recorded) || recorded.hasPrefix("demo:") { return nil }
        if let ref = try? models.cmpc(nil).1, ref.sha256 == built { return ref }
        throw JobError(field: "cmpc", "is needed: the index \(store.index) does not record which CMPC checkpoint it was built with, or that file is gone "
                       + "(sha256 \(built.prefix(12))…); repair it with {cmpc} FILE naming that checkpoint")
    }

    /// Caches the latent of every prototype (or of `request.paths`) whose cached latent is missing or was made
    /// another way (generator, settings, seed).
    public static func invertPrototypes(_ request: InvertPrototypesRequest, models: ModelLoader,
                                        progress: JobProgress = { _ in }) throws -> InvertPrototypesReport {
        try request.validate()
        let start = Date()
        let index = try PrototypeIndex(directory: URL(fileURLWithPath: request.index))
        var seen = Set<String>()
        var selection = (request.paths ?? index.records.map(\.path)).filter { seen.insert($0).inserted }
        if let m = request.perCluster {
            let representatives: Set<String>
            do { representatives = Set(try index.clusterRepresentatives(perCluster: m)) } catch IndexError.noClusters {
                throw JobError(field: "perCluster", "needs an index with k-means clusters; \(index.directory.path) has none (build it with {clusters} K)")
            }
            selection = selection.filter { representatives.contains($0) }
        }
        guard !selection.isEmpty || request.shard != nil else {
            throw JobError(request.paths == nil ? "the index \(index.directory.path) has no prototypes to invert"
                                                : "{paths} name no prototype of the index \(index.directory.path)")
        }
        let cache = try models.latentSource(index: index, settings: request.settings, precision: try Check.precision("precision", request.precision),
                                            paths: request.models, resolveNow: true)
        var slice: LatentShard? = nil
        if let s = request.shard {
            slice = try LatentShard(directory: index.directory, index: s.index, count: s.count, key: cache.key.json, selection: selection,
                                    paths: s.slice(selection))
            cache.store = slice!.store
        }
        let paths = request.shard?.slice(selection) ?? selection
        var reports: [PrototypeLatentReport] = [], skipped: [SkippedItem] = []
        for (n, path) in paths.enumerated() {
            progress(JobEvent(stage: "invert prototypes", done: n, total: paths.count, detail: path))
            let (latent, skip) = try cache.latent(for: path) { s in
                progress(JobEvent(stage: "projector", done: s.step + 1, total: request.settings.projector.steps, detail: String(format: "lpips %.3f", s.perceptual)))
            }
            if let latent { reports.append(PrototypeLatentReport(path: path, latentSource: latent.source, metrics: latent.metrics)) }
            if let skip {
                skipped.append(skip)
                try slice?.markSkipped(path, reason: skip.reason)
            }
        }
        try slice?.finish()
        if reports.isEmpty, let first = skipped.first {
            throw JobError("no prototype of \(index.directory.path) could be inverted (\(skipped.count) skipped; \(first.path): \(first.reason))")
        }
        progress(JobEvent(stage: "invert prototypes", done: paths.count, total: paths.count))
        return InvertPrototypesReport(index: index.directory.path, key: cache.key, shard: request.shard, latentFile: slice?.url.path,
                                      prototypes: reports, skipped: skipped, seconds: Date().timeIntervalSince(start))
    }

    /// Copies the latents of every slice `index invert --shard I/N` made into the index (one transaction);
    /// refuses missing, unfinished or mismatched slices before writing anything.
    public static func mergeLatents(_ request: MergeLatentsRequest) throws -> MergeLatentsReport {
        try request.validate()
        let summary = try PrototypeIndex.mergeLatentShards(directory: URL(fileURLWithPath: request.index), count: request.shards)
        return MergeLatentsReport(index: request.index, summary: summary)
    }

    /// Ranks the index's prototypes for the query.
    public static func search(_ request: SearchRequest, models: ModelLoader) throws -> [IndexHit] {
        try request.validate()
        let index = try PrototypeIndex(directory: URL(fileURLWithPath: request.index))
        var query: [Float]
        if let embedding = request.embedding {
            query = try NumPyFile.readNpy(URL(fileURLWithPath: embedding)).tensor(Float.self).scalars
            if let problem = index.queryProblem(query) { throw JobError(field: "embedding", "\(embedding) \(problem)") }
        } else {
            let encoders = try models.encoders(for: index, explicit: request.cmpc)
            if let voice = request.voice {
                query = try encoders.voice.embed(voice).scalars
            } else {
                query = encoders.face.embed(input: FaceEncoder.input(try ImageFile.read(URL(fileURLWithPath: request.face ?? "")))).scalars
            }
        }
        return try Retriever(index: index, k: request.k, mode: request.mode).retrieve(query)
    }
}

/// `index merge`: shard indexes (`index build --shard I/N`) into one.
public struct MergeIndexesRequest: Codable, Sendable, Equatable {
    /// The index to write.
    public var output: String
    /// The shard indexes.
    public var parts: [String]
    public init(output: String, parts: [String]) { self.output = output; self.parts = parts }
}

/// What `index merge` made.
public struct MergeIndexesReport: PlainJobResult, Equatable {
    public var output: String
    public var parts: Int
    public var prototypes: Int
    public init(output: String, parts: Int, prototypes: Int) { (self.output, self.parts, self.prototypes) = (output, parts, prototypes) }
}

extension MergeIndexesRequest: JobRequest {
    public static let job = "index merge", summary = "shard indexes into one"
    public func run(in context: JobContext) throws -> MergeIndexesReport {
        guard !parts.isEmpty else { throw JobError(field: "parts", "must name at least one shard index") }
        let out = URL(fileURLWithPath: output)
        try PrototypeIndex.merge(output: out, parts: parts.map { URL(fileURLWithPath: $0) })
        return MergeIndexesReport(output: out.path, parts: parts.count, prototypes: try PrototypeIndex(directory: out).records.count)
    }
}

/// `index import-cmpc-memory`: cmpc2's frame memory + training.csv as an index whose cluster mode reproduces
/// getKNearestSamples.
public struct ImportMemoryRequest: Codable, Sendable, Equatable {
    public var index: String
    /// frame_memory_best_256.pth.tar
    public var memory: String
    /// training.csv (VGGFace1 ID, …, video_id), one row per memory instance.
    public var csv: String
    /// Folder holding VGGFace1 ID/1.6/video_id face folders.
    public var facesRoot: String
    /// cmpc2's cluster setting (1000 in voicestyle).
    public var clusters = 1000
    public init(index: String, memory: String, csv: String, facesRoot: String) {
        (self.index, self.memory, self.csv, self.facesRoot) = (index, memory, csv, facesRoot)
    }
}

/// What `index import-cmpc-memory` made.
public struct ImportMemoryReport: PlainJobResult, Equatable {
    public var index: String
    public var memory: String
    public var prototypes: Int
}

extension ImportMemoryRequest: JobRequest {
    public static let job = "index import-cmpc-memory", summary = "cmpc2's prototype memory as an index"
    public func run(in context: JobContext) throws -> ImportMemoryReport {
        try Check.file("memory", memory)
        try Check.file("csv", csv)
        let dir = URL(fileURLWithPath: index)
        try PrototypeIndex.importCMPCMemory(directory: dir, memory: Checkpoint.open(URL(fileURLWithPath: memory)), csv: URL(fileURLWithPath: csv),
                                            facesRoot: URL(fileURLWithPath: facesRoot), clusters: clusters)
        return ImportMemoryReport(index: dir.path, memory: memory, prototypes: try PrototypeIndex(directory: dir).records.count)
    }
}
