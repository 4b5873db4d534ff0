// A prototype index: CMPC face embeddings of a face collection in FAISS plus their metadata in SQLite, in
// prototypes/NAME/ (index-<generation>.faiss, prototypes.sqlite, manifest.json, build.lock). Upstream has no
// index; its retrieval (cmpc2 memory.py `getKNearestSamples`) is the "clusters" search mode here.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleImaging

/// Where the images come from.
public enum IndexSource: Sendable {
    /// A folder tree; the identity is the folder `identityLevel` levels below the root (1 = first level).
    case folder(URL, identityLevel: Int)
    /// A CSV manifest `path,identity[,extra columns…]`; relative paths are resolved against `facesRoot`.
    case csv(URL, facesRoot: URL)
}

/// One image to index.
public struct IndexItem: Sendable {
    public var path: String, url: URL, identity: String, metadata: String?
}

/// Build settings; stored in the index.
public struct IndexBuildOptions: Sendable {
    /// FAISS factory string: "Flat" (exact, default), "IVF<n>,Flat", "HNSW<m>,Flat".
    public var factory = "Flat"
    /// k-means clusters for cluster-mode search (nil: none).
    public var clusters: Int? = nil
    /// Images decoded and committed per database transaction (the network sees one image at a time).
    public var batch = 8
    /// Build only slice `shard.index` of `shard.count` (items at positions ≡ index mod count, in path order).
    public var shard: (index: Int, count: Int)? = nil
    /// Prepares each decoded image before it is embedded (e.g. FFHQ face alignment): the image to embed and a
    /// note stored with the prototype (its `alignment` column). Throwing skips the image, the error's
    /// description being the reason ("no face found").
    public var prepare: (@Sendable (RGBImage) throws -> (image: RGBImage, note: String))? = nil
    /// What `prepare` does in words, kept as the index's "preparation" setting: an index holds images prepared
    /// one way only ("none" without `prepare`).
    public var preparation = "none"
    public init() {}
}

/// What a build did.
public struct IndexBuildSummary: Sendable, Codable, Equatable {
    public var embedded = 0, skipped = 0, duplicates = 0, alreadyDone = 0
    public var skipReasons: [String: Int] = [:]
    public var seconds = 0.0
    public var total = 0
}

/// A ranked search result.
public struct IndexHit: Sendable, Codable, Equatable {
    public var rank: Int, cosine: Float, identity: String, path: String, cluster: Int?
}

public enum IndexError: Error, CustomStringConvertible {
    case mixedCheckpoints(index: String, existing: String, given: String)
    case mixedPreparation(index: String, existing: String, given: String)
    case notFound(String)
    case empty(String)
    case noClusters(String)
    case noEmbeddings(String)
    case badSource(String)
    /// Another process holds the index's write lock (build, merge, import, repair).
    case busy(index: String, pid: String)
    /// The FAISS file of the committed generation is missing.
    case missingVectors(index: String, file: String)
    /// The FAISS file and the database disagree (or the FAISS file predates generations); `problem` says how.
    case needsRepair(index: String, problem: String)
    /// A database failure, as one sentence naming the index.
    case database(String)

    public var description: String {
        switch self {
        case let .mixedCheckpoints(i, e, g): "the index \(i) was built with a CMPC checkpoint of sha256 \(e.prefix(12))…; this one is \(g.prefix(12))…: use the same checkpoint or a new index"
        case let .mixedPreparation(i, e, g): "the index \(i) was built with face preparation \"\(e)\"; this build asks for \"\(g)\": use the same --align settings or a new index"
        case let .notFound(p): "no prototype index at \(p) (build one with: voicestyle index build NAME --faces DIR --cmpc CKPT)"
        case let .empty(p): "the prototype index \(p) holds no embedded prototypes"
        case let .noClusters(p): "the index \(p) has no clusters: build it with --clusters K, or search with --mode instances"
        case let .noEmbeddings(p): "the index \(p) holds no face embeddings (an imported CMPC memory): search it with --mode clusters"
        case let .badSource(r): r
        case let .busy(i, pid): "index \(i) is being built by process \(pid)"
        case let .missingVectors(i, f): "the index \(i) has lost its FAISS file \(f): repair it with: voicestyle index build \(i)"
        case let .needsRepair(i, p): "the index \(i) \(p): repair it with: voicestyle index build \(i)"
        case let .database(m): m
        }
    }
}

