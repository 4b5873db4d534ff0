// No upstream counterpart: prototype latents inverted in slices (`index invert --shard I/N`, e.g. one Slurm array
// task each) are kept in one SQLite file per slice beside the index, INDEX/latents/shard-I-of-N.sqlite, never in
// the index's own database (N writers of one SQLite file on a cluster's shared filesystem are unsafe); a merge
// copies them into the index in one transaction.
import Foundation
import VoiceStyleCheckpoints

/// The latents of one slice: a database of the index's schema holding the slice's prototypes (without
/// embeddings), each with its latent once inverted or a skip reason, plus the settings that decide whether two
/// slices belong together: `latent_key` (how the latents are made), `selection` (SHA-256 of every slice's paths
/// together), `shard` ("I/N") and `finished` ("1" once every prototype of the slice is done).
public final class LatentShard {
    public let url: URL
    public let store: PrototypeStore

    /// Opens the file of slice `index`/`count` of the index in `directory` for `paths` (this slice's prototypes;
    /// `selection` is every slice's paths in order). A file made with another key or selection is started afresh;
    /// one made with the same is resumed (its latents are kept).
    public init(directory: URL, index: Int, count: Int, key: String, selection: [String], paths: [String]) throws {
        url = PrototypeIndex.latentShardURL(directory, index: index, count: count)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let selectionHash = SHA256.hex(Data(selection.joined(separator: "\n").utf8))
        if FileManager.default.fileExists(atPath: url.path) {
            let old = try PrototypeStore(url: url)
            let same = try old.setting("latent_key") == key && old.setting("selection") == selectionHash
            if !same {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: url.path + suffix) }
            }
        }
        store = try PrototypeStore(url: url)
        let main = try PrototypeStore(url: PrototypeIndex.storeURL(directory), existing: true)
        let known = try store.knownPaths()
        var fresh: [PrototypeRecord] = []
        for p in paths where !known.contains(p) {
            guard var r = try main.record(path: p) else { continue }  // not the index's: inverted, not cached (as without shards)
            (r.id, r.embedding, r.cluster, r.generation, r.latent, r.noises, r.inversion, r.latentKey) = (nil, nil, nil, nil, nil, nil, nil, nil)
            fresh.append(r)
        }
        try store.insert(fresh)
        try store.setSettings(["latent_key": key, "selection": selectionHash, "shard": "\(index)/\(count)", "finished": "0"])
    }

    /// Records that `path` could not be inverted, and why.
    public func markSkipped(_ path: String, reason: String) throws {
        try store.write { db in try db.execute(sql: "UPDATE prototypes SET reason = ? WHERE path = ?", arguments: ["not inverted: \(reason)", path]) }
    }

    /// Marks the slice done (what a merge requires).
    public func finish() throws { try store.setSettings(["finished": "1"]) }
}

/// What a latent merge did.
public struct LatentMergeSummary: Codable, Sendable, Equatable {
    /// The number of slices merged.
    public var shards: Int
    /// Latents copied into the index.
    public var latents: Int
    /// Prototypes a slice could not invert, with the reason.
    public var skipped: [String: String]
}

extension PrototypeIndex {
    /// The folder of an index's latent slices.
    public static func latentShardsURL(_ dir: URL) -> URL { dir.appendingPathComponent("latents") }

    /// The file of latent slice `index` of `count`.
    public static func latentShardURL(_ dir: URL, index: Int, count: Int) -> URL {
        latentShardsURL(dir).appendingPathComponent("shard-\(index)-of-\(count).sqlite")
    }

