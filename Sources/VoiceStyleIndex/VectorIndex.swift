// FAISS (facebookresearch/faiss 1.7.3, Debian's static build) behind the C shim: index_factory indexes on
// inner product under an id map (labels are the caller's ids), k-means, atomic writes.
import CFaissShim
import Foundation
import VoiceStyleEngine

/// Why a vector-index operation failed (FAISS's own message).
public struct VectorIndexError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "FAISS: \(message)" }
}

/// A FAISS index over float32 vectors (inner product: cosine for unit vectors). Every vector carries a 64-bit id
/// given when it is added (the factory index is wrapped in faiss::IndexIDMap2) and searches return those ids,
/// never storage positions.
public final class VectorIndex {
    let handle: OpaquePointer
    /// For exact ("Flat") indexes, the vectors themselves in storage order: searched with a BLAS matrix product
    /// on all cores, which is several times faster than faiss's single-threaded SSE scan for single queries.
    private var flat: [Float]?
    /// The id of every stored vector, in storage order.
    public private(set) var ids: [Int64] = []

    private static func call(_ body: (UnsafeMutablePointer<CChar>, Int32) -> Int32) throws {
        var err = [CChar](repeating: 0, count: 512)
        let rc = err.withUnsafeMutableBufferPointer { body($0.baseAddress!, 512) }
        if rc != 0 { throw VectorIndexError(message: String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
    }

    /// A new index: `factory` is a FAISS factory string ("Flat", "IVF1024,Flat", "HNSW32,Flat").
    public init(dimension: Int, factory: String = "Flat") throws {
        var err = [CChar](repeating: 0, count: 512)
        guard let h = err.withUnsafeMutableBufferPointer({ fs_create(Int32(dimension), factory, 1, $0.baseAddress, 512) }) else {
            throw VectorIndexError(message: "cannot create '\(factory)': " + String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        handle = h
        if factory == "Flat" { flat = [] }
    }

    /// Reads an index file.
    public init(contentsOf url: URL) throws {
        var err = [CChar](repeating: 0, count: 512)
        guard let h = err.withUnsafeMutableBufferPointer({ fs_read(url.path, $0.baseAddress, 512) }) else {
            throw VectorIndexError(message: "cannot read \(url.path): " + String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        // A file written before ids (no id map) has no labels to trust. (Checked before `handle` is set: a throw
        // after that would run deinit, which frees the handle.)
        var labels = [Int64](repeating: -1, count: Int(fs_ntotal(h)))
        guard labels.withUnsafeMutableBufferPointer({ fs_ids(h, $0.baseAddress) }) == 0 else {
            fs_free(h)
            throw VectorIndexError(message: "\(url.path) has no ids (written by an older version)")
        }
        handle = h
        ids = labels
        // Keep exact indexes' vectors for the BLAS search path.
        var all = [Float](repeating: 0, count: count * dimension)
        let ok = all.withUnsafeMutableBufferPointer { p in fs_reconstruct_n(h, 0, Int64(count), p.baseAddress, nil, 0) == 0 }
        if ok && fs_set_nprobe(h, 1) != 0 && fs_set_ef_search(h, 16) != 0 { flat = all }
    }

    deinit { fs_free(handle) }

    public var count: Int { Int(fs_ntotal(handle)) }
    public var dimension: Int { Int(fs_dimension(handle)) }
    public var isTrained: Bool { fs_is_trained(handle) != 0 }

    /// Trains (IVF) on row-major vectors [n, d].
    public func train(_ vectors: [Float]) throws {
        let n = vectors.count / dimension
        try vectors.withUnsafeBufferPointer { v in try Self.call { fs_train(handle, Int64(n), v.baseAddress, $0, $1) } }
    }

    /// Appends row-major vectors [n, d] with their ids (one per vector).
    public func add(_ vectors: [Float], ids newIDs: [Int64]) throws {
        let n = vectors.count / dimension
        guard newIDs.count == n else { throw VectorIndexError(message: "\(n) vectors but \(newIDs.count) ids") }
        guard n > 0 else { return }
        try vectors.withUnsafeBufferPointer { v in
            try newIDs.withUnsafeBufferPointer { i in try Self.call { fs_add_with_ids(handle, Int64(n), v.baseAddress, i.baseAddress, $0, $1) } }
        }
        flat?.append(contentsOf: vectors.prefix(n * dimension))
        ids += newIDs
    }

    /// Appends row-major vectors [n, d] with the ids `count`, `count` + 1, … (their storage positions).
    public func add(_ vectors: [Float]) throws {
        try add(vectors, ids: (0..<(vectors.count / dimension)).map { Int64(count + $0) })
    }

    /// The k best vectors of each query (row-major [n, d]): per query, (id, inner product) pairs, best first.
    public func search(_ queries: [Float], k: Int) throws -> [[(id: Int64, score: Float)]] {
        let n = queries.count / dimension
        if let flat, !flat.isEmpty { return exactSearch(flat, queries, n: n, k: k) }
        var d = [Float](repeating: 0, count: n * k), ids = [Int64](repeating: -1, count: n * k)
        try queries.withUnsafeBufferPointer { q in
            try d.withUnsafeMutableBufferPointer { dp in
                try ids.withUnsafeMutableBufferPointer { ip in
                    try Self.call { fs_search(handle, Int64(n), q.baseAddress, Int64(k), dp.baseAddress, ip.baseAddress, $0, $1) }
                }
            }
        }
        return (0..<n).map { qi in (0..<k).compactMap { j in ids[qi * k + j] >= 0 ? (ids[qi * k + j], d[qi * k + j]) : nil } }
    }

    /// Inner products of every query with every stored vector (one BLAS product), then the k best per query,
    /// as ids.
    private func exactSearch(_ base: [Float], _ queries: [Float], n: Int, k: Int) -> [[(id: Int64, score: Float)]] {
        let d = dimension, rows = base.count / d
        var scores = [Float](repeating: 0, count: n * rows)
        base.withUnsafeBufferPointer { b in
            queries.withUnsafeBufferPointer { q in
                scores.withUnsafeMutableBufferPointer { s in
                    Float.gemm(transA: false, transB: true, m: n, n: rows, k: d, alpha: 1, a: q.baseAddress!, lda: d,
                               b: b.baseAddress!, ldb: d, beta: 0, c: s.baseAddress!, ldc: rows)
                }
            }
        }
        let kk = min(k, rows)
        return (0..<n).map { qi in
            // Keep the k best in a small sorted buffer (best first; ties by lower row, as faiss).
            var best: [(row: Int, score: Float)] = []
            best.reserveCapacity(kk + 1)
            for r in 0..<rows {
                let v = scores[qi * rows + r]
                if best.count == kk, let last = best.last, !(v > last.score) { continue }
                var at = best.count
                while at > 0 && v > best[at - 1].score { at -= 1 }
                best.insert((r, v), at: at)
                if best.count > kk { best.removeLast() }
            }
            return best.map { (id: ids[$0.row], score: $0.score) }
        }
    }

    /// Writes atomically (temporary file renamed into place).
    public func write(to url: URL) throws {
        try Self.call { fs_write(handle, url.path, $0, $1) }
    }

    /// IVF probes (returns false when not an IVF index).
    @discardableResult public func setProbes(_ n: Int) -> Bool { fs_set_nprobe(handle, Int64(n)) == 0 }
    /// HNSW search breadth (returns false when not an HNSW index).
    @discardableResult public func setSearchBreadth(_ n: Int) -> Bool { fs_set_ef_search(handle, Int64(n)) == 0 }

    /// FAISS k-means (L2, `iterations` Lloyd steps): centroids [k, d] row-major and each vector's cluster.
    public static func kmeans(_ vectors: [Float], dimension d: Int, clusters k: Int, iterations: Int = 20, seed: Int = 1234)
        throws -> (centroids: [Float], assignment: [Int]) {
        let n = vectors.count / d
        guard k >= 1, k <= n else { throw VectorIndexError(message: "k-means needs 1 ≤ K ≤ \(n) (the number of vectors), got \(k)") }
        var centroids = [Float](repeating: 0, count: k * d), assign = [Int64](repeating: 0, count: n)
        try vectors.withUnsafeBufferPointer { v in
            try centroids.withUnsafeMutableBufferPointer { c in
                try assign.withUnsafeMutableBufferPointer { a in
                    try call { fs_kmeans(Int32(d), Int64(n), v.baseAddress, Int32(k), Int32(iterations), Int32(seed), c.baseAddress, a.baseAddress, $0, $1) }
                }
            }
        }
        return (centroids, assign.map { Int($0) })
    }

    /// OpenMP threads FAISS uses.
    public static func setThreads(_ n: Int) { fs_set_threads(Int32(n)) }
}
