// Beyond one machine (issue 18): the shard rule from I/N and from Slurm and Kubernetes environments; prototype
// inversion in slices merged into the index (equal bit for bit to one run); cluster representatives; infer
// --voices (resumable, equal to per-voice runs); and a real single-node Slurm cluster running the sbatch
// templates (scripts/slurm/test-local-cluster.sh; skipped where Slurm is not installed or not root).
import Foundation
import Testing
import VoiceStyle
import VoiceStyleTestSupport

/// A fresh index of 3 identities' bundled faces (12 photos) built with the demo CMPC, optionally with clusters.
private func demoIndex(clusters: Int? = nil) throws -> (ModelLoader, String) {
    let loader = ModelLoader()
    try Demo.register(in: loader)
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("vs-cluster-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: root.appendingPathComponent("faces"), withIntermediateDirectories: true)
    for id in ["Freida_Pinto", "Garrett_Hedlund", "Julia_Stiles"] {
        try FileManager.default.copyItem(at: try Demo.data.appendingPathComponent("faces/\(id)"), to: root.appendingPathComponent("faces/\(id)"))
    }
    var build = BuildIndexRequest(index: root.appendingPathComponent("index").path, faces: root.appendingPathComponent("faces").path)
    build.cmpc = Demo.models.cmpc
    build.clusters = clusters
    _ = try Jobs.buildIndex(build, models: loader)
    return (loader, build.index)
}

private func invertRequest(_ index: String, shard: Shard? = nil, steps: Int = 2) -> InvertPrototypesRequest {
    var r = InvertPrototypesRequest(index: index)
    r.settings.projector.steps = steps
    r.settings.projector.meanLatentSamples = 300
    r.models = Demo.models
    r.shard = shard
    return r
}

/// Every column of every record but the row id, for equality.
private func records(_ index: String) throws -> [PrototypeRecord] {
    try PrototypeStore(url: PrototypeIndex.storeURL(URL(fileURLWithPath: index))).all().map { var r = $0; r.id = nil; return r }.sorted { $0.path < $1.path }
}

/// The two indexes' records are equal, column by column (the row ids aside).
private func expectSameRecords(_ a: String, _ b: String) throws {
    let x = try records(a), y = try records(b)
    #expect(x.count == y.count)
    for (r, s) in zip(x, y) {
        #expect(r.path == s.path && r.identity == s.identity && r.status == s.status && r.hash == s.hash && r.embedding == s.embedding, "\(r.path)")
        #expect(r.cluster == s.cluster && r.generation == s.generation && r.alignment == s.alignment && r.metadata == s.metadata, "\(r.path)")
        #expect(r.latent != nil && r.latent == s.latent, "\(r.path): latent")
        #expect(r.noises == s.noises, "\(r.path): noise maps")
        #expect(r.inversion == s.inversion && r.latentKey == s.latentKey, "\(r.path): \(r.inversion ?? "-") vs \(s.inversion ?? "-"); \(r.latentKey ?? "-") vs \(s.latentKey ?? "-")")
    }
}

private func message(_ body: () throws -> Void) -> String {
    do { try body(); return "" } catch { return plainMessage(error) }
}

@Suite("Shards from I/N and scheduler environments")
struct ShardTests {
    @Test("I/N, the slice rule, and refusals")
    func parse() throws {
        #expect(try Shard.parse("2/5", environment: [:]) == Shard(index: 2, count: 5))
        #expect(try Shard(index: 1, count: 3).slice(Array(0..<8)) == [1, 4, 7])
        for bad in ["5/5", "-1/3", "1/0", "a/b", "1", "1/2/3", ""] {
            #expect(message { _ = try Shard.parse(bad, environment: [:]) }.hasPrefix("shard"), "\(bad)")
        }
    }

    @Test("Slurm: TASK_ID with TASK_COUNT, with MIN/MAX (and STEP), agreement with auto/N")
    func slurm() throws {
        #expect(try Shard.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "0"]) == Shard(index: 2, count: 3))
        #expect(try Shard.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_MAX": "7"]) == Shard(index: 1, count: 4))
        #expect(try Shard.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "9",
                                                      "SLURM_ARRAY_TASK_STEP": "2"]) == Shard(index: 3, count: 5))
        #expect(try Shard.parse("auto/3", environment: ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "3"]) == Shard(index: 0, count: 3))
        #expect(message { _ = try Shard.parse("auto/4", environment: ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "3"]) }.contains("disagrees"))
        #expect(message { _ = try Shard.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "1"]) }.contains("SLURM_ARRAY_TASK_COUNT"))
        // --array=0-9%2 style ids beyond the count (an array of 3 numbered 5,6,7 without MIN) are refused, not wrapped.
        #expect(message { _ = try Shard.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "3"]) }.contains("no slice"))
        #expect(message { _ = try Shard.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "3"]) }.contains("not a whole number"))
    }

    @Test("Kubernetes: JOB_COMPLETION_INDEX with auto/N or VOICESTYLE_SHARD_COUNT; nothing set: a clear error")
    func kubernetes() throws {
        #expect(try Shard.parse("auto/4", environment: ["JOB_COMPLETION_INDEX": "3"]) == Shard(index: 3, count: 4))
        #expect(try Shard.parse("auto", environment: ["JOB_COMPLETION_INDEX": "1", "VOICESTYLE_SHARD_COUNT": "2"]) == Shard(index: 1, count: 2))
        #expect(message { _ = try Shard.parse("auto", environment: ["JOB_COMPLETION_INDEX": "1"]) }.contains("auto/N"))
        #expect(message { _ = try Shard.parse("auto/2", environment: ["JOB_COMPLETION_INDEX": "2"]) }.contains("completions"))
        let none = message { _ = try Shard.parse("auto", environment: ["PATH": "/bin"]) }
        #expect(none.contains("SLURM_ARRAY_TASK_ID") && none.contains("JOB_COMPLETION_INDEX"))
    }
}

