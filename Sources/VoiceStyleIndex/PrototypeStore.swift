// The metadata of a prototype index in SQLite (through GRDB): one row per input image with its identity,
// content hash, status, embedding and optional cached latent; settings; k-means clusters; the generation of
// the FAISS file that holds each embedded row.
import Foundation
import GRDB

/// One image of the collection.
public struct PrototypeRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    public static let databaseTableName = "prototypes"
    public var id: Int64?
    /// Path as given (relative to the faces root for folder and CSV inputs).
    public var path: String
    public var identity: String
    /// SHA-256 of the file's bytes.
    public var hash: String?
    /// "embedded", "skipped", "duplicate" or "imported".
    public var status: String
    /// Why it was skipped, or the path it duplicates.
    public var reason: String?
    /// Unit embedding, float32 little-endian.
    public var embedding: Data?
    /// Extra CSV columns (JSON object).
    public var metadata: String?
    /// k-means cluster (when the index has clusters).
    public var cluster: Int64?
    /// Cached W latent (float32 [D]), noise maps (float32, concatenated in layer order) and inversion metrics (JSON).
    public var latent: Data?
    public var noises: Data?
    public var inversion: String?
    /// How the cached latent was made (JSON of the pipeline's latent key: generator, settings, seed).
    public var latentKey: String?
    /// The FAISS generation this embedded row was last written into (nil: not yet in a committed FAISS file,
    /// e.g. embedded by a build still running or killed).
    public var generation: Int64?
    /// How the embedded image was prepared from the file (JSON written by the pipeline: the FFHQ alignment's
    /// landmarks and settings), nil when embedded as is.
    public var alignment: String?

    public init(path: String, identity: String, hash: String?, status: String, reason: String? = nil, embedding: Data? = nil,
                metadata: String? = nil) {
        self.path = path
        self.identity = identity
        self.hash = hash
        self.status = status
        self.reason = reason
        self.embedding = embedding
        self.metadata = metadata
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// The embedding as floats.
    public var embeddingValues: [Float]? { embedding.map(floats) }
    public var latentValues: [Float]? { latent.map(floats) }
    public var noiseValues: [Float]? { noises.map(floats) }
}

func floats(_ d: Data) -> [Float] { d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } }
func data(_ f: [Float]) -> Data { f.withUnsafeBufferPointer { Data(buffer: $0) } }

/// The SQLite database of an index. Its failures are reported as `IndexError.database` sentences naming the
/// index, never as raw SQLite errors; another process's write makes a write wait (up to 30 s), not fail.
public final class PrototypeStore {
    public let db: DatabaseQueue
    /// The index folder, for messages.
    public let index: String
    /// The database file, for messages.
    public let file: String

    /// Opens the database at `url`, creating it (or its tables) when new. With `existing`, it must already be an
    /// index: a file without the index's tables and settings (empty, another database, an unfinished first build) is
    /// refused as damaged before anything is written to it, so read-only commands never write a schema.
    /// Without `existing`, a file whose tables hold prototypes but no settings is refused the same way.
    public init(url: URL, existing: Bool = false) throws {
        let index = url.deletingLastPathComponent().path
        (self.index, file) = (index, url.path)
        do {
            try Self.checkIsIndex(url, index: index, existing: existing)
            var config = Configuration()
            config.busyMode = .timeout(30)
            db = try DatabaseQueue(path: url.path, configuration: config)
            try Self.migrate(db)
        } catch let e as DatabaseError { throw PrototypeStore.translate(e, index: index, file: url.path) }
    }

