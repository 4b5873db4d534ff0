// Searching a prototype index: instance search (cosine over FAISS) and cmpc2 memory.py `getKNearestSamples`
// (the "clusters" mode).
import Foundation
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleImaging

extension PrototypeIndex {
    /// Instance search: the k prototypes with the largest cosine to `query` (any scale; normalised here). FAISS
    /// labels are looked up by database id; a label that is no embedded record is never returned (it would mean
    /// an inconsistent index: an error).
    public func searchInstances(_ query: [Float], k: Int) throws -> [IndexHit] {
        guard !records.isEmpty else { throw IndexError.empty(directory.path) }
        guard let vectors else { throw IndexError.noEmbeddings(directory.path) }
        guard !byID.isEmpty else { throw IndexError.empty(directory.path) }
        try checkQuery(query, dimension: vectors.dimension)
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
        try checkQuery(query, dimension: centroids[0].count)
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

extension PrototypeIndex {
    /// The dimension of the index's vectors (its FAISS file, else its centroids, else its recorded setting).
    public var dimension: Int? {
        if let vectors { return vectors.dimension }
        if let centroid = try? store.centroids().first { return centroid.count }
        return (try? store.setting("embedding_dim")).flatMap { Int($0) }
    }

    /// Why `query` cannot be searched in this index, as the end of a sentence about it ("holds 64 values; …"),
    /// or nil: a query has the index's dimension, finite values, not all of them zero, and a finite length.
    public func queryProblem(_ query: [Float]) -> String? {
        Self.queryProblem(query, dimension: dimension)
    }

    static func queryProblem(_ query: [Float], dimension: Int?) -> String? {
        if let dimension, query.count != dimension {
            return "holds \(query.count) value\(query.count == 1 ? "" : "s"); the vectors of this index have \(dimension)"
        }
        guard query.allSatisfy(\.isFinite) else { return "holds NaN or infinite values" }
        guard query.contains(where: { $0 != 0 }) else { return "is all zeros (it has no direction to search by)" }
        guard query.reduce(0, { $0 + $1 * $1 }).isFinite else { return "holds values too large to normalise (their squares overflow)" }
        return nil
    }

    /// Refuses a query vector of the wrong length, with NaN or infinite values, or all zeros.
    func checkQuery(_ query: [Float], dimension: Int) throws {
        if let problem = Self.queryProblem(query, dimension: dimension) {
            throw IndexError.badSource("the query vector for the index \(directory.path) \(problem)")
        }
    }
}

/// x / ‖x‖ (F.normalize, eps 1e-12).
func normalized(_ x: [Float]) -> [Float] {
    let n = max(x.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
    return x.map { $0 / n }
}