/// An opened index: the last committed generation of its FAISS file and the database rows it holds.
///
/// Consistency rules. FAISS labels are the database's row ids (`prototypes.id`), never positions. Every FAISS
/// write goes to a new file `index-<generation>.faiss` (written atomically); then one SQLite transaction stamps
/// the rows it holds with that generation and sets `settings.generation`; only then are older FAISS files
/// removed. A reader reads the generation and its rows in one transaction and opens that file, so while a
/// build runs (or after one was killed) it sees the last committed generation. Opening refuses a FAISS file
/// that disagrees with the database (missing, other ids or count, other dimension) with a message naming the
/// repair, `voicestyle index build NAME`. Indexes written before generations (`index.faiss`, rows tied by
/// position, no `settings.generation`) are refused the same way; the next build or `repair(directory:)`
/// migrates them (it re-derives the FAISS file from the database).
///
/// Writers (build, merge into, import, repair) hold `build.lock` (flock, with the holder's PID); a second
/// writer fails at once with `IndexError.busy`.
public final class PrototypeIndex {
    public let directory: URL
    public let store: PrototypeStore
    /// The FAISS index over the embedded `records` (nil for imported memories without embeddings).
    public let vectors: VectorIndex?
    /// The prototypes served: the embedded rows of the committed generation (and imported rows), by path.
    public let records: [PrototypeRecord]
    /// The committed FAISS generation (nil when the index has no FAISS file: imported memory or nothing embedded).
    public let generation: Int?
    /// The embedded records by database id (= FAISS label).
    private let byID: [Int64: PrototypeRecord]

    public static func storeURL(_ dir: URL) -> URL { dir.appendingPathComponent("prototypes.sqlite") }
    /// The FAISS file of one generation.
    public static func vectorsURL(_ dir: URL, generation: Int) -> URL { dir.appendingPathComponent("index-\(generation).faiss") }
    /// The FAISS file of indexes written before generations (rows by position).
    static func legacyVectorsURL(_ dir: URL) -> URL { dir.appendingPathComponent("index.faiss") }
    /// The writers' lock file.
    public static func lockURL(_ dir: URL) -> URL { dir.appendingPathComponent("build.lock") }

    /// Opens an index folder at its last committed generation; refuses a FAISS file that disagrees with the database.
    public init(directory: URL) throws {
        guard FileManager.default.fileExists(atPath: PrototypeIndex.storeURL(directory).path) else { throw IndexError.notFound(directory.path) }
        self.directory = directory
        store = try PrototypeStore(url: PrototypeIndex.storeURL(directory))
        let loaded = try PrototypeIndex.load(directory: directory, store: store)
        generation = loaded.0
        records = loaded.1
        vectors = loaded.2
        byID = Dictionary(records.compactMap { r in r.id.map { ($0, r) } }.filter { $0.1.status == "embedded" }, uniquingKeysWith: { a, _ in a })
    }

    /// Reads the committed generation and checks its FAISS file against the database. A build may commit a newer
    /// generation (and remove this one's file) between the two reads: then it reads again.
    private static func load(directory: URL, store: PrototypeStore) throws -> (Int?, [PrototypeRecord], VectorIndex?) {
        let name = directory.path
        for attempt in 0..<4 {
            let (generation, records, embeddedRows) = try store.committed()
            guard let generation else {
                if embeddedRows == 0 { return (nil, records, nil) }  // an imported memory, or nothing embedded yet
                if FileManager.default.fileExists(atPath: legacyVectorsURL(directory).path) {
                    throw IndexError.needsRepair(index: name, problem: "was written by an older version (FAISS rows tied to the database by position)")
                }
                throw IndexError.needsRepair(index: name, problem: "has \(embeddedRows) embedded prototypes but no committed FAISS file (its first build was interrupted or is still running)")
            }
            let file = vectorsURL(directory, generation: generation)
            let retry = try attempt < 3 && store.generation() != generation
            guard FileManager.default.fileExists(atPath: file.path) else {
                if retry { continue }
                throw IndexError.missingVectors(index: name, file: file.lastPathComponent)
            }
            let vectors: VectorIndex
            do { vectors = try VectorIndex(contentsOf: file) } catch {
                if retry { continue }
                throw IndexError.needsRepair(index: name, problem: "cannot read its FAISS file \(file.lastPathComponent) (\(error))")
            }
            let embedded = records.filter { $0.status == "embedded" }
            guard vectors.count == embedded.count else {
                throw IndexError.needsRepair(index: name, problem: "has a FAISS file \(file.lastPathComponent) of \(vectors.count) vectors for \(embedded.count) embedded prototypes")
            }
            let dims = Set(embedded.map { ($0.embedding?.count ?? 0) / MemoryLayout<Float>.size })
            guard dims.isEmpty || dims == [vectors.dimension] else {
                throw IndexError.needsRepair(index: name, problem: "has a FAISS file of dimension \(vectors.dimension) for embeddings of dimension \(dims.sorted().map(String.init).joined(separator: ", "))")
            }
            guard Set(vectors.ids) == Set(embedded.compactMap(\.id)) else {
                throw IndexError.needsRepair(index: name, problem: "has a FAISS file \(file.lastPathComponent) whose ids are not its embedded prototypes")
            }
            return (generation, records, vectors)
        }
        throw IndexError.database("the index \(name) kept committing new FAISS generations while it was being opened; try again")
    }

