// The model hub (VoiceStyleHub) and the job registry: files found from any folder in the documented order, a
// missing file naming every place looked in, and every front-end reaching the jobs it offers.
import Foundation
import Testing
import VoiceStyle
import VoiceStyleServer
import VoiceStyleTestSupport

private func tempFolder(_ name: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("vs-hub-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

private func touch(_ folder: URL, _ name: String) throws -> URL {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let url = folder.appendingPathComponent(name)
    try Data("x".utf8).write(to: url)
    return url
}

@Suite("Model hub")
struct HubTests {
    @Test("search order: --checkpoints, VOICESTYLE_CHECKPOINTS, ./checkpoints, the clone of the binary, the user cache")
    func order() throws {
        let root = try tempFolder("order")
        let (explicit, env, work, cache) = (root.appendingPathComponent("explicit"), root.appendingPathComponent("env"),
                                            root.appendingPathComponent("work"), root.appendingPathComponent("xdg"))
        let binary = Fixtures.repoRoot.appendingPathComponent(".build/release/voicestyle")
        let locator = ModelLocator(explicit: explicit.path, environment: ["VOICESTYLE_CHECKPOINTS": env.path, "XDG_CACHE_HOME": cache.path],
                                   workingDirectory: work, executable: binary)
        #expect(locator.places.map(\.folder) == [explicit.path, env.path, work.appendingPathComponent("checkpoints").path,
                                                 Fixtures.repoRoot.appendingPathComponent("checkpoints").path,
                                                 cache.appendingPathComponent("voicestyle/checkpoints").path])
        #expect(locator.places.map(\.reason) == ["--checkpoints", "VOICESTYLE_CHECKPOINTS", "working directory", "clone of the binary", "user cache"])
        // The first place holding the file wins.
        let inCache = try touch(cache.appendingPathComponent("voicestyle/checkpoints"), "vgg.pth")
        #expect(try ModelFile.lpips.resolve(nil, locator: locator) == inCache)
        let inWork = try touch(work.appendingPathComponent("checkpoints"), "vgg.pth")
        #expect(try ModelFile.lpips.resolve(nil, locator: locator) == inWork)
        let inEnv = try touch(env, "vgg.pth")
        #expect(try ModelFile.lpips.resolve(nil, locator: locator) == inEnv)
        // Downloads go to the named folder, else the variable, else the user cache outside a clone.
        #expect(locator.downloadFolder.path == explicit.path)
        let outside = ModelLocator(environment: ["XDG_CACHE_HOME": cache.path], workingDirectory: work, executable: nil)
        #expect(outside.downloadFolder.path == cache.appendingPathComponent("voicestyle/checkpoints").path)
        let inClone = ModelLocator(environment: ["XDG_CACHE_HOME": cache.path], workingDirectory: work, executable: binary)
        #expect(inClone.downloadFolder.path == Fixtures.repoRoot.appendingPathComponent("checkpoints").path)
        #expect(UserCache.folder(["HOME": "/home/u"]).path == "/home/u/.cache/voicestyle")
    }

    @Test("a missing model file names every place looked in and how to get it")
    func missing() throws {
        let work = try tempFolder("missing")
        let locator = ModelLocator(environment: ["VOICESTYLE_CHECKPOINTS": work.appendingPathComponent("env").path, "XDG_CACHE_HOME": work.path],
                                   workingDirectory: work, executable: nil)
        do { _ = try ModelFile.generator.resolve(nil, locator: locator); Issue.record("no error") } catch let e as ModelFileError {
            #expect(e.looked.count == 3)
            for place in locator.places { #expect(e.description.contains(place.folder + "/550000.pt"), "\(e)") }
            #expect(e.description.contains("voicestyle models fetch --only 550000.pt"))
        }
        do { _ = try ModelFile.generator.resolve("/nonexistent/g.pt", locator: locator); Issue.record("no error") } catch let e as ModelFileError {
            #expect(e.looked == ["/nonexistent/g.pt"])
        }
    }

    @Test("--index NAME: ./prototypes/NAME, then $VOICESTYLE_PROTOTYPES/NAME; a path is a path")
    func indexes() throws {
        let root = try tempFolder("indexes")
        let env = root.appendingPathComponent("shared-indexes")
        try FileManager.default.createDirectory(at: env.appendingPathComponent("faces"), withIntermediateDirectories: true)
        let locator = IndexLocator(environment: ["VOICESTYLE_PROTOTYPES": env.path], workingDirectory: root)
        #expect(locator.directory("faces").path == env.appendingPathComponent("faces").path)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("prototypes/faces"), withIntermediateDirectories: true)
        #expect(locator.directory("faces").path == root.appendingPathComponent("prototypes/faces").path)
        #expect(locator.directory("new").path == env.appendingPathComponent("new").path)
        #expect(locator.directory("/data/idx").path == "/data/idx")
        #expect(IndexLocator(explicit: "/x", workingDirectory: root).directory("a").path == "/x/a")
    }

    @Test("from a folder outside the clone: doctor and eval faces find the clone's checkpoints")
    func outsideTheClone() throws {
        let cwd = try tempFolder("outside")
        let doctor = try runTool(["doctor", "--json"], in: cwd, environment: ["VOICESTYLE_CHECKPOINTS": ""])
        let json = try JSONSerialization.jsonObject(with: Data(doctor.stdout.utf8)) as? [String: Any]
        let order = (json?["search_order"] as? [[String: String]])?.compactMap { $0["folder"] } ?? []
        #expect(order.contains(Fixtures.repoRoot.appendingPathComponent("checkpoints").standardizedFileURL.path), "\(doctor.stdout)")
        #expect(!doctor.signaled)
        let recogniser = Fixtures.repoRoot.appendingPathComponent("checkpoints/\(ModelFile.dlibRecognizer.name)")
        guard FileManager.default.fileExists(atPath: recogniser.path) else {
            print("note: \(recogniser.path) is absent (scripts/setup fetches it); eval faces from another folder not checked")
            return
        }
        let faces = Fixtures.repoRoot.appendingPathComponent("Sources/VoiceStylePipeline/DemoData/faces")
        let r = try runTool(["eval", "faces", faces.path, "--identity-model", "dlib", "--quiet"], in: cwd, environment: ["VOICESTYLE_CHECKPOINTS": ""])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("rank-1"), "\(r.stdout)")
    }

    @Test("infer from another folder finds its model files through VOICESTYLE_CHECKPOINTS")
    func inferThroughEnvironment() throws {
        guard let cmpc = Fixtures.sharedFixture("cmpc/model_best_256_reduced.pth.tar"),
              let irse = Fixtures.sharedFixture("irse50/irse50_reduced_state_dict.safetensors"),
              let lpips = Fixtures.sharedFixture("lpips/lpips_vgg_reduced_state_dict.safetensors") else { return }
        let cwd = try tempFolder("infer")
        let models = cwd.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        let links: [(String, URL)] = [("550000.pt", Fixtures.local("VoiceStyleCheckpointsTests", "g_small_state_dict.safetensors")),
                                      ("model_best_256.pth.tar", cmpc), ("model_ir_se50.pth", irse), ("vgg16-397923af.pth", lpips)]
        for (name, target) in links { try FileManager.default.createSymbolicLink(at: models.appendingPathComponent(name), withDestinationURL: target) }
        // Two people of the demo photos, one photo each.
        let faces = cwd.appendingPathComponent("faces")
        let demo = Fixtures.repoRoot.appendingPathComponent("Sources/VoiceStylePipeline/DemoData/faces")
        for person in try FileManager.default.contentsOfDirectory(atPath: demo.path).sorted().prefix(2) {
            let photo = try FileManager.default.contentsOfDirectory(atPath: demo.appendingPathComponent(person).path).sorted()[0]
            try FileManager.default.createDirectory(at: faces.appendingPathComponent(person), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: demo.appendingPathComponent("\(person)/\(photo)"), to: faces.appendingPathComponent("\(person)/\(photo)"))
        }
        let env = ["VOICESTYLE_CHECKPOINTS": models.path, "VOICESTYLE_PROTOTYPES": cwd.appendingPathComponent("indexes").path]
        let build = try runTool(["index", "build", "people", "--faces", faces.path, "--quiet"], in: cwd, environment: env)
        #expect(build.status == 0, "\(build.stderr)")
        #expect(FileManager.default.fileExists(atPath: cwd.appendingPathComponent("indexes/people/prototypes.sqlite").path))
        let voice = Fixtures.repoRoot.appendingPathComponent("Sources/VoiceStylePipeline/DemoData/voices")
        let clip = try FileManager.default.contentsOfDirectory(atPath: voice.path).sorted().first { $0.hasSuffix(".wav") } ?? ""
        let infer = try runTool(["infer", "--voice", voice.appendingPathComponent(clip).path, "--index", "people", "--out", "result", "-k", "1",
                                 "--steps", "2", "--invert-steps", "2", "--mean-samples", "100", "--quiet"], in: cwd, environment: env)
        #expect(infer.status == 0, "\(infer.stderr)")
        let report = try decodeReport(InferReport.self, from: Data(contentsOf: cwd.appendingPathComponent("result/report.json")))
        #expect(report.checkpoints["generator"]?.path == models.appendingPathComponent("550000.pt").path)
        // A bad value is named as its flag on the command line.
        let bad = try runTool(["infer", "--voice", voice.appendingPathComponent(clip).path, "--index", "people", "--out", "r2", "--invert-steps", "0"],
                              in: cwd, environment: env)
        #expect(bad.status == 1 && bad.stderr.contains("--invert-steps must be between 1 and 100000 (got 0)"), "\(bad.stderr)")
    }
}

