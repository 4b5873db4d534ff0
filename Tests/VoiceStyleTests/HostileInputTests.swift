// The real executable under hostile and careless input: every case exits with a plain one-sentence error
// (exit 1; usage errors 64), never a signal or a hang, and names the input and what is allowed.
import Foundation
import Testing
import VoiceStyle
import VoiceStyleTestSupport

/// Runs `voicestyle ARGS` in `cwd` with a time limit; returns exit status, whether a signal ended it, stderr, stdout and
/// the peak resident memory of the process (its VmHWM, last read while it ran: a lower bound). `environment` adds to
/// (or, with "", removes from) the test's environment.
func runTool(_ args: [String], in cwd: URL, timeout: TimeInterval = 120, environment: [String: String] = [:],
             executable: URL? = DemoTests.executable) throws -> (status: Int32, signaled: Bool, stderr: String, stdout: String, peakKiB: Int) {
    guard let exe = executable else { throw JobError("voicestyle executable not found") }
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    p.currentDirectoryURL = cwd
    var env = ProcessInfo.processInfo.environment
    env["VOICESTYLE_SHARED"] = "/nonexistent"
    for (k, v) in environment { env[k] = v.isEmpty ? nil : v }
    p.environment = env
    let err = Pipe(), out = Pipe()
    p.standardError = err
    p.standardOutput = out
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    // Read both pipes on other threads so a chatty process never blocks.
    nonisolated(unsafe) var errData = Data(), outData = Data()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
    DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
    var peak = 0
    while p.isRunning && Date() < deadline {
        if let status = try? String(contentsOfFile: "/proc/\(p.processIdentifier)/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) {
            peak = max(peak, Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0)
        }
        Thread.sleep(forTimeInterval: 0.02)
    }
    if p.isRunning { p.terminate(); p.waitUntilExit(); throw JobError("voicestyle \(args.joined(separator: " ")) hung for \(Int(timeout)) s") }
    p.waitUntilExit()
    group.wait()
    return (p.terminationStatus, p.terminationReason == .uncaughtSignal, String(decoding: errData, as: UTF8.self), String(decoding: outData, as: UTF8.self), peak)
}

/// Runs `voicestyle ARGS` in `cwd`; expects exit 1 (or `status`), no signal, one error line ending stderr (a usage
/// error aside), and every key word in stderr (any case).
func expectRefused(_ args: [String], in cwd: URL, status: Int32 = 1, _ words: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let r = try runTool(args, in: cwd)
    #expect(!r.signaled, "\(args): killed by a signal\n\(r.stderr)", sourceLocation: sourceLocation)
    #expect(r.status == status, "\(args): exit \(r.status)\n\(r.stderr)", sourceLocation: sourceLocation)
    for w in words { #expect(r.stderr.lowercased().contains(w.lowercased()), "\(args): '\(w)' not in: \(r.stderr)", sourceLocation: sourceLocation) }
    if status == 1 {
        #expect(!r.stderr.contains("Usage:"), "\(args): usage printed for a runtime error", sourceLocation: sourceLocation)
        #expect(r.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }.count == 1 && r.stderr.split(separator: "\n").last?.hasPrefix("error:") == true,
                "\(args): not one error line at the end of stderr: \(r.stderr)", sourceLocation: sourceLocation)
    }
}