    /// The items of a source, sorted by path.
    public static func items(_ source: IndexSource) throws -> [IndexItem] {
        switch source {
        case let .folder(root, level):
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDir), isDir.boolValue else {
                throw IndexError.badSource("\(root.path) is not a folder")
            }
            // Symbolic links to folders and images are followed; files above the identity level have no identity.
            return FileTree.files(under: root).filter { $0.parts.count > level }
                .map { IndexItem(path: $0.parts.joined(separator: "/"), url: $0.url, identity: $0.parts[level - 1], metadata: nil) }
        case let .csv(url, facesRoot):
            let table = try CSVTable.read(url)
            let header = table.header
            guard header.count >= 2, header[0] == "path", header[1] == "identity" else {
                throw IndexError.badSource("\(url.path): the header must start with path,identity (got \(header.prefix(2).joined(separator: ",")))")
            }
            return try table.rows.enumerated().map { n, f in
                guard f.count >= 2, !f[0].isEmpty else { throw IndexError.badSource("\(url.path) row \(n + 1): expected path,identity") }
                var meta: String? = nil
                if header.count > 2 {
                    var m: [String: String] = [:]
                    for (k, v) in zip(header.dropFirst(2), f.dropFirst(2)) { m[k] = v }
                    meta = String(decoding: try JSONSerialization.data(withJSONObject: m, options: [.sortedKeys]), as: UTF8.self)
                }
                let u = f[0].hasPrefix("/") ? URL(fileURLWithPath: f[0]) : facesRoot.appendingPathComponent(f[0])
                return IndexItem(path: f[0], url: u, identity: f[1], metadata: meta)
            }.sorted { $0.path < $1.path }
        }
    }

    /// Builds or extends the index in `directory` (resumable: recorded paths are skipped; each batch is one
    /// transaction). At the end, always (even with nothing new to embed), the FAISS file is re-derived from the
    /// database as a new committed generation, as `repair(directory:)` does: re-running a build repairs the index.
    /// Holds the index's write lock throughout.
    @discardableResult
    public static func build(directory: URL, source: IndexSource, encoder: any PrototypeFaceEncoder, options: IndexBuildOptions = IndexBuildOptions(),
                             progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> IndexBuildSummary {
        let start = Date()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lock = try IndexLock(directory: directory)
        defer { lock.release() }
        let store = try PrototypeStore(url: storeURL(directory))
        if let existing = try store.setting("cmpc_sha256"), existing != encoder.checkpointSHA256 {
            throw IndexError.mixedCheckpoints(index: directory.path, existing: existing, given: encoder.checkpointSHA256)
        }
        let existingPreparation = try store.setting("preparation") ?? (try store.knownPaths().isEmpty ? options.preparation : "none")
        guard existingPreparation == options.preparation else {
            throw IndexError.mixedPreparation(index: directory.path, existing: existingPreparation, given: options.preparation)
        }
        var settings = ["cmpc_sha256": encoder.checkpointSHA256, "embedding_dim": String(encoder.dimension), "factory": options.factory,
                        "preprocessing": encoder.preprocessing,
                        "voicestyle": "0.1.0", "preparation": options.preparation]
        if let k = options.clusters { settings["clusters"] = String(k) }
        if case let .folder(root, level) = source { settings["faces_root"] = root.path; settings["identity_level"] = String(level) }
        if case let .csv(_, root) = source { settings["faces_root"] = root.path }
        if let s = options.shard { settings["shard"] = "\(s.index)/\(s.count)" }
        try store.setSettings(settings)
        var all = try items(source)
        if let s = options.shard { all = all.enumerated().filter { $0.offset % s.count == s.index }.map(\.element) }
        let known = try store.knownPaths()
        let todo = all.filter { !known.contains($0.path) }
        var summary = IndexBuildSummary()
        summary.total = all.count
        summary.alreadyDone = all.count - todo.count
        var done = summary.alreadyDone
        progress(done, all.count)
        var batchStart = 0
        while batchStart < todo.count {
            let batch = Array(todo[batchStart..<min(todo.count, batchStart + max(1, options.batch))])
            var records: [PrototypeRecord] = []
            var faces: [(Int, RGBImage)] = []
            var seenHashes: [String: String] = [:]
            for item in batch {
                guard let bytes = FileManager.default.contents(atPath: item.url.path) else {
                    records.append(PrototypeRecord(path: item.path, identity: item.identity, hash: nil, status: "skipped", reason: "unreadable file", metadata: item.metadata))
                    continue
                }
                let hash = SHA256.hex(bytes)
                if let original = try seenHashes[hash] ?? store.pathWithHash(hash) {
                    records.append(PrototypeRecord(path: item.path, identity: item.identity, hash: hash, status: "duplicate", reason: original, metadata: item.metadata))
                    continue
                }
                let image: RGBImage
                do {
                    if bytes.starts(with: [0xFF, 0xD8]) { image = try JPEGCodec.decode(bytes, file: item.path) }
                    else if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { image = try PNGCodec.decode(bytes, file: item.path) }
                    else {
                        records.append(PrototypeRecord(path: item.path, identity: item.identity, hash: hash, status: "skipped", reason: "not a JPEG or PNG image", metadata: item.metadata))
                        continue
                    }
                } catch {
                    records.append(PrototypeRecord(path: item.path, identity: item.identity, hash: hash, status: "skipped", reason: "undecodable image", metadata: item.metadata))
                    continue
                }
                var face = image, note: String? = nil
                if let prepare = options.prepare {
                    do { (face, note) = try prepare(image) } catch {
                        records.append(PrototypeRecord(path: item.path, identity: item.identity, hash: hash, status: "skipped", reason: "\(error)", metadata: item.metadata))
                        continue
                    }
                }
                seenHashes[hash] = item.path
                faces.append((records.count, face))
                var record = PrototypeRecord(path: item.path, identity: item.identity, hash: hash, status: "embedded", metadata: item.metadata)
                record.alignment = note
                records.append(record)
            }
            // One image per call: an embedding then never depends on which images share its batch (BLAS rounding
            // varies with the batch shape), so shards, resumed and single builds agree bit for bit.
            for (r, face) in faces { records[r].embedding = data(encoder.embed(face)) }
            try store.insert(records)
            for r in records {
                switch r.status {
                case "embedded": summary.embedded += 1
                case "duplicate": summary.duplicates += 1
                default: summary.skipped += 1; summary.skipReasons[r.reason ?? "?", default: 0] += 1
                }
            }
            batchStart += batch.count
            done += batch.count
            progress(done, all.count)
        }
        try commitGeneration(directory: directory, store: store, factory: options.factory, clusters: options.clusters)
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    /// Re-derives the FAISS file (and clusters, manifest) of the index in `directory` from its database as a
    /// new committed generation: repairs a missing, stale or foreign FAISS file and migrates indexes written
    /// before generations. Takes the index's write lock. The summary counts every recorded path as already done.
    @discardableResult
    public static func repair(directory: URL) throws -> IndexBuildSummary {
        let start = Date()
        guard FileManager.default.fileExists(atPath: storeURL(directory).path) else { throw IndexError.notFound(directory.path) }
        let lock = try IndexLock(directory: directory)
        defer { lock.release() }
        let store = try PrototypeStore(url: storeURL(directory))
        let settings = try store.allSettings()
        try commitGeneration(directory: directory, store: store, factory: settings["factory"] ?? "Flat", clusters: settings["clusters"].flatMap { Int($0) })
        var summary = IndexBuildSummary()
        summary.total = try store.knownPaths().count
        summary.alreadyDone = summary.total
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    /// Writes the FAISS file of every embedded row (labels = row ids) as generation n + 1, then commits it in one
    /// transaction (rows stamped, clusters, `settings.generation`), then removes older FAISS files and rewrites
    /// manifest.json. The caller holds the write lock.
    static func commitGeneration(directory: URL, store: PrototypeStore, factory: String, clusters: Int?) throws {
        let recs = try store.read { db in
            try PrototypeRecord.fetchAll(db, sql: "SELECT * FROM prototypes WHERE status = 'embedded' AND embedding IS NOT NULL ORDER BY path")
        }
        var ids: [Int64] = [], flat: [Float] = []
        var d = 0
        for r in recs {
            guard let id = r.id, let e = r.embeddingValues else { continue }
            if d == 0 { d = e.count }
            guard e.count == d else { throw IndexError.needsRepair(index: directory.path, problem: "holds embeddings of dimensions \(d) and \(e.count) (\(r.path))") }
            ids.append(id)
            flat += e
        }
        var file: URL? = nil
        if d > 0 {
            let generation = (try store.generation() ?? 0) + 1
            let index = try VectorIndex(dimension: d, factory: factory)
            if !index.isTrained { try index.train(flat) }
            try index.add(flat, ids: ids)
            let url = vectorsURL(directory, generation: generation)
            try index.write(to: url)
            var assignment: (centroids: [[Float]], assignment: [Int64: Int])? = nil
            if let k = clusters {
                let (c, assign) = try VectorIndex.kmeans(flat, dimension: d, clusters: min(k, ids.count))
                assignment = ((0..<(c.count / d)).map { Array(c[($0 * d)..<(($0 + 1) * d)]) }, Dictionary(zip(ids, assign), uniquingKeysWith: { a, _ in a }))
            }
            try store.commitGeneration(generation, ids: ids, clusters: assignment)
            file = url
        }
        // Only now may older generations go (readers of the committed one open `file`).
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for n in names where n.hasSuffix(".faiss") || n.hasSuffix(".faiss.tmp") {
            if n != file?.lastPathComponent { try? FileManager.default.removeItem(at: directory.appendingPathComponent(n)) }
        }
        try writeManifest(directory: directory, store: store, vectorsFile: file?.lastPathComponent)
    }

    static func writeManifest(directory: URL, store: PrototypeStore, vectorsFile: String? = nil) throws {
        let (byStatus, reasons) = try store.summary()
        let manifest: [String: Any] = ["format": "voicestyle prototype index 2", "settings": try store.allSettings(), "counts": byStatus,
                                       "skip_reasons": reasons, "files": (vectorsFile.map { [$0] } ?? []) + ["prototypes.sqlite"]]
        try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            .write(to: directory.appendingPathComponent("manifest.json"), options: .atomic)
    }

    /// Merges shard indexes into `output` (records unioned; a content duplicate keeps its first path). Refuses a
    /// part that is the output or is listed twice; holds the output's write lock.
    public static func merge(output: URL, parts: [URL]) throws {
        func same(_ a: URL) -> String { a.standardizedFileURL.resolvingSymlinksInPath().path }
        var seen: Set<String> = []
        for p in parts {
            if same(p) == same(output) { throw IndexError.badSource("cannot merge the index \(output.path) into itself: name another output") }
            if !seen.insert(same(p)).inserted { throw IndexError.badSource("the index \(p.path) is listed twice among the parts to merge") }
            guard FileManager.default.fileExists(atPath: storeURL(p).path) else { throw IndexError.notFound(p.path) }
        }
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let lock = try IndexLock(directory: output)
        defer { lock.release() }
        let out = try PrototypeStore(url: storeURL(output))
        var settings: [String: String]? = nil
        var records: [PrototypeRecord] = []
        for p in parts {
            let s = try PrototypeStore(url: storeURL(p))
            var ps = try s.allSettings()
            ps["shard"] = nil
            ps["generation"] = nil  // the part's own FAISS generation: the output keeps its own count
            if let first = settings, first["cmpc_sha256"] != ps["cmpc_sha256"] {
                throw IndexError.mixedCheckpoints(index: p.path, existing: first["cmpc_sha256"] ?? "", given: ps["cmpc_sha256"] ?? "")
            }
            if let first = settings, (first["preparation"] ?? "none") != (ps["preparation"] ?? "none") {
                throw IndexError.mixedPreparation(index: p.path, existing: first["preparation"] ?? "none", given: ps["preparation"] ?? "none")
            }
            settings = settings ?? ps
            records += try s.all()
        }
        guard let settings else { throw IndexError.badSource("nothing to merge") }
        if let existing = try out.setting("cmpc_sha256"), existing != settings["cmpc_sha256"] {
            throw IndexError.mixedCheckpoints(index: output.path, existing: existing, given: settings["cmpc_sha256"] ?? "")
        }
        if !(try out.knownPaths().isEmpty), (try out.setting("preparation") ?? "none") != (settings["preparation"] ?? "none") {
            throw IndexError.mixedPreparation(index: output.path, existing: try out.setting("preparation") ?? "none", given: settings["preparation"] ?? "none")
        }
        try out.setSettings(settings)
        let known = try out.knownPaths()
        // Path order decides which of two identical files is the original, as in a single build.
        var firstByHash: [String: String] = [:]
        for r in try out.all() where r.status == "embedded" { if let h = r.hash { firstByHash[h] = r.path } }
        var fresh: [PrototypeRecord] = []
        for var r in records.sorted(by: { $0.path < $1.path }) where !known.contains(r.path) {
            r.id = nil
            r.cluster = nil
            r.generation = nil
            if r.status == "embedded" || r.status == "duplicate", let h = r.hash {
                if let original = firstByHash[h], original != r.path {
                    r.status = "duplicate"; r.reason = original; r.embedding = nil
                } else if r.status != "duplicate" {
                    firstByHash[h] = r.path
                }
            }
            fresh.append(r)
        }
        try out.insert(fresh)
        try commitGeneration(directory: output, store: out, factory: settings["factory"] ?? "Flat", clusters: settings["clusters"].flatMap { Int($0) })
    }

    /// Imports cmpc2's frame memory: prototypes are the CSV rows (path VGGFace1 ID/1.6/video_id, in CSV order),
    /// clusters are the memory's k-means level for `clusters` (cmpc2's index rule cluster // 500 − 1, with
    /// Python's negative indexing), so that cluster-mode search reproduces `getKNearestSamples`.
    public static func importCMPCMemory(directory: URL, memory: Checkpoint, csv: URL, facesRoot: URL, clusters: Int) throws {
        guard case let .list(levels) = try memory.value(at: "centroids"), !levels.isEmpty else {
            throw IndexError.badSource("\(memory.path) has no 'centroids' list")
        }
        var level = clusters / 500 - 1
        if level < 0 { level += levels.count }
        guard level >= 0 && level < levels.count else { throw IndexError.badSource("cluster setting \(clusters) selects no level of \(levels.count)") }
        let centroids = try memory.floatTensor(at: "centroids/\(level)")
        guard let assign = try memory.tensor(at: "inst2cluster/\(level)").integers() else { throw IndexError.badSource("inst2cluster is not integer") }
        let table = try CSVTable.read(csv)
        let header = table.header, lines = table.rows
        guard let idCol = header.firstIndex(of: "VGGFace1 ID"), let videoCol = header.firstIndex(of: "video_id") else {
            throw IndexError.badSource("\(csv.path): expected the columns 'VGGFace1 ID' and 'video_id'")
        }
        guard lines.count == assign.count else {
            throw IndexError.badSource("\(csv.path) has \(lines.count) rows but the memory has \(assign.count) instances")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lock = try IndexLock(directory: directory)
        defer { lock.release() }
        let store = try PrototypeStore(url: storeURL(directory))
        try store.setSettings(["source": "cmpc2 frame memory", "memory": memory.path, "csv": csv.path, "faces_root": facesRoot.path,
                               "clusters": String(clusters), "memory_level": String(level), "embedding_dim": String(centroids.shape[1]),
                               "cmpc_sha256": try SHA256.hex(file: URL(fileURLWithPath: memory.path))])
        var records: [PrototypeRecord] = []
        for (r, f) in lines.enumerated() {
            guard f.count > max(idCol, videoCol) else { throw IndexError.badSource("\(csv.path) row \(r + 1) has \(f.count) fields; expected \(header.count)") }
            var m: [String: String] = [:]
            for (k, v) in zip(header, f) { m[k] = v }
            let path = "\(f[idCol])/1.6/\(f[videoCol])"
            var rec = PrototypeRecord(path: path, identity: f[idCol], hash: nil, status: "imported",
                                      metadata: String(decoding: try JSONSerialization.data(withJSONObject: m, options: [.sortedKeys]), as: UTF8.self))
            rec.cluster = assign[r]
            records.append(rec)
        }
        try store.insert(records)
        let d = centroids.shape[1]
        try store.write { db in
            try db.execute(sql: "DELETE FROM centroids")
            for i in 0..<centroids.shape[0] {
                try db.execute(sql: "INSERT INTO centroids(cluster, vector) VALUES (?, ?)", arguments: [i, data(Array(centroids.buffer[(i * d)..<((i + 1) * d)]))])
            }
        }
        try writeManifest(directory: directory, store: store)
    }

    /// Instance search: the k prototypes with the largest cosine to `query` (any scale; normalised here). FAISS
    /// labels are looked up by database id; a label that is no embedded record is never returned (it would mean
    /// an inconsistent index: an error).
    public func searchInstances(_ query: [Float], k: Int) throws -> [IndexHit] {
        guard !records.isEmpty else { throw IndexError.empty(directory.path) }
        guard let vectors else { throw IndexError.noEmbeddings(directory.path) }
        guard !byID.isEmpty else { throw IndexError.empty(directory.path) }
        let q = normalized(query)
        return try vectors.search(q, k: min(k, byID.count))[0].enumerated().map { i, hit in
            guard let r = byID[hit.id] else {
                throw IndexError.needsRepair(index: directory.path, problem: "has a FAISS vector labelled \(hit.id), which is no embedded prototype")
            }
            return IndexHit(rank: i + 1, cosine: hit.score, identity: r.identity, path: r.path, cluster: r.cluster.map(Int.init))
        }
    }

    /// Cluster search as cmpc2's getKNearestSamples: the `clusterCount` centroids nearest to the normalised
    /// query (squared L2 between unit vectors), then their members in insertion (CSV) order, first k.
    public func searchClusters(_ query: [Float], k: Int, clusterCount: Int = 3) throws -> [IndexHit] {
        let centroids = try store.centroids()
        guard !centroids.isEmpty else { throw IndexError.noClusters(directory.path) }
        let q = normalized(query)
        let distances = centroids.map { c -> Float in
            let cn = normalized(c)
            return zip(q, cn).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        }
        let chosen = Set(distances.enumerated().sorted { ($0.element, $0.offset) < ($1.element, $1.offset) }.prefix(clusterCount).map(\.offset))
        let members = try store.read { db in
            try PrototypeRecord.fetchAll(db, sql: "SELECT * FROM prototypes WHERE status IN ('embedded', 'imported') AND cluster IS NOT NULL ORDER BY id")
        }.filter { chosen.contains(Int($0.cluster!)) }
        return members.prefix(k).enumerated().map { i, r in
            let cos = r.embeddingValues.map { e in zip(q, normalized(e)).reduce(0) { $0 + $1.0 * $1.1 } }
                ?? zip(q, normalized(centroids[Int(r.cluster!)])).reduce(0) { $0 + $1.0 * $1.1 }
            return IndexHit(rank: i + 1, cosine: cos, identity: r.identity, path: r.path, cluster: Int(r.cluster!))
        }
    }
}

/// The write lock of an index folder: `build.lock` held with flock (exclusive, non-blocking) and holding the
/// holder's PID. The kernel releases it when the process dies, even by SIGKILL; the file itself stays.
final class IndexLock {
    private var fd: Int32

    /// Takes the lock or fails at once with `IndexError.busy` naming the holder's PID.
    init(directory: URL) throws {
        let url = PrototypeIndex.lockURL(directory)
        fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw IndexError.database("cannot create the lock file \(url.path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            fd = -1
            guard code == EAGAIN else { throw IndexError.database("cannot lock the index \(directory.path): \(String(cString: strerror(code)))") }
            let pid = (try? String(contentsOf: url, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            throw IndexError.busy(index: directory.path, pid: pid.isEmpty ? "(unknown pid)" : pid)
        }
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    /// Releases the lock (also done on deinit).
    func release() {
        guard fd >= 0 else { return }
        _ = ftruncate(fd, 0)
        _ = flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}

/// x / ‖x‖ (F.normalize, eps 1e-12).
func normalized(_ x: [Float]) -> [Float] {
    let n = max(x.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
    return x.map { $0 / n }
}
