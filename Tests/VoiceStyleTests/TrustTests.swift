// Issue 25, "trustworthy, round 2": each row of the hostile new user's report, run as that user ran it, through the
// real executable: no signal on any option, memory bounded on any audio, nothing of the user's overwritten or
// deleted, every refusal one plain sentence naming the input. (The web server's rows are in ServerTests.)
import Foundation
import Testing
import VoiceStyle
import VoiceStyleTestSupport

/// The bundled faces as a prototype index (the demo's untrained CMPC), built once per test process.
enum DemoIndex {
    static let built: Result<URL, any Error> = Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vs-demo-index-\(UUID().uuidString)")
        var build = BuildIndexRequest(index: dir.path, faces: try Demo.data.appendingPathComponent("faces").path)
        build.cmpc = Demo.models.cmpc
        let loader = ModelLoader()
        try Demo.register(in: loader)
        _ = try Jobs.buildIndex(build, models: loader)
        return dir
    }

    static var path: String { get throws { try built.get().path } }
}

/// The kind of file at `path` (S_IFREG, S_IFDIR, S_IFIFO, S_IFLNK, …; the link itself, not what it names), 0 when absent.
func kind(_ path: String) -> mode_t {
    var st = stat()
    return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : 0
}

/// The demo's model names on a command line (the executable registers them when it sees one).
let demoModels = ["--cmpc", "demo:cmpc", "--generator", "demo:generator", "--vgg", "demo:lpips", "--id-model", "demo:irse50"]

@Suite("Trust (issue 25): the real executable on hostile input", .serialized)
struct TrustTests {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("vs-trust-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func refused(_ args: [String], _ words: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        try expectRefused(args, in: dir, words, sourceLocation: sourceLocation)
    }

    func ok(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> (status: Int32, signaled: Bool, stderr: String, stdout: String, peakKiB: Int) {
        let r = try runTool(args, in: dir)
        #expect(!r.signaled && r.status == 0, "\(args): exit \(r.status)\n\(r.stderr)", sourceLocation: sourceLocation)
        return r
    }

    func npy(_ name: String, _ values: [Float], shape: [Int]? = nil) throws -> String {
        let url = dir.appendingPathComponent(name)
        try NumPyFile.writeNpy(StoredTensor(Tensor<Float>(shape: shape ?? [values.count], scalars: values)), to: url)
        return url.path
    }

    @Test("row 1: similarity aggregation at τ = 0.0008 infers (a stable softmax), no signal")
    func tinyTemperature() throws {
        let r = try ok(["infer", "--voice", try Demo.voices[0].path, "--index", try DemoIndex.path, "--out", "t", "--aggregate", "similarity",
                        "--temperature", "0.0008", "-k", "3", "--steps", "1", "--invert-steps", "1", "--mean-samples", "20", "--quiet"] + demoModels)
        guard r.status == 0 else { return }
        let report = try decodeReport(InferReport.self, from: Data(contentsOf: dir.appendingPathComponent("t/report.json")))
        let weights = report.prototypes.map(\.weight)
        #expect(weights.allSatisfy(\.isFinite) && abs(weights.reduce(0, +) - 1) < 1e-4, "\(weights)")
        var config = InferenceConfig()
        (config.aggregate, config.temperature) = (.similarity, .leastNonzeroMagnitude)
        #expect(Inference.weights(cosines: [0.9, -0.5, 0.89], config: config) == [1, 0, 0])
    }

    @Test("row 2: query vectors of another length, NaN, infinite or all zero are refused naming --embedding; a right one is searched")
    func queryVectors() throws {
        let index = try DemoIndex.path
        let d = try #require(try PrototypeIndex(directory: URL(fileURLWithPath: index)).dimension)
        let search = ["search", "--index", index, "-k", "2", "--embedding"]
        for n in [0, 1, d / 2, d - 1, d + 1, 2 * d] {
            try refused(search + [try npy("len\(n).npy", [Float](repeating: 0.5, count: n))], ["--embedding", "holds \(n) value", "have \(d)"])
        }
        try refused(search + [try npy("nan.npy", [.nan] + [Float](repeating: 1, count: d - 1))], ["--embedding", "NaN or infinite"])
        try refused(search + [try npy("inf.npy", [Float](repeating: .infinity, count: d))], ["--embedding", "NaN or infinite"])
        try refused(search + [try npy("zero.npy", [Float](repeating: 0, count: d))], ["--embedding", "all zeros"])
        let r = try ok(search + [try npy("good.npy", (0..<d).map { Float($0 % 7) - 3 }, shape: [1, d])])
        #expect(r.stdout.contains("rank"))
    }

    @Test("row 3 and 11: --out never replaces a folder, FIFO or device node; /dev/null and /dev/stdout are written in place")
    func outputTargets() throws {
        let clip = try Demo.voices[0].path
        let fifo = dir.appendingPathComponent("fifo"), folder = dir.appendingPathComponent("folder"), node = dir.appendingPathComponent("node")
        #expect(mkfifo(fifo.path, 0o644) == 0)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try refused(["features", clip, "--out", fifo.path], ["cannot write", "fifo", "FIFO, not a regular file"])
        try refused(["features", clip, "--out", folder.path], ["cannot write", "is a folder"])
        #expect(kind(fifo.path) == S_IFIFO && kind(folder.path) == S_IFDIR)
        // A character device outside /dev (as root, mknod works; the null device, 1:3): refused, left as it is.
        if mknod(node.path, S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0 {
            try refused(["features", clip, "--out", node.path], ["character device"])
            #expect(kind(node.path) == S_IFCHR)
        }
        _ = try ok(["features", clip, "--out", "/dev/null"])
        #expect(kind("/dev/null") == S_IFCHR)
        let piped = try ok(["features", clip, "--out", "/dev/stdout"])
        #expect(piped.stdout.contains("NUMPY"))
        // A link to a regular file stays a link; the file it names is replaced.
        let target = dir.appendingPathComponent("target.npy"), link = dir.appendingPathComponent("link.npy")
        try Data("old".utf8).write(to: target)
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
        _ = try ok(["features", clip, "--out", link.path])
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link.path) == target.path)
        #expect(try NumPyFile.readNpy(target).shape.count == 3)
    }