@Suite("Job registry")
struct JobRegistryTests {
    @Test("every registered job has a unique name, and the command line reaches each one")
    func commandLine() throws {
        let names = JobRegistry.all.map { $0.job }
        #expect(Set(names).count == names.count)
        let r = try runTool(["jobs", "--json"], in: FileManager.default.temporaryDirectory)
        #expect(r.status == 0, "\(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let commands = json?["commands"] as? [String: [String]] ?? [:]
        let reached = Set(commands.values.joined())
        for name in names { #expect(reached.contains(name), "no command runs \(name)") }
        for (command, jobs) in commands {
            for job in jobs { #expect(JobRegistry.named(job) != nil, "\(command) runs \(job), which is not registered") }
        }
        #expect(commands["index build"] == ["index build"] && commands["serve"] == WebServer.jobs.map { $0.job })
    }

    @Test("the web server and the benchmarks offer registered jobs only")
    func otherFrontEnds() throws {
        for job in WebServer.jobs { #expect(JobRegistry.named(job.job) != nil) }
        let bench = DemoTests.executable?.deletingLastPathComponent().appendingPathComponent("voicestyle-bench")
        let r = try runTool(["jobs"], in: FileManager.default.temporaryDirectory, executable: bench)
        let map = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: [String]] ?? [:]
        #expect(!map.isEmpty, "\(r.stderr)")
        for job in map.values.joined() { #expect(JobRegistry.named(job) != nil, "voicestyle-bench runs \(job)") }
    }

    @Test("errors name request fields; the command line shows flags, the web page form fields, never flags")
    func fieldNames() {
        let e = JobError(field: "invertSteps", "must be between 1 and 100000 (got 0)")
        #expect(e.description == "invertSteps must be between 1 and 100000 (got 0)")
        #expect(e.rendered { JobError.flag($0) } == "--invert-steps must be between 1 and 100000 (got 0)")
        #expect(JobError("give exactly one of {faces} and {csv}").rendered { JobError.flag($0) } == "give exactly one of --faces and --csv")
        #expect(JobError.flag("k") == "-k")
        #expect(!webMessage(JobError(field: "steps", "must be between 0 and 2000 (got 5000)")).contains("--"))
        #expect(webMessage(JobError("give {voice} or {face}")) == "give voice (or example) or face")
    }

    @Test("a report file is its report in an envelope naming the version and the job")
    func envelope() throws {
        let report = MergeIndexesReport(output: "/x", parts: 2, prototypes: 5)
        let data = try reportJSON(MergeIndexesRequest.envelope(report))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        #expect(json?["command"] as? String == "index merge" && json?["voicestyle"] as? String == voiceStyleVersion && json?["prototypes"] as? Int == 5)
        #expect(try decodeReport(JobEnvelope<MergeIndexesReport>.self, from: data).report == report)
    }
}