    /// Copies the latents of slices 0..<count (`count` nil: the one split present) into the index in one
    /// transaction, holding its write lock. Refuses, before writing anything, a missing or unfinished slice, and
    /// slices made with other settings or over another selection than slice 0. The slice files are kept (a
    /// second merge writes the same).
    @discardableResult
    public static func mergeLatentShards(directory: URL, count: Int? = nil) throws -> LatentMergeSummary {
        guard FileManager.default.fileExists(atPath: storeURL(directory).path) else { throw IndexError.notFound(directory.path) }
        let folder = latentShardsURL(directory)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let splits = Set(names.compactMap { name -> Int? in
            guard name.hasPrefix("shard-"), name.hasSuffix(".sqlite") else { return nil }
            let parts = name.dropFirst(6).dropLast(7).components(separatedBy: "-of-")
            return parts.count == 2 && Int(parts[0]) != nil ? Int(parts[1]) : nil
        })
        guard let n = count ?? splits.first else {
            throw IndexError.badSource("the index \(directory.path) has no latent shards (\(folder.path)/shard-I-of-N.sqlite): invert its shards first (`voicestyle index invert --shard I/N`)")
        }
        if count == nil, splits.count > 1 {
            throw IndexError.badSource("the index \(directory.path) holds latent shards of several splits (\(splits.sorted().map { "of \($0)" }.joined(separator: ", "))): name one by its number of shards")
        }
        var shards: [PrototypeStore] = []
        var first: (key: String?, selection: String?) = (nil, nil)
        for i in 0..<n {
            let url = latentShardURL(directory, index: i, count: n)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw IndexError.badSource("latent shard \(i)/\(n) of the index \(directory.path) is missing (\(url.path)): run voicestyle index invert --shard \(i)/\(n)")
            }
            let s = try PrototypeStore(url: url)
            guard try s.setting("finished") == "1" else {
                throw IndexError.badSource("latent shard \(i)/\(n) of the index \(directory.path) has not finished: run its voicestyle index invert --shard \(i)/\(n) again (it resumes)")
            }
            let key = try s.setting("latent_key"), selection = try s.setting("selection")
            if i == 0 { first = (key, selection) }
            else if key != first.key {
                throw IndexError.badSource("latent shard \(i)/\(n) of the index \(directory.path) was inverted with other settings or another generator than shard 0/\(n): rerun every shard with the same options")
            } else if selection != first.selection {
                throw IndexError.badSource("latent shard \(i)/\(n) of the index \(directory.path) covers another selection of prototypes than shard 0/\(n) (another per-cluster selection or other paths, or the index changed): rerun every shard with the same options")
            }
            shards.append(s)
        }
        let lock = try IndexLock(directory: directory)
        defer { lock.release() }
        let store = try PrototypeStore(url: storeURL(directory), existing: true)
        var summary = LatentMergeSummary(shards: n, latents: 0, skipped: [:])
        let rows = try shards.flatMap { try $0.all() }
        try store.write { db in
            for r in rows {
                guard let latent = r.latent else {
                    summary.skipped[r.path] = r.reason ?? "not inverted"
                    continue
                }
                try db.execute(sql: "UPDATE prototypes SET latent = ?, noises = ?, inversion = ?, latentKey = ? WHERE path = ?",
                               arguments: [latent, r.noises, r.inversion, r.latentKey, r.path])
                guard db.changesCount == 1 else {
                    throw IndexError.badSource("a latent shard holds \(r.path), which the index \(directory.path) no longer holds: rerun the shards on the index as it is")
                }
                summary.latents += 1
            }
        }
        return summary
    }
}

extension PrototypeIndex {
    /// Cluster representatives: the `perCluster` members nearest each k-means centroid (largest cosine; members
    /// without an embedding, as in an imported memory, after those with one; ties by path), in path order.
    /// Throws `IndexError.noClusters` for an index without clusters.
    public func clusterRepresentatives(perCluster: Int) throws -> [String] {
        let centroids = try store.centroids().map(normalized)
        guard !centroids.isEmpty else { throw IndexError.noClusters(directory.path) }
        var members: [Int: [(cosine: Float, path: String)]] = [:]
        for r in records {
            guard let c = r.cluster.map(Int.init), centroids.indices.contains(c) else { continue }
            let cosine = r.embeddingValues.map { e in zip(normalized(e), centroids[c]).reduce(0) { $0 + $1.0 * $1.1 } } ?? -2
            members[c, default: []].append((cosine, r.path))
        }
        return members.values.flatMap { m in
            m.sorted { ($0.cosine, $1.path) > ($1.cosine, $0.path) }.prefix(perCluster).map(\.path)
        }.sorted()
    }
}
