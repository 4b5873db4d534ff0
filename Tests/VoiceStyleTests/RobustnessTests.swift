// Input that users produce without meaning harm: CSV manifests with quotes, commas, BOM and CRLF; symlinked
// face folders; damaged audio and images (a seeded fuzz run); NaN weights; Ctrl-C in the middle of a job.
import Foundation
import Testing
import VoiceStyle
import VoiceStyleTestSupport

@Suite("Robustness", .serialized)
struct RobustnessTests {
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("vs-robust-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    /// A loader with the demo's untrained models.
    func demoLoader() throws -> ModelLoader {
        let l = ModelLoader()
        try Demo.register(in: l)
        return l
    }

    @Test("a CSV manifest with a BOM, CRLF line ends, quoted paths holding commas and quotes, and blank lines")
    func csvManifest() throws {
        let faces = try Demo.data.appendingPathComponent("faces")
        let odd = dir.appendingPathComponent("odd, \"quoted\" name.jpg")
        try FileManager.default.copyItem(at: faces.appendingPathComponent("Julia_Stiles/00000001.jpg"), to: odd)
        let text = "\u{FEFF}path,identity,note\r\n\"\(odd.path.replacingOccurrences(of: "\"", with: "\"\""))\",Julia Stiles,\"a, b\"\r\n\r\n"
            + "\(faces.appendingPathComponent("Jeremy_Irvine/00000004.jpg").path),Jeremy Irvine,plain\r\n"
        let csv = dir.appendingPathComponent("faces.csv")
        try Data(text.utf8).write(to: csv)
        var build = BuildIndexRequest(index: dir.appendingPathComponent("index").path, csv: csv.path)
        build.cmpc = Demo.models.cmpc
        let report = try Jobs.buildIndex(build, models: try demoLoader())
        #expect(report.summary.embedded == 2 && report.summary.skipped == 0)
        let records = try PrototypeStore(url: PrototypeIndex.storeURL(URL(fileURLWithPath: build.index))).all()
        #expect(Set(records.map(\.path)) == [odd.path, faces.appendingPathComponent("Jeremy_Irvine/00000004.jpg").path])
        #expect(records.first { $0.path == odd.path }?.metadata == #"{"note":"a, b"}"#)
    }

    @Test("symlinked identity folders and images are indexed; a link cycle ends")
    func symlinks() throws {
        let faces = try Demo.data.appendingPathComponent("faces")
        let root = dir.appendingPathComponent("faces")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("Mixed"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("Julia_Stiles"), withDestinationURL: faces.appendingPathComponent("Julia_Stiles"))
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("Mixed/a.jpg"), withDestinationURL: faces.appendingPathComponent("Jeremy_Irvine/00000004.jpg"))
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("Mixed/loop"), withDestinationURL: root)
        var build = BuildIndexRequest(index: dir.appendingPathComponent("index").path, faces: root.path)
        build.cmpc = Demo.models.cmpc
        let report = try Jobs.buildIndex(build, models: try demoLoader())
        #expect(report.summary.embedded == 5, "\(report.summary)")
    }

    @Test("fuzz: byte flips and truncations of real JPEGs and WAVs, WAV headers (sizes, rates, channels), query vectors and output targets: errors or results, never a crash")
    func fuzz() throws {
        try fuzzAudioHeaders()
        try fuzzQueryVectors()
        try fuzzOutputTargets()
        var rng = SeededGenerator(seed: 11)
        let jpeg = try Data(contentsOf: try Demo.data.appendingPathComponent("faces/Julia_Stiles/00000001.jpg"))
        let wavData = try Data(contentsOf: try Demo.voices[0])
        var decoded = 0, refused = 0
        for trial in 0..<150 {
            let source = trial % 2 == 0 ? jpeg : wavData
            var bytes = [UInt8](source)
            if trial % 3 == 0 {
                bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            } else {
                for _ in 0..<(1 + Int(rng.next() % 16)) {
                    let i = Int(rng.next() % UInt64(bytes.count))
                    bytes[i] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            let url = dir.appendingPathComponent(trial % 2 == 0 ? "f.jpg" : "f.wav")
            try Data(bytes).write(to: url)
            do {
                if trial % 2 == 0 { _ = try ImageFile.read(url) } else { _ = try Jobs.features(FeaturesRequest(voice: url.path)) }
                decoded += 1
            } catch {
                refused += 1
                #expect(!"\(error)".isEmpty)
            }
        }
        #expect(decoded + refused == 150 && refused > 0)
        // A JPEG cut to a third of its bytes is refused as truncated (Pillow: "image file is truncated").
        let cut = dir.appendingPathComponent("cut.jpg")
        try jpeg.prefix(jpeg.count / 3).write(to: cut)
        do { _ = try ImageFile.read(cut); Issue.record("a truncated JPEG was decoded") } catch { #expect("\(error)".contains("truncated")) }
    }

    /// WAV headers with seeded rates, channel counts, sample formats and chunk sizes that lie: each is decoded or
    /// refused, and what is decoded stays within the limits (a header never makes the reader allocate what it says).
    func fuzzAudioHeaders() throws {
        var rng = SeededGenerator(seed: 25)
        func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
        var decoded = 0, refused = 0
        for trial in 0..<120 {
            let channels = pick([0, 1, 2, 3, 64, 65, 255, 65535, Int(rng.next() % 70_000)])
            let rate = pick([0, 1, 3999, 4000, 8000, 16000, 44100, 192_000, 384_000, 384_001, Int(UInt32.max), Int(rng.next() % UInt64(UInt32.max))])
            let bits = pick([0, 7, 8, 16, 24, 32, 64, Int(rng.next() % 65536)])
            let format = pick([1, 3, 2, 0xFFFE, 0, Int(rng.next() % 65536)])
            let payload = Int(rng.next() % 40_000)
            let declared = pick([payload, 0, payload + 1, Int(UInt32.max), Int(rng.next() % UInt64(UInt32.max))])
            var d = Data("RIFF".utf8)
            func u32(_ v: Int) { withUnsafeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian) { d.append(contentsOf: $0) } }
            func u16(_ v: Int) { withUnsafeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian) { d.append(contentsOf: $0) } }
            let block = max(1, channels * bits / 8)
            u32(pick([36 + payload, Int(UInt32.max), 0])); d.append(Data("WAVEfmt ".utf8)); u32(16)
            u16(format); u16(channels); u32(rate); u32(rate &* block); u16(block); u16(bits)
            d.append(Data("data".utf8)); u32(declared)
            d.append(Data((0..<payload).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
            let url = dir.appendingPathComponent("h\(trial % 4).wav")
            try d.write(to: url)
            do {
                let w = try Waveform.read(url)
                #expect(w.samples.count <= Int(Waveform.maxSeconds) * Waveform.rate + 64 && (1...64).contains(w.sourceChannels))
                decoded += 1
            } catch {
                #expect(!"\(error)".isEmpty && !"\(error)".contains("\n"))
                refused += 1
            }
        }
        #expect(decoded + refused == 120 && refused > 0)
    }

    /// Query vectors of seeded lengths and values against the demo index: searched exactly when they have the
    /// index's dimension, finite values and a direction; refused otherwise, in both search modes.
    func fuzzQueryVectors() throws {
        let index = try PrototypeIndex(directory: URL(fileURLWithPath: try DemoIndex.path))
        let d = try #require(index.dimension)
        var rng = SeededGenerator(seed: 26)
        func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
        for trial in 0..<200 {
            let n = pick([0, 1, d - 1, d, d, d, d + 1, 2 * d, Int(rng.next() % UInt64(3 * d))])
            let special = pick([Float.nan, .infinity, -.infinity, 0, 1e30, -3e25, .leastNonzeroMagnitude, 1])
            var q = (0..<n).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
            switch trial % 4 {
            case 0 where n > 0: q[Int(rng.next() % UInt64(n))] = special
            case 1: q = q.map { _ in special }
            default: break
            }
            let valid = n == d && q.allSatisfy(\.isFinite) && q.contains { $0 != 0 } && q.reduce(0) { $0 + $1 * $1 }.isFinite
            let hits = try? index.searchInstances(q, k: 3)
            #expect((hits != nil) == valid, "length \(n), \(q.prefix(4))")
            if let hits { #expect(hits.count == 3 && hits.allSatisfy { $0.cosine.isFinite }) }
            #expect(throws: (any Error).self) { try index.searchClusters(q, k: 3) }  // no clusters: an error, never a trap
        }
    }

    /// Output files written over every kind of target a user can name: new and regular files (replaced, links
    /// kept), /dev/null (in place); folders, FIFOs, sockets, device nodes outside /dev, broken links, missing
    /// folders: refused, each left as it was.
    func fuzzOutputTargets() throws {
        let base = dir.appendingPathComponent("targets")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        var rng = SeededGenerator(seed: 27)
        for trial in 0..<60 {
            let t = base.appendingPathComponent("t\(trial)")
            let data = Data((0..<Int(rng.next() % 5000)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            var allowed = true, target = t.path
            switch trial % 12 {
            case 0: break                                                                  // new file
            case 1: try Data("old".utf8).write(to: t)                                      // regular file
            case 2: try FileManager.default.createDirectory(at: t, withIntermediateDirectories: true); allowed = false
            case 3: #expect(mkfifo(t.path, 0o600) == 0); allowed = false
            case 4:
                try Data("old".utf8).write(to: t.appendingPathExtension("real"))
                try FileManager.default.createSymbolicLink(atPath: t.path, withDestinationPath: t.appendingPathExtension("real").path)
            case 5: try FileManager.default.createSymbolicLink(atPath: t.path, withDestinationPath: base.appendingPathComponent("nowhere").path); allowed = false
            case 6: target = t.appendingPathComponent("missing/x.npy").path; allowed = false
            case 7: target = "/dev/null"
            case 8:
                let sock = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                var addr = sockaddr_un()
                addr.sun_family = sa_family_t(AF_UNIX)
                withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in t.path.utf8.prefix(100).enumerated() { p[i] = b } }
                let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
                close(sock)
                guard bound == 0 else { continue }
                allowed = false
            case 9:
                guard mknod(t.path, S_IFCHR | 0o600, dev_t(1 << 8 | 3)) == 0 else { continue }   // root only
                allowed = false
            case 10: #expect(mkfifo(t.path, 0o600) == 0); try FileManager.default.createSymbolicLink(atPath: t.path + ".link", withDestinationPath: t.path)
                target = t.path + ".link"; allowed = false
            default: try FileManager.default.createDirectory(at: t, withIntermediateDirectories: true)
                try FileManager.default.createSymbolicLink(atPath: t.path + ".link", withDestinationPath: t.path)
                target = t.path + ".link"; allowed = false
            }
            let before = kind(target), linkBefore = kind(t.path)
            do {
                try OutputFile.write(data, to: URL(fileURLWithPath: target))
                #expect(allowed, "trial \(trial): \(target) was written")
                if target != "/dev/null" { #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == data) }
                #expect(kind(t.path) == (trial % 12 == 4 ? S_IFLNK : trial % 12 == 7 ? linkBefore : S_IFREG) || target == "/dev/null", "trial \(trial)")
            } catch {
                #expect(!allowed, "trial \(trial): \(error)")
                #expect("\(error)".hasPrefix("cannot write \(target): "), "\(error)")
                #expect(kind(target) == before && kind(t.path) == linkBefore, "trial \(trial): the target changed")
            }
        }
        #expect(kind("/dev/null") == S_IFCHR)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: base.path).filter { $0.contains(".part-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("a state dict holding NaN is refused, naming the tensor")
    func nanWeights() throws {
        let url = Fixtures.local("VoiceStyleCheckpointsTests", "g_small_state_dict.safetensors")
        var sd = try StateDict(Checkpoint.open(url))
        sd.entries["style.1.weight"] = StoredTensor(Tensor<Float>(shape: sd.entries["style.1.weight"]?.shape ?? [64, 64], repeating: .nan))
        do { _ = try StyleGAN2Generator(stateDict: sd); Issue.record("NaN weights were accepted") } catch {
            #expect("\(error)".contains("NaN or infinite values in (1): style.1.weight"))
        }
    }

    @Test("Ctrl-C during the demo leaves no partial output files, and the index resumes")
    func interrupt() throws {
        guard let exe = DemoTests.executable else { Issue.record("voicestyle executable not found"); return }
        let p = Process()
        p.executableURL = exe
        p.arguments = ["demo", "--out", dir.appendingPathComponent("out").path, "--steps", "200", "--quiet"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait for the index to exist, then interrupt during the inversion or refinement.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("out/index/manifest.json").path) {
            Thread.sleep(forTimeInterval: 0.1)
        }
        Thread.sleep(forTimeInterval: 0.5)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal || p.terminationStatus != 0)
        let left = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("out").path)) ?? []
        #expect(left.filter { !$0.hasPrefix("index") } == [], "\(left)")
        // The interrupted index opens and searches correctly.
        let r = try runTool(["demo", "--out", dir.appendingPathComponent("out").path, "--steps", "3", "--invert-steps", "3", "--quiet"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test("a CMYK JPEG (Adobe, inverted, as Pillow writes it) decodes to the colours Pillow gives")
    func cmykJPEG() throws {
        let img = try ImageFile.read(Fixtures.local("VoiceStyleTests", "cmyk.jpg"))
        #expect(img.width == 16 && img.height == 16)
        func pixel(_ x: Int, _ y: Int) -> [Int] { (0..<3).map { Int(img.pixels[(y * 16 + x) * 3 + $0]) } }
        // Pillow: Image.open("cmyk.jpg").convert("RGB") gives (255, 0, 128) at (2, 2) and (0, 255, 128) at (13, 13).
        for (p, want) in [(pixel(2, 2), [255, 0, 128]), (pixel(13, 13), [0, 255, 128])] {
            #expect(zip(p, want).allSatisfy { abs($0 - $1) <= 8 }, "\(p) vs \(want)")
        }
    }
}