/// A 16-bit PCM or 32-bit float WAV with the given header values.
func wav(rate: Int, samples: [Float], float: Bool = false) -> Data {
    var d = Data()
    func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
    func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { d.append(contentsOf: $0) } }
    let bytesPer = float ? 4 : 2
    d.append(Data("RIFF".utf8)); u32(36 + samples.count * bytesPer); d.append(Data("WAVEfmt ".utf8))
    u32(16); u16(float ? 3 : 1); u16(1); u32(rate); u32(rate * bytesPer); u16(bytesPer); u16(bytesPer * 8)
    d.append(Data("data".utf8)); u32(samples.count * bytesPer)
    for s in samples {
        if float { withUnsafeBytes(of: s.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
        else { withUnsafeBytes(of: Int16(clamping: Int(s * 32767)).littleEndian) { d.append(contentsOf: $0) } }
    }
    return d
}

@Suite("Hostile input (the real executable)", .serialized)
struct HostileInputTests {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("vs-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    /// Expects exit 1 (or `status`), no signal, and every key word in stderr.
    func expectRefused(_ args: [String], status: Int32 = 1, _ words: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        try VoiceStyleTests.expectRefused(args, in: dir, status: status, words, sourceLocation: sourceLocation)
    }

    @Test("options out of range are refused before any work, naming the option")
    func options() throws {
        let voice = try Demo.voices[0].path
        try expectRefused(["infer", "--voice", voice, "--index", "nowhere", "--out", "o", "--steps=-5"], ["--steps"])
        try expectRefused(["infer", "--voice", voice, "--index", "nowhere", "--out", "o", "--invert-steps=-1"], ["--invert-steps"])
        try expectRefused(["infer", "--voice", voice, "--index", "nowhere", "--out", "o", "--temperature=-1"], ["--temperature"])
        try expectRefused(["infer", "--voice", voice, "--index", "nowhere", "--out", "o", "--id-weight=-1"], ["--id-weight"])
        try expectRefused(["infer", "--voice", voice, "--index", "nowhere", "--out", "o", "--anchor-weight=-0.5"], ["--anchor-weight"])
        try expectRefused(["infer", "--voice", voice, "--index", "nowhere", "--out", ""], ["--out"])
        try expectRefused(["index", "build", "x", "--faces", dir.path, "--identity-level", "0"], ["--identity-level"])
        try expectRefused(["index", "build", "x", "--faces", dir.path, "--factory", "Bogus"], ["--factory"])
        try expectRefused(["index", "build", "x", "--faces", dir.path, "--factory", "HNSW0,Flat"], ["--factory"])
        try expectRefused(["index", "build", "x", "--faces", dir.appendingPathComponent("missing").path], ["--faces", "not a folder"])
        try expectRefused(["infer", "--bogus"], status: 64, ["Usage"])
    }

    @Test("audio: 1 Hz rate, all-NaN float samples, a folder, garbage")
    func audio() throws {
        try wav(rate: 1, samples: [Float](repeating: 0.1, count: 100)).write(to: dir.appendingPathComponent("1hz.wav"))
        try wav(rate: 16000, samples: [Float](repeating: .nan, count: 16000), float: true).write(to: dir.appendingPathComponent("nan.wav"))
        try Data("not audio at all".utf8).write(to: dir.appendingPathComponent("junk.wav"))
        try expectRefused(["features", "1hz.wav", "--out", "f.npy"], ["sample rate", "1 Hz"])
        try expectRefused(["features", "nan.wav", "--out", "f.npy"], ["NaN"])
        try expectRefused(["features", "junk.wav", "--out", "f.npy"], ["junk.wav"])
        try expectRefused(["features", dir.path, "--out", "f.npy"], ["folder"])
    }

    @Test("checkpoints: a pickle nested 50,000 deep, a missing file")
    func checkpoints() throws {
        var deep = Data([0x80, 0x02]); deep.append(Data(repeating: 0x5D, count: 50_000)); deep.append(Data(repeating: 0x61, count: 49_999)); deep.append(0x2E)
        try deep.write(to: dir.appendingPathComponent("deep.pt"))
        try expectRefused(["checkpoint", "inspect", "deep.pt"], ["deep.pt"])
        let ck = dir.appendingPathComponent("ck")
        try FileManager.default.createDirectory(at: ck, withIntermediateDirectories: true)
        try deep.write(to: ck.appendingPathComponent("550000.pt"))
        let doctor = try runTool(["doctor", "--checkpoints", ck.path], in: dir)
        #expect(!doctor.signaled && doctor.status == 1 && doctor.stdout.contains("✗ 550000.pt"), "\(doctor)")
        try expectRefused(["generate", "--checkpoint", "missing.pt", "--out", "g.png"], ["missing.pt"])
    }

    @Test("generate: latents of shape (0, 64) and NaN latents")
    func latents() throws {
        let g = Fixtures.local("VoiceStyleCheckpointsTests", "g_small_state_dict.safetensors").path
        try NumPyFile.writeNpy(StoredTensor(Tensor<Float>(zeros: [0, 64])), to: dir.appendingPathComponent("empty.npy"))
        try NumPyFile.writeNpy(StoredTensor(Tensor<Float>(shape: [1, 64], repeating: .nan)), to: dir.appendingPathComponent("nan.npy"))
        try expectRefused(["generate", "--checkpoint", g, "--w", "empty.npy", "--out", "g.png"], ["empty.npy", "shape"])
        try expectRefused(["generate", "--checkpoint", g, "--w", "nan.npy", "--out", "g.png"], ["NaN"])
    }
}
