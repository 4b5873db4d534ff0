// Prototype indexes over the 1,295 real faces of ../shared/data with the reduced CMPC checkpoint: self
// retrieval, identity counts, shards + merge, a real SIGKILL and resume, skipped and added files, and
// cmpc2's memory retrieval reproduced.
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleIndex
import VoiceStylePipeline
import VoiceStyleModels
import VoiceStyleTestSupport

/// Shared inputs, loaded once.
enum IndexFixtures {
    static let faces = Fixtures.shared.appendingPathComponent("data/faces/vgg_frontal")
    static let cmpcURL = Fixtures.sharedFixture("cmpc/model_best_256_reduced.pth.tar")
    nonisolated(unsafe) static let model: CMPCModel? = cmpcURL.flatMap { try? CMPCModel(stateDict: StateDict(Checkpoint.open($0), path: "model")) }
    static let sha = cmpcURL.flatMap { try? SHA256.hex(file: $0) } ?? ""

    static func temporary(_ name: String) -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("vs-index-\(name)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    /// The uninterrupted single build (built once, shared by the tests).
    static let single: URL? = {
        guard let model else { return nil }
        let dir = temporary("single")
        var o = IndexBuildOptions()
        o.clusters = 11
        o.batch = 16
        _ = try? PrototypeIndex.build(directory: dir, source: .folder(faces, identityLevel: 1), encoder: FaceEncoder(model, checkpointSHA256: sha), options: o)
        return dir
    }()

    /// (path, status, embedding, cluster) of every record, for equality checks.
    static func contents(_ dir: URL) throws -> [String] {
        try PrototypeStore(url: PrototypeIndex.storeURL(dir)).all().sorted { $0.path < $1.path }.map {
            "\($0.path)|\($0.identity)|\($0.status)|\($0.reason ?? "")|\($0.embedding?.base64EncodedString() ?? "")|\($0.cluster ?? -1)"
        }
    }
}

@Suite("Prototype index", .serialized)
struct PrototypeIndexTests {
    @Test("every face finds itself at rank 1 with cosine ≈ 1; identity counts; duplicates recorded")
    func selfRetrieval() throws {
        guard let dir = IndexFixtures.single else { return }
        let index = try PrototypeIndex(directory: dir)
        let all = try index.store.all()
        #expect(all.count == 1295)
        // Identity counts equal the files per folder.
        for id in try FileManager.default.contentsOfDirectory(atPath: IndexFixtures.faces.path) {
            let files = try FileManager.default.contentsOfDirectory(atPath: IndexFixtures.faces.appendingPathComponent(id).path).count
            #expect(all.filter { $0.identity == id }.count == files, "\(id)")
        }
        let duplicates = all.filter { $0.status == "duplicate" }
        #expect(duplicates.allSatisfy { d in all.contains { $0.path == d.reason && $0.hash == d.hash && $0.status == "embedded" } })
        for r in index.records {
            let hits = try index.searchInstances(r.embeddingValues!, k: 3)
            #expect(hits[0].cosine > 0.99999, "\(r.path): best cosine \(hits[0].cosine)")
            #expect(hits.contains { $0.path == r.path && $0.cosine > 0.99999 }, "\(r.path) not found at the top")
        }
        #expect(try index.store.centroids().count == 11)
        #expect(try !index.searchClusters(index.records[0].embeddingValues!, k: 8).isEmpty)
    }

    @Test("two shards merged equal the single build")
    func shards() throws {
        guard let single = IndexFixtures.single, let model = IndexFixtures.model else { return }
        let parts = (0..<2).map { IndexFixtures.temporary("shard\($0)") }
        for (i, dir) in parts.enumerated() {
            var o = IndexBuildOptions()
            o.shard = (i, 2)
            o.clusters = 11
            o.batch = 16
            try PrototypeIndex.build(directory: dir, source: .folder(IndexFixtures.faces, identityLevel: 1), encoder: FaceEncoder(model, checkpointSHA256: IndexFixtures.sha), options: o)
        }
        let merged = IndexFixtures.temporary("merged")
        try PrototypeIndex.merge(output: merged, parts: parts)
        #expect(try IndexFixtures.contents(merged) == IndexFixtures.contents(single))
        let a = try PrototypeIndex(directory: merged), b = try PrototypeIndex(directory: single)
        let q = b.records[100].embeddingValues!
        #expect(try a.searchInstances(q, k: 10) == b.searchInstances(q, k: 10))
        // Mixing checkpoints is refused.
        #expect(throws: IndexError.self) {
            try PrototypeIndex.build(directory: merged, source: .folder(IndexFixtures.faces, identityLevel: 1), encoder: FaceEncoder(model, checkpointSHA256: "0000"))
        }
    }