@Suite("Sharded prototype inversion", .serialized)
struct ShardedInversionTests {
    @Test("3 slices merged equal one index invert bit for bit; slices resume; merge refuses missing or mismatched slices")
    func shardsEqualSingle() throws {
        let (loader, single) = try demoIndex()
        let one = try Jobs.invertPrototypes(invertRequest(single), models: loader)
        #expect(one.inverted == 12)
        let (_, sharded) = try demoIndex()
        // Nothing to merge yet; then a missing slice.
        #expect(message { _ = try Jobs.mergeLatents(MergeLatentsRequest(index: sharded)) }.contains("no latent shards"))
        var counts: [Int] = []
        for i in [0, 2] { counts.append(try Jobs.invertPrototypes(invertRequest(sharded, shard: try Shard(index: i, count: 3)), models: loader).inverted) }
        #expect(message { _ = try Jobs.mergeLatents(MergeLatentsRequest(index: sharded)) }.contains("shard 1/3") )
        // Slice 1 made with other settings is refused by name, then made again with the right ones (started afresh).
        _ = try Jobs.invertPrototypes(invertRequest(sharded, shard: try Shard(index: 1, count: 3), steps: 3), models: loader)
        #expect(message { _ = try Jobs.mergeLatents(MergeLatentsRequest(index: sharded)) }.contains("other settings"))
        let s1 = try Jobs.invertPrototypes(invertRequest(sharded, shard: try Shard(index: 1, count: 3)), models: loader)
        counts.append(s1.inverted)
        #expect(counts == [4, 4, 4] && s1.latentFile?.hasSuffix("latents/shard-1-of-3.sqlite") == true)
        // The index's own database was not written by the slices.
        #expect(try records(sharded).allSatisfy { $0.latent == nil })
        // A slice run again has nothing left to do (resumed from its file).
        let again = try Jobs.invertPrototypes(invertRequest(sharded, shard: try Shard(index: 1, count: 3)), models: loader)
        #expect(again.inverted == 0 && again.cached == 4)
        let merged = try Jobs.mergeLatents(MergeLatentsRequest(index: sharded))
        #expect(merged.summary.latents == 12 && merged.summary.shards == 3)
        try expectSameRecords(sharded, single)
        // After the merge a whole index invert finds everything cached.
        #expect(try Jobs.invertPrototypes(invertRequest(sharded), models: loader).cached == 12)
        // Leftover slices of another split: the merge asks which.
        _ = try Jobs.invertPrototypes(invertRequest(sharded, shard: try Shard(index: 0, count: 2)), models: loader)
        #expect(message { _ = try Jobs.mergeLatents(MergeLatentsRequest(index: sharded)) }.contains("name one by its number of shards"))
        var three = MergeLatentsRequest(index: sharded)
        three.shards = 3
        #expect(try Jobs.mergeLatents(three).summary.latents == 12)
    }

    @Test("--per-cluster M inverts the M members nearest each centroid; an index without clusters is refused")
    func perCluster() throws {
        let (loader, index) = try demoIndex(clusters: 3)
        let opened = try PrototypeIndex(directory: URL(fileURLWithPath: index))
        let reps = try opened.clusterRepresentatives(perCluster: 1)
        let clusters = Set(opened.records.compactMap(\.cluster))
        #expect(reps.count == clusters.count && Set(reps.compactMap { p in opened.records.first { $0.path == p }?.cluster }) == clusters)
        #expect(try opened.clusterRepresentatives(perCluster: 100).count == 12)
        var r = invertRequest(index)
        r.perCluster = 1
        let report = try Jobs.invertPrototypes(r, models: loader)
        #expect(report.prototypes.map(\.path) == reps)
        let (_, plain) = try demoIndex()
        var p = invertRequest(plain)
        p.perCluster = 2
        #expect(message { _ = try Jobs.invertPrototypes(p, models: loader) }.contains("perCluster needs an index with k-means clusters"))
    }
}

