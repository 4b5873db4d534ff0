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
        case let .mixedPreparation(i, e, g): "the index \(i) was built with face preparation \"\(e)\"; this build asks for \"\(g)\": use the same alignment settings or a new index"
        case let .notFound(p): "no prototype index at \(p) (build one first: `voicestyle index build NAME --faces DIR`)"
        case let .empty(p): "the prototype index \(p) holds no embedded prototypes"
        case let .noClusters(p): "the index \(p) has no clusters: build it with k-means clusters, or search in instances mode"
        case let .noEmbeddings(p): "the index \(p) holds no face embeddings (an imported CMPC memory): search it in clusters mode"
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
    let byID: [Int64: PrototypeRecord]

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
        store = try PrototypeStore(url: PrototypeIndex.storeURL(directory), existing: true)
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
