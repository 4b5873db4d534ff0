// Index integrity under interruption and bad input (no upstream counterpart: upstream has no index): FAISS
// labels are database ids, one committed generation shared by the FAISS file and SQLite, one writer at a time.
// Runs in the serialized "Prototype index" suite (the child builds need the cores to themselves).
import Foundation
import Synchronization
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleIndex
import VoiceStylePipeline
import VoiceStyleModels
import VoiceStyleTestSupport

/// Helpers of the integrity tests: small indexes from a CSV of the first faces, child `voicestyle index build`s.
enum IntegrityFixtures {
    /// The built command-line tool (the child builds run it), if any.
    static var binary: URL? {
        ["release", "debug"].map { Fixtures.repoRoot.appendingPathComponent(".build/\($0)/voicestyle") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// An index of the first `count` faces (in path order), built in this process from a CSV.
    static func partialIndex(_ name: String, count: Int) throws -> URL? {
        let dir = IndexFixtures.temporary(name)
        return try buildPartial(dir, count: count) == nil ? nil : dir
    }

    /// Builds (or re-runs the build of) the first `count` faces into `dir` from a CSV; nil without the model.
    @discardableResult
    static func buildPartial(_ dir: URL, count: Int) throws -> IndexBuildSummary? {
        guard let model = IndexFixtures.model else { return nil }
        let items = try PrototypeIndex.items(.folder(IndexFixtures.faces, identityLevel: 1)).prefix(count)
        let csv = IndexFixtures.temporary("partial-csv").appendingPathComponent("faces.csv")
        try ("path,identity\n" + items.map { "\($0.path),\($0.identity)" }.joined(separator: "\n") + "\n").write(to: csv, atomically: true, encoding: .utf8)
        var o = IndexBuildOptions()
        o.batch = 16
        return try PrototypeIndex.build(directory: dir, source: .csv(csv, facesRoot: IndexFixtures.faces), encoder: FaceEncoder(model, checkpointSHA256: IndexFixtures.sha), options: o)
    }

    /// The FAISS files in an index folder.
    static func faissFiles(_ dir: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".faiss") }.sorted().map { dir.appendingPathComponent($0) }
    }