    @Test("row 4: a 117 KB Ogg declaring 737 million samples is refused from its header; 123 million decode in bounded memory")
    func audioBomb() throws {
        let bomb = Fixtures.local("VoiceStyleTests", "bomb-60s-192k-64ch.ogg").path
        let started = Date()
        try refused(["features", bomb, "--out", "f.npy"], ["64 channels", "737 million samples", "at most 268 million"])
        #expect(Date().timeIntervalSince(started) < 20)
        let r = try runTool(["features", Fixtures.local("VoiceStyleTests", "bomb-10s-192k-64ch.ogg").path, "--no-vad", "--out", "f.npy"], in: dir)
        #expect(!r.signaled && r.status == 0, "\(r.stderr)")
        // Decoded whole, 10 s × 192 kHz × 64 channels of float would take 491 MB.
        #expect(r.peakKiB < 200_000, "peak RSS \(r.peakKiB) KiB")
    }

    @Test("row 7: a 0-byte prototypes.sqlite is a damaged index: read-only commands and the repair refuse it and write nothing")
    func emptyDatabase() throws {
        let index = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: index, withIntermediateDirectories: true)
        let db = index.appendingPathComponent("prototypes.sqlite")
        try Data().write(to: db)
        try refused(["search", "--index", index.path, "--voice", try Demo.voices[0].path, "--cmpc", "demo:cmpc"], ["damaged", "empty (0 bytes)"])
        try refused(["index", "invert", index.path] + demoModels.dropFirst(2), ["damaged"])
        try refused(["index", "build", index.path], ["damaged"])
        #expect((try FileManager.default.attributesOfItem(atPath: db.path)[.size] as? Int) == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: index.path).sorted() == ["build.lock", "prototypes.sqlite"]
                || (try FileManager.default.contentsOfDirectory(atPath: index.path)) == ["prototypes.sqlite"])
    }

    @Test("row 8 and 11: index merge refuses a missing shard, a shard twice, mixed splits and overlapping parts; all shards merge whole")
    func mergeShards() throws {
        let faces = try Demo.data.appendingPathComponent("faces").path
        func build(_ name: String, _ extra: [String]) throws { _ = try ok(["index", "build", dir.appendingPathComponent(name).path, "--faces", faces, "--cmpc", "demo:cmpc", "--quiet"] + extra) }
        try build("p0", ["--shard", "0/2"]); try build("p1", ["--shard", "1/2"]); try build("q0", ["--shard", "0/3"]); try build("whole", [])
        let p = { (n: String) in self.dir.appendingPathComponent(n).path }
        try refused(["index", "merge", p("m"), p("p0")], ["shard 1/2", "missing"])
        try refused(["index", "merge", p("m"), p("p0"), p("q0")], ["mix splits"])
        try refused(["index", "merge", p("m"), p("p0"), p("p1"), p("whole")], ["whole index, not a shard"])
        try refused(["index", "merge", p("m"), p("whole"), p("m2")], ["no prototype index"])
        try build("whole2", [])
        try refused(["index", "merge", p("m"), p("whole"), p("whole2")], ["both hold", "overlapping"])
        #expect(!FileManager.default.fileExists(atPath: p("m")))
        _ = try ok(["index", "merge", p("m"), p("p1"), p("p0")])
        #expect(try PrototypeIndex(directory: URL(fileURLWithPath: p("m"))).records.count == 44)
    }

    @Test("row 9: a repair of an index that does not record its CMPC names --cmpc; with it the index works again")
    func repairRemembersCMPC() throws {
        guard let cmpc = Fixtures.sharedFixture("cmpc/model_best_256_reduced.pth.tar") else { return }
        let faces = dir.appendingPathComponent("faces")
        for (person, photo) in [("Julia_Stiles", "00000001.jpg"), ("Jeremy_Irvine", "00000004.jpg")] {
            try FileManager.default.createDirectory(at: faces.appendingPathComponent(person), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: try Demo.data.appendingPathComponent("faces/\(person)/\(photo)"),
                                             to: faces.appendingPathComponent("\(person)/a.jpg"))
        }
        let index = dir.appendingPathComponent("idx").path
        _ = try ok(["index", "build", index, "--faces", faces.path, "--cmpc", cmpc.path, "--quiet"])
        let store = try PrototypeStore(url: PrototypeIndex.storeURL(URL(fileURLWithPath: index)), existing: true)
        #expect(try store.setting("cmpc_path") == cmpc.path)
        // As an index whose checkpoint was moved (or a first build stopped by a full disk before the path was recorded).
        try store.setSettings(["cmpc_path": dir.appendingPathComponent("moved.pth.tar").path])
        try refused(["index", "build", index], ["--cmpc is needed", "which CMPC checkpoint"])
        _ = try ok(["index", "build", index, "--cmpc", cmpc.path])
        _ = try ok(["search", "--index", index, "--voice", try Demo.voices[0].path, "-k", "1"])
    }

    @Test("row 10: no output is an error; labels are 1/0; links label a photo by the folder it is in, once; safetensors as the reference reads them")
    func nothingQuietlyWrong() throws {
        // (a) A build that embeds nothing, an alignment that finds no face.
        let junk = dir.appendingPathComponent("junk/Person")
        try FileManager.default.createDirectory(at: junk, withIntermediateDirectories: true)
        try Data("not a photo".utf8).write(to: junk.appendingPathComponent("a.jpg"))
        try refused(["index", "build", dir.appendingPathComponent("ji").path, "--faces", junk.deletingLastPathComponent().path, "--cmpc", "demo:cmpc"],
                    ["no image could be embedded", "1 skipped"])
        if FileManager.default.fileExists(atPath: FaceDetector.defaultLandmarkModel) {
            try refused(["align", junk.path, "--out", "aligned"], ["no face was aligned", "a.jpg"])
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("aligned/alignment.json").path))
        }
        // (b) A label that is neither 1 nor 0.
        let clip = try Demo.voices[0].path, face = try Demo.data.appendingPathComponent("faces/Julia_Stiles/00000001.jpg").path
        try Data("voice,face,label\n\(clip),\(face),1\n\(clip),\(face),yes\n".utf8).write(to: dir.appendingPathComponent("pairs.csv"))
        try Data("path,identity\n\(clip),a\n".utf8).write(to: dir.appendingPathComponent("v.csv"))
        try Data("path,identity\n\(face),a\n".utf8).write(to: dir.appendingPathComponent("f.csv"))
        try refused(["eval", "association", "--cmpc", "demo:cmpc", "--voices", "v.csv", "--faces", "f.csv", "--pairs", "pairs.csv", "--out", "ev"],
                    ["--pairs", "row 2", "label must be 1 or 0", "yes"])
        // (c) A folder linked into the tree under another name: its photo is one prototype, of the folder it is in.
        let tree = dir.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("Julia"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: face, toPath: tree.appendingPathComponent("Julia/x.jpg").path)
        try FileManager.default.createSymbolicLink(at: tree.appendingPathComponent("0-alias"), withDestinationURL: tree.appendingPathComponent("Julia"))
        let linked = dir.appendingPathComponent("linked").path
        _ = try ok(["index", "build", linked, "--faces", tree.path, "--cmpc", "demo:cmpc", "--quiet"])
        let records = try PrototypeIndex(directory: URL(fileURLWithPath: linked)).records
        #expect(records.map(\.identity) == ["Julia"] && records.map(\.path) == ["Julia/x.jpg"], "\(records.map(\.path))")
        // (d) Safetensors with a gap between tensors or trailing bytes (safetensors' own reader refuses both).
        let good = try SafeTensorsFile(tensors: [("a", StoredTensor(Tensor<Float>(shape: [2], scalars: [1, 2])))]).serialized()
        try (good + Data([0, 0, 0, 0])).write(to: dir.appendingPathComponent("trailing.safetensors"))
        try refused(["checkpoint", "inspect", "trailing.safetensors"], ["trailing.safetensors", "trailing bytes"])
    }

    @Test("row 4 and 11: a damaged MP3 is one sentence, without libmpg123's notes")
    func badMP3() throws {
        var mp3 = Data("ID3\u{3}\0\0\0\0\0\0".utf8)
        mp3.append(Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
        try mp3.write(to: dir.appendingPathComponent("bad.mp3"))
        try refused(["features", "bad.mp3", "--out", "f.npy"], ["cannot read the audio file", "bad.mp3", "damaged"])
        let r = try runTool(["features", "bad.mp3", "--out", "f.npy"], in: dir)
        #expect(r.stderr.split(separator: "\n").count == 1 && !r.stderr.contains("pipe") && !r.stderr.contains("libmpg123"), "\(r.stderr)")
    }

    @Test("row 11: index input in one sentence: an unterminated CSV quote, a path listed twice, IVF on 44 faces, a damaged latent shard")
    func indexSentences() throws {
        let faces = try Demo.data.appendingPathComponent("faces").path
        try Data("path,identity\n\"Julia_Stiles/00000001.jpg,Julia\nJeremy_Irvine/00000004.jpg,Jeremy\n".utf8).write(to: dir.appendingPathComponent("open.csv"))
        try refused(["index", "build", "q", "--csv", "open.csv", "--faces-root", faces, "--cmpc", "demo:cmpc"], ["open.csv", "opened on line 2", "never closed"])
        try Data("path,identity\nJulia_Stiles/00000001.jpg,Julia\nJulia_Stiles/00000001.jpg,Julia\n".utf8).write(to: dir.appendingPathComponent("twice.csv"))
        try refused(["index", "build", "q", "--csv", "twice.csv", "--faces-root", faces, "--cmpc", "demo:cmpc"], ["lists Julia_Stiles/00000001.jpg twice", "rows 1 and 2"])
        try refused(["index", "build", "q", "--faces", faces, "--cmpc", "demo:cmpc", "--factory", "IVF100,Flat"], ["--factory", "needs at least 100", "holds 44"])
        // A latent shard file that is not a database: named by its own path.
        let index = dir.appendingPathComponent("shards")
        try FileManager.default.createDirectory(at: index.appendingPathComponent("latents"), withIntermediateDirectories: true)
        for f in try FileManager.default.contentsOfDirectory(atPath: try DemoIndex.path) where f.hasSuffix(".sqlite") || f.hasSuffix(".faiss") {
            try FileManager.default.copyItem(atPath: try DemoIndex.path + "/" + f, toPath: index.appendingPathComponent(f).path)
        }
        try Data(repeating: 0x41, count: 4096).write(to: index.appendingPathComponent("latents/shard-0-of-1.sqlite"))
        try refused(["index", "merge-latents", index.path], ["shard-0-of-1.sqlite", "damaged or not an index database"])
    }

    @Test("row 11: serve --host that does not resolve is one sentence naming --host, before anything is prepared")
    func serveBadHost() throws {
        try refused(["serve", "--demo", "--host", "no such host..", "--port", "0", "--data", "serve-data"], ["--host", "no such host..", "neither an IP address nor a name"])
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("serve-data").path))
    }

    @Test("row 11: a 100 KB path is cut in the message; NaN noise maps and --lr-mlp nan are named, not blamed on the weights")
    func plainSentences() throws {
        let long = String(repeating: "p", count: 100_000)
        let cut = try runTool(["features", "\(long).wav", "--out", "f.npy"], in: dir)
        #expect(cut.status == 1 && cut.stderr.utf8.count < 600 && cut.stderr.contains("100004 characters"), "\(cut.stderr.prefix(700))")
        let g = Fixtures.local("VoiceStyleCheckpointsTests", "g_small_state_dict.safetensors").path
        try refused(["generate", "--checkpoint", g, "--lr-mlp", "nan", "--out", "g.png"], ["--lr-mlp", "finite"])
        let gen = try StyleGAN2Generator(checkpoint: Checkpoint.open(URL(fileURLWithPath: g)))
        let maps = (0..<gen.config.noiseCount).map { i in
            StoredTensor(Tensor<Float>(shape: [1, 1, gen.config.noiseResolution(i), gen.config.noiseResolution(i)], repeating: i == 2 ? .nan : 0))
        }
        try NumPyFile.writeNpz(maps.enumerated().map { ("noise_\($0.offset)", $0.element) }, to: dir.appendingPathComponent("noise.npz"))
        try refused(["generate", "--checkpoint", g, "--noise", "noise.npz", "--out", "g.png"], ["--noise", "noise.npz", "NaN or infinite"])
    }
}
