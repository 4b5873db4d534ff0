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

    @Test("row 4 and 11: a damaged MP3 is one sentence, without libmpg123's notes")
    func badMP3() throws {
        var mp3 = Data("ID3\u{3}\0\0\0\0\0\0".utf8)
        mp3.append(Data((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
        try mp3.write(to: dir.appendingPathComponent("bad.mp3"))
        try refused(["features", "bad.mp3", "--out", "f.npy"], ["cannot read the audio file", "bad.mp3", "damaged"])
        let r = try runTool(["features", "bad.mp3", "--out", "f.npy"], in: dir)
        #expect(r.stderr.split(separator: "\n").count == 1 && !r.stderr.contains("pipe") && !r.stderr.contains("libmpg123"), "\(r.stderr)")
    }

}