@Suite("infer --voices", .serialized)
struct InferManyTests {
    @Test("one folder per voice (clashing names made unique), resumes after an interruption, equals per-voice runs; shards split the list")
    func manyVoices() throws {
        let (loader, index) = try demoIndex()
        let clips = FileManager.default.temporaryDirectory.appendingPathComponent("vs-voices-\(UUID().uuidString)")
        for sub in ["a", "b"] { try FileManager.default.createDirectory(at: clips.appendingPathComponent(sub), withIntermediateDirectories: true) }
        let voices = try Demo.voices
        try FileManager.default.copyItem(at: voices[0], to: clips.appendingPathComponent("a/clip.wav"))
        try FileManager.default.copyItem(at: voices[1], to: clips.appendingPathComponent("b/clip.wav"))
        try FileManager.default.copyItem(at: voices[1], to: clips.appendingPathComponent("b/clip.flac"))  // WAV bytes: libsndfile reads content
        try Data("not audio".utf8).write(to: clips.appendingPathComponent("b/notes.txt"))
        // A CSV list with two clips of the same name: -2.
        let csv = clips.appendingPathComponent("list.csv")
        try Data("path,speaker\na/clip.wav,x\nb/clip.wav,y\n".utf8).write(to: csv)
        #expect(try Jobs.voiceList(csv.path).map(\.name) == ["clip", "clip-2"])
        #expect(try Jobs.voiceList(clips.path).map(\.name) == ["a/clip", "b/clip", "b/clip-2"])

        let out = clips.appendingPathComponent("out").path
        var request = InferManyRequest(voices: clips.path, index: index, out: out)
        request.models = Demo.models
        request.config.k = 3
        request.config.refinement.steps = 2
        request.config.meanLatentSamples = 300
        request.config.inversion.projector.steps = 2
        request.config.inversion.projector.meanLatentSamples = 300
        let first = try Jobs.inferMany(request, models: loader)
        #expect(first.done == 3 && first.failed == 0 && first.listed == 3 && first.voicesPerHour != nil)
        // An interruption: one voice's report.json never written (face.png already was), another folder untouched.
        let b = URL(fileURLWithPath: out).appendingPathComponent("b/clip")
        let faceBefore = try Data(contentsOf: b.appendingPathComponent("face.png"))
        try FileManager.default.removeItem(at: b.appendingPathComponent("report.json"))
        let resumed = try Jobs.inferMany(request, models: loader)
        #expect(resumed.voices.map(\.status) == [.complete, .done, .complete])
        #expect(try Data(contentsOf: b.appendingPathComponent("face.png")) == faceBefore)
        // Each folder equals a single infer of its clip (same index and loader: its latents are cached alike).
        for (file, name) in try Jobs.voiceList(clips.path) {
            let single = try Jobs.infer(request.request(voice: file), models: loader)
            let folder = URL(fileURLWithPath: out).appendingPathComponent(name)
            #expect(try Data(contentsOf: folder.appendingPathComponent("face.png")) == PNGCodec.encode(single.face), "\(name)")
            let report = try decodeReport(InferReport.self, from: Data(contentsOf: folder.appendingPathComponent("report.json")))
            #expect(report.request == single.report.request && report.steps == single.report.steps && report.prototypes.map(\.path) == single.report.prototypes.map(\.path))
        }
        // Other settings are not "complete": done again. Slices split the list; a bad clip fails alone.
        try Data("RIFF garbage".utf8).write(to: clips.appendingPathComponent("a/broken.wav"))
        var other = request
        other.config.seed = 7
        var outcomes: [VoiceOutcome] = []
        for i in 0..<2 {
            other.shard = try Shard(index: i, count: 2)
            outcomes += try Jobs.inferMany(other, models: loader).voices
        }
        #expect(outcomes.count == 4 && outcomes.filter { $0.status == .done }.count == 3)
        #expect(outcomes.first { $0.voice.hasSuffix("broken.wav") }?.status == .failed)
    }
}

@Suite("Slurm")
struct SlurmTests {
    @Test("a single-node Slurm cluster runs the sbatch templates: 3-task build array, merge, 3-task inversion array, latent merge; equal to one machine")
    func localCluster() throws {
        let script = Fixtures.repoRoot.appendingPathComponent("scripts/slurm/test-local-cluster.sh")
        guard let exe = DemoTests.executable else { Issue.record("voicestyle executable not found"); return }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script.path, exe.path]
        let output = Pipe()
        p.standardOutput = output
        p.standardError = output
        try p.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationStatus == 77 {
            print("note: Slurm test skipped: \(text.split(separator: "\n").last ?? "")")
            return
        }
        #expect(p.terminationStatus == 0, "\(text)")
    }
}