    @Test("a build killed with SIGKILL resumes without losing or duplicating a prototype")
    func killAndResume() throws {
        guard let single = IndexFixtures.single, let model = IndexFixtures.model, let cmpc = IndexFixtures.cmpcURL else { return }
        guard let binary = IntegrityFixtures.binary else {
            FileHandle.standardError.write(Data("note: no built voicestyle binary; run scripts/setup to run the SIGKILL test\n".utf8))
            return
        }
        let dir = IndexFixtures.temporary("killed")
        let p = Process()
        p.executableURL = binary
        p.arguments = ["index", "build", dir.path, "--faces", IndexFixtures.faces.path, "--cmpc", cmpc.path, "--clusters", "11", "--batch", "16", "--quiet"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait until some batches are committed, then kill -9.
        let store = PrototypeIndex.storeURL(dir)
        var committed = 0
        for _ in 0..<600 {
            Thread.sleep(forTimeInterval: 0.05)
            if FileManager.default.fileExists(atPath: store.path), let n = try? PrototypeStore(url: store).knownPaths().count { committed = n }
            if committed >= 200 { break }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)
        let before = try PrototypeStore(url: store).knownPaths().count
        #expect(before > 0 && before < 1295, "killed after \(before) of 1295")
        var o = IndexBuildOptions()
        o.clusters = 11
        o.batch = 16
        let summary = try PrototypeIndex.build(directory: dir, source: .folder(IndexFixtures.faces, identityLevel: 1), encoder: FaceEncoder(model, checkpointSHA256: IndexFixtures.sha), options: o)
        #expect(summary.alreadyDone == before)
        #expect(try IndexFixtures.contents(dir) == IndexFixtures.contents(single))
    }

    @Test("corrupt and non-image files are skipped with reasons; files added later are indexed")
    func skippedAndAdded() throws {
        guard let model = IndexFixtures.model else { return }
        let root = IndexFixtures.temporary("small"), dir = IndexFixtures.temporary("small-index")
        let src = IndexFixtures.faces.appendingPathComponent("Julia_Stiles")
        let names = try FileManager.default.contentsOfDirectory(atPath: src.path).sorted().prefix(4)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("Julia_Stiles"), withIntermediateDirectories: true)
        for n in names.prefix(3) { try FileManager.default.copyItem(at: src.appendingPathComponent(n), to: root.appendingPathComponent("Julia_Stiles/\(n)")) }
        let real = try Data(contentsOf: src.appendingPathComponent(names.first!))
        try real.prefix(200).write(to: root.appendingPathComponent("Julia_Stiles/broken.jpg"))
        try Data("notes".utf8).write(to: root.appendingPathComponent("Julia_Stiles/readme.txt"))
        var s = try PrototypeIndex.build(directory: dir, source: .folder(root, identityLevel: 1), encoder: FaceEncoder(model, checkpointSHA256: IndexFixtures.sha))
        #expect(s.embedded == 3 && s.skipped == 2)
        #expect(s.skipReasons == ["undecodable image": 1, "not a JPEG or PNG image": 1])
        try FileManager.default.copyItem(at: src.appendingPathComponent(names.last!), to: root.appendingPathComponent("Julia_Stiles/\(names.last!)"))
        s = try PrototypeIndex.build(directory: dir, source: .folder(root, identityLevel: 1), encoder: FaceEncoder(model, checkpointSHA256: IndexFixtures.sha))
        #expect(s.embedded == 1 && s.alreadyDone == 5)
        #expect(try PrototypeIndex(directory: dir).records.count == 4)
    }

    @Test("importing cmpc2's memory reproduces getKNearestSamples for the stored queries")
    func memoryImport() throws {
        guard let memory = Fixtures.sharedFixture("cmpc/frame_memory_reduced.pth.tar"), let csv = Fixtures.sharedFixture("cmpc/training_40.csv"),
              let expectedURL = Fixtures.sharedFixture("cmpc/memory_expected.json"),
              let refURL = Fixtures.sharedFixture("cmpc/memory_reduced_reference.safetensors") else { return }
        let queries = try Fixtures.load(refURL).tensor("queries")
        let expected = (try JSONSerialization.jsonObject(with: Data(contentsOf: expectedURL)) as! [String: Any])["results"] as! [[String: Any]]
        #expect(expected.count == 12)
        for e in expected {
            let q = e["query"] as! Int, c = e["cluster"] as! Int
            let dir = IndexFixtures.temporary("memory-\(q)-\(c)")
            try PrototypeIndex.importCMPCMemory(directory: dir, memory: Checkpoint.open(memory), csv: csv, facesRoot: IndexFixtures.faces, clusters: c)
            let index = try PrototypeIndex(directory: dir)
            let query = Array(queries.scalars[(q * 128)..<((q + 1) * 128)])
            let paths = try index.searchClusters(query, k: 1000).map(\.path)
            #expect(paths == e["paths"] as! [String], "query \(q), cluster \(c)")
            #expect(try index.searchClusters(query, k: 8).map(\.path) == Array((e["paths"] as! [String]).prefix(8)))
        }
    }
}
