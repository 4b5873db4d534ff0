// Keeping a prototype index whole (no upstream counterpart): repair from the database, FAISS generations and the
// manifest, merging shard indexes, and importing cmpc2's frame memory (memory.py) as an index.
import Foundation
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleImaging

extension PrototypeIndex {
    /// Re-derives the FAISS file (and clusters, manifest) of the index in `directory` from its database as a
    /// new committed generation: repairs a missing, stale or foreign FAISS file and migrates indexes written
    /// before generations. Takes the index's write lock. The summary counts every recorded path as already done.
    @discardableResult
    public static func repair(directory: URL) throws -> IndexBuildSummary {
        let start = Date()
        guard FileManager.default.fileExists(atPath: storeURL(directory).path) else { throw IndexError.notFound(directory.path) }
        let lock = try IndexLock(directory: directory)
        defer { lock.release() }
        let store = try PrototypeStore(url: storeURL(directory), existing: true)
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
            if let needed = trainingVectors(factory: factory), ids.count < needed {
                throw IndexError.badSource("the FAISS factory \(factory) needs at least \(needed) embedded prototypes to train on; the index \(directory.path) has "
                                           + "\(ids.count): use Flat, or IVF<n>,Flat with n ≤ \(ids.count)")
            }
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

    /// How many vectors a FAISS factory must be trained on (IVF<n>: n, one per list), or nil when it needs no training.
    public static func trainingVectors(factory: String) -> Int? {
        guard factory.hasPrefix("IVF"), let n = Int(factory.dropFirst(3).prefix { $0.isNumber }) else { return nil }
        return n
    }

    static func writeManifest(directory: URL, store: PrototypeStore, vectorsFile: String? = nil) throws {
        let (byStatus, reasons) = try store.summary()
        let manifest: [String: Any] = ["format": "voicestyle prototype index 2", "settings": try store.allSettings(), "counts": byStatus,
                                       "skip_reasons": reasons, "files": (vectorsFile.map { [$0] } ?? []) + ["prototypes.sqlite"]]
        try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            .writeOutput(to: directory.appendingPathComponent("manifest.json"))
    }

    /// Merges shard indexes into `output` (records unioned; a content duplicate keeps its first path). Refuses a
    /// part that is the output or is listed twice, parts that hold the same image path, and an incomplete set of
    /// shards (`index build --shard I/N` parts must be every slice of one split, each once); holds the output's
    /// write lock.
    public static func merge(output: URL, parts: [URL]) throws {
        func same(_ a: URL) -> String { a.standardizedFileURL.resolvingSymlinksInPath().path }
        var seen: Set<String> = []
        for p in parts {
            if same(p) == same(output) { throw IndexError.badSource("cannot merge the index \(output.path) into itself: name another output") }
            if !seen.insert(same(p)).inserted { throw IndexError.badSource("the index \(p.path) is listed twice among the parts to merge") }
            guard FileManager.default.fileExists(atPath: storeURL(p).path) else { throw IndexError.notFound(p.path) }
        }
        let stores = try parts.map { try PrototypeStore(url: storeURL($0), existing: true) }
        try checkShardSet(parts, shards: try stores.map { try $0.setting("shard") })
        var settings: [String: String]? = nil
        var records: [PrototypeRecord] = []
        var holder: [String: String] = [:]
        for (p, s) in zip(parts, stores) {
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
            let rows = try s.all()
            for r in rows {
                if let other = holder.updateValue(p.path, forKey: r.path) {
                    throw IndexError.badSource("the parts \(other) and \(p.path) both hold \(r.path) (overlapping shards): merge parts that share no image")
                }
            }
            records += rows
        }
        guard let settings else { throw IndexError.badSource("nothing to merge") }
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let lock = try IndexLock(directory: output)
        defer { lock.release() }
        let out = try PrototypeStore(url: storeURL(output))
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

    /// Refuses parts of which some are shards (`shard` "I/N") unless they are every slice of one split, once each.
    static func checkShardSet(_ parts: [URL], shards: [String?]) throws {
        guard shards.contains(where: { $0 != nil }) else { return }
        var slices: [Int: [Int: String]] = [:]
        for (p, shard) in zip(parts, shards) {
            let numbers = shard?.split(separator: "/").compactMap { Int($0) } ?? []
            guard numbers.count == 2 else {
                throw IndexError.badSource("\(p.path) is a whole index, not a shard (index build --shard I/N), and the other parts are shards: merge the shards of one split")
            }
            if let twice = slices[numbers[1], default: [:]].updateValue(p.path, forKey: numbers[0]) {
                throw IndexError.badSource("shard \(numbers[0])/\(numbers[1]) is given twice (\(twice) and \(p.path))")
            }
        }
        guard slices.count == 1, let (n, have) = slices.first else {
            throw IndexError.badSource("the parts mix splits (shards of \(slices.keys.sorted().map(String.init).joined(separator: ", "))): merge the shards of one split")
        }
        let missing = (0..<n).filter { have[$0] == nil }
        guard missing.isEmpty else {
            let names = missing.map { "\($0)/\(n)" }.joined(separator: ", ")
            throw IndexError.badSource("shard\(missing.count == 1 ? "" : "s") \(names) of the split into \(n) \(missing.count == 1 ? "is" : "are") missing: "
                                       + "build \(missing.count == 1 ? "it" : "them") (index build NAME --faces DIR --shard \(missing.count == 1 ? names : "I/\(n)")) and merge all \(n) shards")
        }
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
}