    /// Looks into the file read-only: `existing` needs the index's tables and a `cmpc_sha256` setting (what every
    /// build, merge and import records first); otherwise a file with prototypes but no settings is damaged too.
    private static func checkIsIndex(_ url: URL, index: String, existing: Bool) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            if existing { throw IndexError.notFound(index) }
            return
        }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(30)
        let probe = try DatabaseQueue(path: url.path, configuration: config)
        let (tables, settings, checkpoint, prototypes): (Int, Int, Int, Int) = try probe.read { db in
            let tables = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('settings', 'prototypes')") ?? 0
            guard tables == 2 else { return (tables, 0, 0, 0) }
            return (tables, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM settings") ?? 0,
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM settings WHERE key = 'cmpc_sha256'") ?? 0,
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM prototypes") ?? 0)
        }
        try probe.close()
        if existing ? checkpoint > 0 : (settings > 0 || tables == 0 || prototypes == 0) { return }
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        let what = size == 0 ? "is empty (0 bytes)" : tables < 2 ? "holds no prototype tables" : "holds no index settings (its first build never recorded them)"
        throw IndexError.database("the index \(index) is damaged: its database \(url.lastPathComponent) \(what); move the folder away and build the index again "
                                  + "(voicestyle index build NAME --faces DIR)")
    }

    /// A GRDB error as one plain sentence naming the index (and its database file).
    static func translate(_ e: DatabaseError, index: String, file: String? = nil) -> IndexError {
        let detail = e.message ?? "SQLite code \(e.resultCode.rawValue)"
        switch e.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return .database("the index \(index) is being written by another process and stayed locked; try again when it has finished")
        case .SQLITE_CONSTRAINT:
            return .database("the index \(index) already holds a record that this write would duplicate (\(detail)); is another build or merge writing to it?")
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return .database("\(file ?? index + "/prototypes.sqlite") is damaged or not an index database (\(detail))")
        case .SQLITE_CANTOPEN:
            return .database("cannot open the database \(file ?? index + "/prototypes.sqlite") (\(detail))")
        case .SQLITE_READONLY, .SQLITE_PERM:
            return .database("the index \(index) cannot be written (read-only: \(detail))")
        case .SQLITE_FULL:
            return .database("the disk is full: cannot write the index \(index)")
        default:
            return .database("the database of the index \(index) failed: \(detail)")
        }
    }

    /// A read transaction, errors translated.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.read(body) } catch let e as DatabaseError { throw Self.translate(e, index: index, file: file) }
    }

    /// A write transaction (all or nothing), errors translated.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.write(body) } catch let e as DatabaseError { throw Self.translate(e, index: index, file: file) }
    }

    private static func migrate(_ db: DatabaseQueue) throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "settings") { t in
                t.primaryKey("key", .text)
                t.column("value", .text).notNull()
            }
            try db.create(table: "prototypes") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("path", .text).notNull().unique()
                t.column("identity", .text).notNull()
                t.column("hash", .text).indexed()
                t.column("status", .text).notNull()
                t.column("reason", .text)
                t.column("embedding", .blob)
                t.column("metadata", .text)
                t.column("cluster", .integer)
                t.column("latent", .blob)
                t.column("noises", .blob)
                t.column("inversion", .text)
            }
            try db.create(table: "centroids") { t in
                t.primaryKey("cluster", .integer)
                t.column("vector", .blob).notNull()
            }
        }
        migrator.registerMigration("v2 latent keys") { db in
            try db.alter(table: "prototypes") { t in t.add(column: "latentKey", .text) }
        }
        migrator.registerMigration("v3 generations") { db in
            try db.alter(table: "prototypes") { t in t.add(column: "generation", .integer) }
        }
        migrator.registerMigration("v4 alignment") { db in
            try db.alter(table: "prototypes") { t in t.add(column: "alignment", .text) }
        }
        // Two processes opening a new or older index at once can both see a migration unapplied; the second one's
        // CREATE/ALTER then fails after waiting for the first. Run again: the migrator re-reads what is applied.
        for attempt in 1...5 {
            do {
                try migrator.migrate(db)
                return
            } catch let e as DatabaseError where attempt < 5 && e.resultCode == .SQLITE_ERROR {
                Thread.sleep(forTimeInterval: 0.05 * Double(attempt))
            }
        }
    }

    /// The committed FAISS generation (nil: none yet, or an index made before generations).
    public func generation() throws -> Int? { try setting("generation").flatMap { Int($0) } }

    /// What a reader sees, read in one transaction: the committed generation, the prototypes it serves (the
    /// embedded rows of that generation and any imported rows, by path) and how many rows are embedded at all.
    public func committed() throws -> (generation: Int?, records: [PrototypeRecord], embeddedRows: Int) {
        try read { db in
            let g = try String.fetchOne(db, sql: "SELECT value FROM settings WHERE key = 'generation'").flatMap { Int($0) }
            let records = try PrototypeRecord.fetchAll(db, sql: """
                SELECT * FROM prototypes WHERE status = 'imported' OR (status = 'embedded' AND generation = ?) ORDER BY path
                """, arguments: [g ?? -1])
            let embedded = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM prototypes WHERE status = 'embedded'") ?? 0
            return (g, records, embedded)
        }
    }

    /// Commits FAISS generation `generation` in one transaction: its rows `ids` are stamped with it, the
    /// clusters (when given: centroids and each id's cluster) replaced, and `settings.generation` set.
    public func commitGeneration(_ generation: Int, ids: [Int64], clusters: (centroids: [[Float]], assignment: [Int64: Int])?) throws {
        try write { db in
            for id in ids { try db.execute(sql: "UPDATE prototypes SET generation = ? WHERE id = ?", arguments: [generation, id]) }
            if let clusters {
                try db.execute(sql: "DELETE FROM centroids")
                for (i, c) in clusters.centroids.enumerated() {
                    try db.execute(sql: "INSERT INTO centroids(cluster, vector) VALUES (?, ?)", arguments: [i, data(c)])
                }
                try db.execute(sql: "UPDATE prototypes SET cluster = NULL")
                for (id, c) in clusters.assignment { try db.execute(sql: "UPDATE prototypes SET cluster = ? WHERE id = ?", arguments: [c, id]) }
            }
            try db.execute(sql: "INSERT OR REPLACE INTO settings(key, value) VALUES ('generation', ?)", arguments: [String(generation)])
        }
    }

    public func setting(_ key: String) throws -> String? {
        try read { try String.fetchOne($0, sql: "SELECT value FROM settings WHERE key = ?", arguments: [key]) }
    }

    public func setSettings(_ values: [String: String]) throws {
        try write { db in
            for (k, v) in values { try db.execute(sql: "INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", arguments: [k, v]) }
        }
    }

    public func allSettings() throws -> [String: String] {
        try read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT key, value FROM settings").map { ($0["key"], $0["value"]) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// Paths already recorded (any status): the work a resumed build skips.
    public func knownPaths() throws -> Set<String> {
        Set(try read { try String.fetchAll($0, sql: "SELECT path FROM prototypes") })
    }

    /// Path of the embedded or imported record with this content hash, if any.
    public func pathWithHash(_ hash: String) throws -> String? {
        try read { try String.fetchOne($0, sql: "SELECT path FROM prototypes WHERE hash = ? AND status = 'embedded'", arguments: [hash]) }
    }

    /// Inserts records in one transaction (all or nothing).
    public func insert(_ records: [PrototypeRecord]) throws {
        try write { db in for r in records { try r.insert(db) } }
    }

    /// Embedded (or imported) prototypes in index order: by path.
    public func indexed() throws -> [PrototypeRecord] {
        try read { try PrototypeRecord.fetchAll($0, sql: "SELECT * FROM prototypes WHERE status IN ('embedded', 'imported') ORDER BY path") }
    }

    public func all() throws -> [PrototypeRecord] {
        try read { try PrototypeRecord.fetchAll($0, sql: "SELECT * FROM prototypes ORDER BY id") }
    }

    /// Counts by status and, for skipped ones, by reason.
    public func summary() throws -> (byStatus: [String: Int], skipReasons: [String: Int]) {
        try read { db in
            let s = Dictionary(try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM prototypes GROUP BY status").map { ($0["status"] as String, $0["n"] as Int) },
                               uniquingKeysWith: +)
            let r = Dictionary(try Row.fetchAll(db, sql: "SELECT reason, COUNT(*) AS n FROM prototypes WHERE status = 'skipped' GROUP BY reason")
                .map { ($0["reason"] as String? ?? "?", $0["n"] as Int) }, uniquingKeysWith: +)
            return (s, r)
        }
    }

    /// Replaces the k-means clusters: centroids and every embedded prototype's cluster (by path).
    public func setClusters(centroids: [[Float]], assignment: [String: Int]) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM centroids")
            for (i, c) in centroids.enumerated() { try db.execute(sql: "INSERT INTO centroids(cluster, vector) VALUES (?, ?)", arguments: [i, data(c)]) }
            try db.execute(sql: "UPDATE prototypes SET cluster = NULL")
            for (p, c) in assignment { try db.execute(sql: "UPDATE prototypes SET cluster = ? WHERE path = ?", arguments: [c, p]) }
        }
    }

    public func centroids() throws -> [[Float]] {
        try read { try Row.fetchAll($0, sql: "SELECT vector FROM centroids ORDER BY cluster").map { floats($0["vector"]) } }
    }

    /// Stores an inversion result for one prototype with the key saying how it was made.
    public func setLatent(path: String, latent: [Float], noises: [Float], metrics: String, key: String) throws {
        try write { db in
            try db.execute(sql: "UPDATE prototypes SET latent = ?, noises = ?, inversion = ?, latentKey = ? WHERE path = ?",
                           arguments: [data(latent), data(noises), metrics, key, path])
        }
    }

    /// The record of one path, if recorded.
    public func record(path: String) throws -> PrototypeRecord? {
        try read { try PrototypeRecord.fetchOne($0, sql: "SELECT * FROM prototypes WHERE path = ?", arguments: [path]) }
    }
}