    /// Starts `voicestyle index build DIR --faces <all faces>` (extending `dir`) in a child process.
    static func startBuild(_ binary: URL, _ dir: URL) throws -> Process {
        let p = Process()
        p.executableURL = binary
        p.arguments = ["index", "build", dir.path, "--faces", IndexFixtures.faces.path, "--cmpc", IndexFixtures.cmpcURL?.path ?? "", "--batch", "16", "--quiet"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Waits (up to 60 s) until the index records at least `n` paths; the count reached.
    static func waitForRecords(_ dir: URL, atLeast n: Int, while p: Process) -> Int {
        var committed = 0
        for _ in 0..<1200 {
            Thread.sleep(forTimeInterval: 0.05)
            if let c = try? PrototypeStore(url: PrototypeIndex.storeURL(dir)).knownPaths().count { committed = c }
            if committed >= n || !p.isRunning { break }
        }
        return committed
    }

    /// Every embedded prototype searched with its own embedding: the failures (top-1 neither itself nor a
    /// byte-identical file, or cosine below 0.99999).
    static func selfRetrievalFailures(_ index: PrototypeIndex) throws -> [String] {
        let hashes = Dictionary(index.records.map { ($0.path, $0.hash) }, uniquingKeysWith: { a, _ in a })
        var failures: [String] = []
        for r in index.records where r.status == "embedded" {
            guard let e = r.embeddingValues, let top = try index.searchInstances(e, k: 1).first else { failures.append("\(r.path): no hit"); continue }
            let same = top.path == r.path || (hashes[top.path] ?? nil) == r.hash
            if !same || top.cosine < 0.99999 { failures.append("\(r.path): top-1 \(top.path) cos \(top.cosine)") }
        }
        return failures
    }
}

extension PrototypeIndexTests {
    @Test("after an extending build is killed, every prototype still finds itself (labels are ids of one committed generation)")
    func readerAfterKilledExtend() throws {
        guard let binary = IntegrityFixtures.binary, let dir = try IntegrityFixtures.partialIndex("extend", count: 300) else { return }
        let before = try PrototypeIndex(directory: dir).records.count
        let p = try IntegrityFixtures.startBuild(binary, dir)
        let reached = IntegrityFixtures.waitForRecords(dir, atLeast: 300 + 160, while: p)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)
        #expect(reached >= 460 && reached < 1295, "killed after \(reached) records")
        let index = try PrototypeIndex(directory: dir)
        #expect(index.records.count == before, "a reader sees the committed generation only")
        let failures = try IntegrityFixtures.selfRetrievalFailures(index)
        #expect(failures.isEmpty, "\(failures.count) wrong: \(failures.prefix(5))")
    }

    @Test("a FAISS file of a smaller or a bigger index, or none, is refused with the repair command; a rebuild repairs it")
    func foreignFaissFile() throws {
        guard let small = try IntegrityFixtures.partialIndex("small", count: 40),
              let big = try IntegrityFixtures.partialIndex("big", count: 64) else { return }
        func refused(_ dir: URL) -> String? {
            do { _ = try PrototypeIndex(directory: dir); return nil } catch { return String(describing: error) }
        }
        func rebuild(_ dir: URL, _ n: Int) throws {
            // The same CSV source again: nothing new to embed, the FAISS file is re-derived.
            let s = try IntegrityFixtures.buildPartial(dir, count: n)
            #expect(s?.embedded == 0 && s?.alreadyDone == n)
        }
        let smallFile = try #require(try IntegrityFixtures.faissFiles(small).first), bigFile = try #require(try IntegrityFixtures.faissFiles(big).first)
        let smallCopy = IndexFixtures.temporary("small-faiss").appendingPathComponent("copy.faiss")
        try FileManager.default.copyItem(at: smallFile, to: smallCopy)
        // The bigger index's file in the smaller one.
        try FileManager.default.removeItem(at: smallFile)
        try FileManager.default.copyItem(at: bigFile, to: smallFile)
        let m1 = refused(small)
        #expect(m1?.contains("repair it with: voicestyle index build \(small.path)") == true, "\(m1 ?? "opened")")
        try rebuild(small, 40)
        #expect(try IntegrityFixtures.selfRetrievalFailures(PrototypeIndex(directory: small)).isEmpty)
        // The smaller index's file in the bigger one.
        let bigNow = try #require(try IntegrityFixtures.faissFiles(big).first)
        try FileManager.default.removeItem(at: bigNow)
        try FileManager.default.copyItem(at: smallCopy, to: bigNow)
        let m2 = refused(big)
        #expect(m2?.contains("repair it with: voicestyle index build \(big.path)") == true, "\(m2 ?? "opened")")
        // No FAISS file at all: said so, not "an imported memory".
        try FileManager.default.removeItem(at: bigNow)
        let m3 = refused(big)
        #expect(m3?.contains("FAISS file") == true && m3?.contains("voicestyle index build") == true, "\(m3 ?? "opened")")
        try rebuild(big, 64)
        let repaired = try PrototypeIndex(directory: big)
        #expect(try repaired.records.count == PrototypeStore(url: PrototypeIndex.storeURL(big)).indexed().count)
        #expect(try IntegrityFixtures.selfRetrievalFailures(repaired).isEmpty)
        #expect(try IntegrityFixtures.faissFiles(big).count == 1)
    }

    @Test("a second builder fails at once naming the first one's process; a reader during a build gets correct labels")
    func twoBuilders() throws {
        guard let binary = IntegrityFixtures.binary, let model = IndexFixtures.model,
              let dir = try IntegrityFixtures.partialIndex("two", count: 200) else { return }
        let p = try IntegrityFixtures.startBuild(binary, dir)
        defer {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        let reached = IntegrityFixtures.waitForRecords(dir, atLeast: 200 + 32, while: p)
        #expect(reached >= 232 && p.isRunning, "the child build should still be running (\(reached) records)")
        let t0 = Date()
        var o = IndexBuildOptions()
        o.batch = 16
        var message = ""
        do {
            try PrototypeIndex.build(directory: dir, source: .folder(IndexFixtures.faces, identityLevel: 1), encoder: FaceEncoder(model, checkpointSHA256: IndexFixtures.sha), options: o)
        } catch { message = String(describing: error) }
        #expect(message == "index \(dir.path) is being built by process \(p.processIdentifier)")
        #expect(Date().timeIntervalSince(t0) < 5, "the second builder must fail fast")
        // A reader while the child builds: the committed generation, right labels.
        let index = try PrototypeIndex(directory: dir)
        #expect(index.records.count >= 190)
        let failures = try IntegrityFixtures.selfRetrievalFailures(index)
        #expect(failures.isEmpty, "\(failures.count) wrong: \(failures.prefix(5))")
        #expect(p.isRunning, "the checks ran while the child was building")
    }

    @Test("opening a new index database from many connections at once: every one succeeds (concurrent migrations)")
    func concurrentFirstOpen() throws {
        for round in 0..<5 {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vs-index-open-\(round)-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                do { _ = try PrototypeStore(url: PrototypeIndex.storeURL(dir)) } catch { failures.withLock { $0.append("\(error)") } }
            }
            #expect(failures.withLock { $0 } == [], "round \(round)")
        }
    }

    @Test("merging an index into itself or listing a part twice is a plain error naming the index")
    func mergeIntoItself() throws {
        guard let dir = try IntegrityFixtures.partialIndex("self-merge", count: 20) else { return }
        for (output, parts) in [(dir, [dir]), (IndexFixtures.temporary("merge-out"), [dir, dir])] {
            var message = "merged"
            do { try PrototypeIndex.merge(output: output, parts: parts) } catch {
                #expect(error is IndexError, "\(error)")
                message = String(describing: error)
            }
            #expect(message.contains(dir.path) && !message.contains("SQLite"), "\(message)")
        }
        #expect(try PrototypeIndex(directory: dir).records.count == PrototypeStore(url: PrototypeIndex.storeURL(dir)).indexed().count)
    }
}
