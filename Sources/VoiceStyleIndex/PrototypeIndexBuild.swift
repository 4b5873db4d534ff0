// Building a prototype index (no upstream counterpart: cmpc2 embeds its training faces in memory): a face
// collection's images decoded, deduplicated, prepared and embedded by the pipeline's face encoder, in resumable
// batches, then committed as a FAISS generation.
import Foundation
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
    /// More settings recorded with the build's own before any image is read (e.g. the CMPC file's path), so that
    /// an interrupted first build leaves them too.
    public var settings: [String: String] = [:]
    public init() {}
}

/// What a build did.
public struct IndexBuildSummary: Sendable, Codable, Equatable {
    public var embedded = 0, skipped = 0, duplicates = 0, alreadyDone = 0
    public var skipReasons: [String: Int] = [:]
    public var seconds = 0.0
    public var total = 0
}

extension PrototypeIndex {
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
            var rowOfPath: [String: Int] = [:]
            return try table.rows.enumerated().map { n, f in
                guard f.count >= 2, !f[0].isEmpty else { throw IndexError.badSource("\(url.path) row \(n + 1): expected path,identity") }
                if let first = rowOfPath.updateValue(n + 1, forKey: f[0]) {
                    throw IndexError.badSource("\(url.path) lists \(f[0]) twice (rows \(first) and \(n + 1)): list each image once")
                }
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
        try store.setSettings(settings.merging(options.settings) { own, _ in own })
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
}
