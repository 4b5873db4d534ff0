// `voicestyle bench …`: speed measurements (never timed tests).
import ArgumentParser
import Foundation
import VoiceStyle

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voicestyle-bench",
        abstract: "Measure speed: engine, checkpoint, generator, invert, voice, index, infer, align, identity.",
        subcommands: [BenchEngineCommand.self, BenchCheckpointCommand.self, BenchGeneratorCommand.self, BenchInvertCommand.self,
                      BenchVoiceCommand.self, BenchIndexCommand.self, BenchInferCommand.self, BenchAlignCommand.self, BenchIdentityCommand.self])
}

/// Options shared by every benchmark.
struct BenchOptions: ParsableArguments {
    @Flag(help: "Print the figures as JSON instead of a table.")
    var json = false

    @Option(help: "Minimum seconds spent timing each case (best repetition is reported).")
    var seconds: Double = 0.5

    @Option(help: "Stride-1 3×3 convolutions: automatic (Winograd where faster), direct or winograd.")
    var conv: ConvolutionAlgorithm = .automatic

    mutating func validate() throws { Convolution.algorithm = conv }
}

extension ConvolutionAlgorithm: ExpressibleByArgument {}

/// Best wall time of `body` over repetitions filling `seconds` (at least 3 runs after one warm-up).
func bestTime(seconds: Double, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity, spent = 0.0, runs = 0
    while runs < 3 || spent < seconds {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        best = min(best, dt); spent += dt; runs += 1
        if runs >= 50 { break }
    }
    return best
}

/// Prints (case, seconds, PyTorch seconds) rows with their ratios: a table under `title`, or JSON with `extra`.
func reportRatios(_ rows: [(String, Double, Double?)], title: String, label: String, width: Int, json: Bool, extra: [String: Any],
                  reference: String = "PyTorch") {
    if json {
        printJSON(extra.merging(["rows": rows.map { r -> [String: Any] in
            var d: [String: Any] = ["case": r.0, "seconds": r.1]
            if let p = r.2 { d["\(reference.lowercased())_seconds"] = p; d["ratio"] = r.1 / p }
            return d
        }]) { a, _ in a })
        return
    }
    print(title)
    print(tableRow([label, "seconds", "\(reference) s", "ratio"], widths: [-width, 8, 10, 6]))
    for r in rows {
        print(tableRow([r.0, String(format: "%.3f", r.1), r.2.map { String(format: "%.3f", $0) } ?? "-",
                        r.2.map { String(format: "%.2f", r.1 / $0) } ?? "-"], widths: [-width, 8, 10, 6]))
    }
}

/// Writes a value as pretty JSON on stdout.
func printJSON(_ value: Any) {
    let data = try! JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

struct BenchEngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Time the StyleGAN2-256 convolution shapes (forward and input gradient) against the sgemm peak.",
        discussion: """
            Each row is one convolution of the 256-px generator at batch 1: the 3×3 convolutions at 4–256 px and the \
            stride-2 transposed up-convolutions, each as a forward pass and as the input-gradient pass of autodiff. \
            GFLOP/s counts 2·Cin·Cout·9·(pixels) multiply-adds; the peak is the best 2048³ sgemm rate measured first.
            """)

    @OptionGroup var options: BenchOptions

    func run() throws {
        var rng = SeededGenerator(seed: 1)
        // Machine reference: sgemm rate on a large square product.
        let n = 2048
        let a = Tensor<Float>.randomNormal([n, n], using: &rng), b = Tensor<Float>.randomNormal([n, n], using: &rng)
        let c = Tensor<Float>(zeros: [n, n])
        let tg = bestTime(seconds: options.seconds) {
            Float.gemm(transA: false, transB: false, m: n, n: n, k: n, alpha: 1, a: a.storage.pointer, lda: n,
                       b: b.storage.pointer, ldb: n, beta: 0, c: c.storage.pointer, ldc: n)
        }
        let peak = 2 * Double(n * n * n) / tg / 1e9

        struct Case { let name: String; let cin: Int; let cout: Int; let res: Int; let up: Bool }
        var cases: [Case] = []
        for r in [4, 8, 16, 32, 64] { cases.append(Case(name: "conv 512→512 @\(r)", cin: 512, cout: 512, res: r, up: false)) }
        cases.append(Case(name: "conv 256→256 @128", cin: 256, cout: 256, res: 128, up: false))
        cases.append(Case(name: "conv 128→128 @256", cin: 128, cout: 128, res: 256, up: false))
        for r in [4, 8, 16, 32] { cases.append(Case(name: "up 512→512 @\(r)→\(2 * r)", cin: 512, cout: 512, res: r, up: true)) }
        cases.append(Case(name: "up 512→256 @64→128", cin: 512, cout: 256, res: 64, up: true))
        cases.append(Case(name: "up 256→128 @128→256", cin: 256, cout: 128, res: 128, up: true))

        var rows: [[String: Any]] = []
        if !options.json {
            print("sgemm 2048³ peak: \(String(format: "%.1f", peak)) GFLOP/s (\(Parallel.workers) cores, BLAS threads \(BLASThreads.current))")
            print(tableRow(["layer", "pass", "ms", "GFLOP/s", "% peak"], widths: [-22, -10, 9, 9, 7]))
        }
        withoutGradients {
            for cs in cases {
                let flops = 2.0 * Double(cs.cin * cs.cout * 9 * cs.res * cs.res)
                let x = Tensor<Float>.randomNormal([1, cs.cin, cs.res, cs.res], using: &rng)
                var passes: [(String, () -> Void)] = []
                if cs.up {
                    // Generator up-conv: conv_transpose2d(stride 2, padding 0), weight [Cin, Cout, 3, 3] → 2R+1.
                    let w = Tensor<Float>.randomNormal([cs.cin, cs.cout, 3, 3], using: &rng)
                    let gy = Tensor<Float>.randomNormal([1, cs.cout, 2 * cs.res + 1, 2 * cs.res + 1], using: &rng)
                    passes.append(("forward", { _ = x.convTranspose2d(weight: w, stride: 2) }))
                    // Its input gradient is the stride-2 convolution of the output gradient.
                    passes.append(("input-grad", { _ = gy.conv2d(weight: w, stride: 2) }))
                } else {
                    let w = Tensor<Float>.randomNormal([cs.cout, cs.cin, 3, 3], using: &rng)
                    let gy = Tensor<Float>.randomNormal([1, cs.cout, cs.res, cs.res], using: &rng)
                    passes.append(("forward", { _ = x.conv2d(weight: w, padding: 1) }))
                    // Its input gradient is the transposed convolution of the output gradient.
                    passes.append(("input-grad", { _ = gy.convTranspose2d(weight: w, padding: 1) }))
                }
                for (pass, body) in passes {
                    let t = bestTime(seconds: options.seconds, body)
                    let rate = flops / t / 1e9
                    rows.append(["layer": cs.name, "pass": pass, "ms": t * 1e3, "gflops": rate, "peak_share": rate / peak])
                    if !options.json {
                        print(tableRow([cs.name, pass, String(format: "%.2f", t * 1e3), String(format: "%.1f", rate),
                                        String(format: "%.0f%%", 100 * rate / peak)], widths: [-22, -10, 9, 9, 7]))
                    }
                }
            }
        }
        if options.json {
            printJSON(["sgemm_peak_gflops": peak, "cores": Parallel.workers, "rows": rows])
        }
    }
}

/// Resident-set figures of this process from /proc/self/status, in KiB: (current VmRSS, peak VmHWM).
func residentKiB() -> (current: Int, peak: Int) {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
    func field(_ name: String) -> Int {
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
    return (field("VmRSS"), field("VmHWM"))
}

struct BenchCheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Time loading a synthetic float32 checkpoint (default 120 MB) and measure the extra memory it takes.",
        discussion: """
            Writes a synthetic state dict (tensors of 1M float32 values) as safetensors and as a PyTorch zip file in a \
            temporary folder, then loads each in a fresh child process: open, parse, fetch every tensor as float32 \
            and sum every value once. Reported: wall time and the peak resident memory above the process's \
            baseline, as a multiple of the file size (the page cache is warm: the files were just written).
            """)

    @OptionGroup var options: BenchOptions

    @Option(help: "Size of the synthetic checkpoint in MB.")
    var megabytes: Int = 120

    @Option(help: ArgumentHelp("Load this file and report (used by the benchmark's child processes).", visibility: .hidden))
    var loadOnly: String?

    func run() throws {
        if let loadOnly { return try loadAndReport(loadOnly) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("voicestyle-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SeededGenerator(seed: 9)
        let perTensor = 1 << 20
        let n = max(1, megabytes * 1_000_000 / (4 * perTensor))
        var tensors: [(name: String, tensor: StoredTensor)] = []
        for i in 0..<n {
            tensors.append(("layer\(i).weight", StoredTensor(Tensor<Float>.randomUniform([1024, 1024], using: &rng))))
        }
        let files = [("safetensors", dir.appendingPathComponent("synthetic.safetensors")), ("PyTorch zip", dir.appendingPathComponent("synthetic.pt"))]
        try SafeTensorsFile(tensors: tensors).write(to: files[0].1)
        try PyTorchFile.writeZip(stateDict: tensors, to: files[1].1)
        tensors.removeAll()
        var rows: [[String: Any]] = []
        for (format, url) in files {
            let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
            var best: [String: Any] = [:]
            for _ in 0..<3 {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
                p.arguments = ["bench", "checkpoint", "--load-only", url.path]
                let pipe = Pipe()
                p.standardOutput = pipe
                try p.run()
                let out = pipe.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                guard p.terminationStatus == 0, let r = try JSONSerialization.jsonObject(with: out) as? [String: Any] else {
                    throw ValidationError("the loading child process failed")
                }
                if best.isEmpty || (r["seconds"] as! Double) < (best["seconds"] as! Double) { best = r }
            }
            let extra = Double(best["extra_kib"] as! Int) * 1024
            rows.append(["format": format, "file_mb": Double(size) / 1e6, "tensors": n, "seconds": best["seconds"]!,
                         "extra_memory_mb": extra / 1e6, "extra_memory_ratio": extra / Double(size)])
        }
        if options.json { printJSON(["rows": rows]); return }
        print(tableRow(["format", "file MB", "tensors", "load s", "extra MB", "× size"], widths: [-12, 8, 8, 8, 9, 7]))
        for r in rows {
            print(tableRow([r["format"] as! String, String(format: "%.1f", r["file_mb"] as! Double), String(r["tensors"] as! Int),
                            String(format: "%.3f", r["seconds"] as! Double), String(format: "%.1f", r["extra_memory_mb"] as! Double),
                            String(format: "%.2f", r["extra_memory_ratio"] as! Double)], widths: [-12, 8, 8, 8, 9, 7]))
        }
    }

    /// Child process: load, read every value, print {seconds, extra_kib}.
    private func loadAndReport(_ path: String) throws {
        let before = residentKiB().current
        let t0 = DispatchTime.now().uptimeNanoseconds
        let ckpt = try Checkpoint.open(URL(fileURLWithPath: path))
        var checksum: Float = 0
        var weights: [Tensor<Float>] = []
        for (name, _) in try ckpt.tensors() {
            let t = try ckpt.floatTensor(at: name)
            let b = t.buffer
            for v in b { checksum += v }  // read every value
            weights.append(t)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        let peak = residentKiB().peak
        printJSON(["seconds": seconds, "extra_kib": peak - before, "tensors": weights.count, "checksum": Double(checksum)])
    }
}

/// PyTorch CPU anchors (../shared/anchors/pytorch_cpu.json): median seconds by case name and thread count.
struct Anchors {
    var rows: [String: Double] = [:]
    var source = "built-in copy of ../shared/anchors/pytorch_cpu.json"

    init(path: String) {
        // Built-in copy of the figures (PyTorch 2.11, this machine kind, 2 threads, median of 5).
        rows = ["G256 forward (no_grad), W input|2": 0.8904672099999971,
                "G256 forward+backward d/dW and d/dnoises|2": 3.8486927970000124,
                "G256 forward+backward d/dW (params frozen)|2": 3.753485469999987]
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let list = json["rows"] as? [[String: Any]] else { return }
        for r in list {
            if let c = r["case"] as? String, let t = r["threads"] as? Int, let m = r["median_s"] as? Double { rows["\(c)|\(t)"] = m }
        }
        source = path
    }

    func seconds(_ name: String, threads: Int = 2) -> Double? { rows["\(name)|\(threads)"] }
}

struct BenchGeneratorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generator",
        abstract: "Time the 256-px StyleGAN2 generator (random weights, batch 1 or --batch B, W input): forward, and forward + backward to W and the noise maps.",
        discussion: """
            Ratios are against PyTorch 2.11 on the CPU of this machine kind (../shared/anchors/pytorch_cpu.json, 2 threads). \
            GFLOP/s counts 90.84 GFLOP per forward pass and twice that for the input-gradient pass \
            (../shared/anchors/flops_g256.json).
            """)

    @OptionGroup var options: BenchOptions

    @Option(help: "Path of the PyTorch anchors file.")
    var anchors: String = "../shared/anchors/pytorch_cpu.json"

    @Option(help: "Output resolution of the random generator.")
    var size: Int = 256

    @Option(help: "Images per pass (seconds are reported per pass; divide by the batch for per image).")
    var batch: Int = 1

    func run() throws {
        var config = GeneratorConfig()
        config.size = size
        let g = try StyleGAN2Generator.random(config, seed: 1)
        var rng = SeededGenerator(seed: 2)
        let w = withoutGradients { g.map(Tensor.randomNormal([batch, config.styleDim], using: &rng)) }
        let noise = try g.noise(.random(seed: 3), batch: batch)
        let latent = try g.latents([w], inputIsLatent: true)
        let forward = bestTime(seconds: options.seconds) {
            _ = withoutGradients { g.synthesize(latent, noise: noise) }
        }
        let backward = bestTime(seconds: options.seconds) {
            let wv = w.detached()
            wv.requiresGrad = true
            let maps = noise.map { m -> Tensor<Float> in let c = m.detached(); c.requiresGrad = true; return c }
            let lat = try! g.latents([wv], inputIsLatent: true)
            let image = g.synthesize(lat, noise: maps)
            image.sum().backward()
        }
        let peakMB = Double(residentKiB().peak) / 1024
        // Working set of one forward+backward pass (large blocks live at once, beyond the weights).
        BlockPool.shared.resetPeak()
        let base = BlockPool.shared.statistics.liveBytes
        do {
            let wv = w.detached()
            wv.requiresGrad = true
            let maps = noise.map { m -> Tensor<Float> in let c = m.detached(); c.requiresGrad = true; return c }
            g.synthesize(try g.latents([wv], inputIsLatent: true), noise: maps).sum().backward()
        }
        let workingSetMB = Double(BlockPool.shared.statistics.peakLiveBytes - base) / 1e6
        let anchor = Anchors(path: anchors)
        let flops = 90.839121152 * Double(size * size) / 65536 * Double(batch)
        var rows: [[String: Any]] = []
        for (name, t, anchorCase, fl, target) in [("forward", forward, "G256 forward (no_grad), W input", flops, 0.6),
                                                  ("forward+backward (W, noises)", backward, "G256 forward+backward d/dW and d/dnoises", 2 * flops, 0.4)] {
            var row: [String: Any] = ["pass": name, "seconds": t, "gflops": fl / t, "target_ratio": target]
            if size == 256, batch == 1, let a = anchor.seconds(anchorCase) { row["pytorch_seconds"] = a; row["ratio"] = t / a }
            rows.append(row)
        }
        if options.json {
            printJSON(["size": size, "batch": batch, "threads": Parallel.workers, "peak_rss_mb": peakMB, "working_set_mb": workingSetMB, "anchors": anchor.source, "rows": rows])
            return
        }
        print("StyleGAN2 \(size) px, batch \(batch) (seconds per pass), W input, \(Parallel.workers) threads; anchors: \(anchor.source)")
        print(tableRow(["pass", "seconds", "GFLOP/s", "PyTorch s", "ratio", "target"], widths: [-30, 8, 8, 10, 6, 7]))
        for r in rows {
            print(tableRow([r["pass"] as! String, String(format: "%.3f", r["seconds"] as! Double), String(format: "%.1f", r["gflops"] as! Double),
                            (r["pytorch_seconds"] as? Double).map { String(format: "%.3f", $0) } ?? "-",
                            (r["ratio"] as? Double).map { String(format: "%.2f", $0) } ?? "-",
                            String(format: "≤ %.1f", r["target_ratio"] as! Double)], widths: [-30, 8, 8, 10, 6, 7]))
        }
        print(String(format: "peak RSS: %.0f MB; working set of one forward+backward: %.0f MB", peakMB, workingSetMB))
    }
}

struct BenchInvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invert",
        abstract: "Time one projector iteration at 256 px (generator + LPIPS-VGG16 + IR-SE50 identity, forward and backward), per component.",
        discussion: "Full-size random weights, batch 1. Ratios against ../shared/anchors/pytorch_cpu.json (2 threads).")

    @OptionGroup var options: BenchOptions

    @Option(help: "Path of the PyTorch anchors file.")
    var anchors: String = "../shared/anchors/pytorch_cpu.json"

    func run() throws {
        let g = try StyleGAN2Generator.random(GeneratorConfig(), seed: 1)
        let lpips = try LPIPS.random(seed: 2)
        let irse = try IRSE50.random(seed: 4)
        let identity = IdentityLoss(network: irse)
        var rng = SeededGenerator(seed: 5)
        let target = Tensor<Float>.randomUniform([1, 3, 256, 256], low: -1, high: 1, using: &rng)
        let targetFeatures = withoutGradients { lpips.normalizedFeatures(target) }
        let targetID = withoutGradients { identity.features(target) }
        let w = withoutGradients { g.map(Tensor.randomNormal([1, 512], using: &rng)) }
        let noise = try g.noise(.random(seed: 6), batch: 1)
        func leaf(_ t: Tensor<Float>) -> Tensor<Float> { let c = t.detached(); c.requiresGrad = true; return c }
        let image = withoutGradients { g.synthesize(try! g.latents([w], inputIsLatent: true), noise: noise) }
        let tLPIPS = bestTime(seconds: options.seconds) {
            let x = leaf(image)
            lpips.distance(x, target: targetFeatures).sum().backward()
        }
        let tID = bestTime(seconds: options.seconds) {
            let x = leaf(image)
            identity(x, targetFeatures: targetID).backward()
        }
        func iteration(withIdentity: Bool) {
            let wv = leaf(w), maps = noise.map(leaf)
            let img = g.synthesize(try! g.latents([wv], inputIsLatent: true), noise: maps)
            var loss = lpips.distance(img, target: targetFeatures).sum() + ProjectorFunctions.noiseRegularize(maps) * 1e5
            if withIdentity { loss = loss + identity(img, targetFeatures: targetID) }
            loss.backward()
        }
        let tIterNoID = bestTime(seconds: options.seconds) { iteration(withIdentity: false) }
        let tIter = bestTime(seconds: options.seconds) { iteration(withIdentity: true) }
        let a = Anchors(path: anchors)
        let rows: [(String, Double, Double?)] = [
            ("LPIPS-VGG16 forward+backward", tLPIPS, a.seconds("LPIPS-VGG forward+backward d/dimage 1x3x256x256")),
            ("IR-SE50 identity forward+backward", tID, a.seconds("IR-SE50 forward+backward d/dinput 1x3x112x112")),
            ("iteration without identity", tIterNoID, a.seconds("projector iteration 256 (G+LPIPS+noise reg, fwd+bwd)")),
            ("iteration with identity", tIter, a.seconds("projector iteration 256 (G+LPIPS+noise reg, fwd+bwd)").flatMap { p in
                a.seconds("IR-SE50 forward+backward d/dinput 1x3x112x112").map { p + $0 } }),
        ]
        let peakMB = Double(residentKiB().peak) / 1024
        reportRatios(rows, title: "projector iteration, 256 px, batch 1, \(Parallel.workers) threads; anchors: \(a.source)", label: "component",
                     width: 36, json: options.json, extra: ["peak_rss_mb": peakMB, "anchors": a.source])
    }
}

struct BenchVoiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voice",
        abstract: "Time the voice features of a 10 s clip and the CMPC encoders (full-size random ResNet-34s, 2 threads).")

    @OptionGroup var options: BenchOptions

    @Option(help: "Speech clip, tiled to 10 s.", completion: .file())
    var voice: String = "../shared/data/voices/voxceleb/id10724_DP5gCFoWgGI_00001.wav"

    @Option(help: "Path of the PyTorch anchors file.")
    var anchors: String = "../shared/anchors/pytorch_cpu.json"

    func run() throws {
        let clip = try Waveform.read(URL(fileURLWithPath: voice))
        var samples: [Int16] = []
        while samples.count < 160_000 { samples += clip.samples }
        let wave = Waveform(samples: Array(samples.prefix(160_000)))
        let frontEnd = VoiceFrontEnd()
        var features = try frontEnd.features(wave)
        let tFeatures = bestTime(seconds: options.seconds) { features = try! frontEnd.features(wave) }
        let model = try CMPCModel.random(seed: 7)
        var rng = SeededGenerator(seed: 8)
        let face = Tensor<Float>.randomUniform([1, 3, 256, 256], low: -1, high: 1, using: &rng)
        let voice800 = features.shape[2] >= 800 ? features.slice(axis: 2, 0, 800).reshaped([1, 1, 64, 800]) : features.reshaped([1, 1, 64, -1])
        let tVoice = bestTime(seconds: options.seconds) { _ = withoutGradients { model.voice(voice800) } }
        let tFace = bestTime(seconds: options.seconds) { _ = withoutGradients { model.face(face) } }
        let tFaceGrad = bestTime(seconds: options.seconds) {
            let a = withoutGradients { model.voice(voice800) }
            let x = face.detached()
            x.requiresGrad = true
            CMPCModel.distance(voice: a, face: model.face(x)).sum().backward()
        }
        let a = Anchors(path: anchors)
        let rows: [(String, Double, Double?)] = [
            ("features of a 10 s clip (target ≤ 0.050 s)", tFeatures, nil),
            ("CMPC voice forward 1×1×64×800", tVoice, a.seconds("CMPC voice ResNet-34 forward, 1x1x64x800 (torchvision resnet34, conv1 1->64, fc identity)")),
            ("CMPC face forward 1×3×256×256", tFace, a.seconds("CMPC face ResNet-34 forward, 1x3x256x256")),
            ("CMPC face fwd+bwd d/dimage (+ voice fwd)", tFaceGrad, a.seconds("CMPC face forward+backward d/dimage 256 (+ voice forward)")),
        ]
        reportRatios(rows, title: "voice front-end and CMPC, \(Parallel.workers) threads; anchors: \(a.source)", label: "case",
                     width: 42, json: options.json, extra: ["anchors": a.source])
    }
}

struct BenchIndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Embedding throughput, and FAISS search latency and recall@10 on synthetic clustered 512-d vectors.",
        discussion: """
            Embedding: the full-size random-weight CMPC face encoder at 256 px, one image per forward (as index \
            builds run). Search: unit vectors drawn around 10,000 identity centres; single-query latency (p50, p99) \
            and recall@10 against exact search, for Flat over 100 k and IVF over 1 M (nprobe raised until recall@10 \
            ≥ 0.95). --hnsw adds HNSW32 over 100 k (slow to build with Debian's SSE-only faiss).
            """)

    @OptionGroup var options: BenchOptions

    @Option(help: "Size of the large collection.")
    var large: Int = 1_000_000

    @Flag(help: "Also build and time HNSW32 over 100 k vectors.")
    var hnsw = false

    func run() throws {
        var rows: [[String: Any]] = []
        func report(_ name: String, _ values: [String: Any]) {
            var r = values
            r["case"] = name
            rows.append(r)
            if !options.json {
                let text = values.sorted { $0.key < $1.key }.map { k, v in
                    if let d = v as? Double { return "\(k) \(String(format: d < 10 ? "%.3f" : "%.1f", d))" }
                    return "\(k) \(v)"
                }.joined(separator: ", ")
                print("\(name): \(text)")
            }
        }
        // Embedding throughput.
        let model = try CMPCModel.random(seed: 7)
        var rng = SeededGenerator(seed: 9)
        let face = Tensor<Float>.randomUniform([1, 3, 256, 256], low: -1, high: 1, using: &rng)
        let tEmbed = bestTime(seconds: options.seconds) { _ = withoutGradients { model.face(face) } }
        report("embedding (CMPC face, 256 px, 2 threads)", ["images_per_s": 1 / tEmbed])

        // Synthetic clustered vectors.
        let d = 512, centres = 10_000
        func unit(_ v: inout [Float], _ at: Int) {
            var n: Float = 0
            for j in 0..<d { n += v[at + j] * v[at + j] }
            let s = 1 / n.squareRoot()
            for j in 0..<d { v[at + j] *= s }
        }
        var centre = [Float](repeating: 0, count: centres * d)
        for i in 0..<centre.count { centre[i] = Float(rng.nextNormal()) }
        for c in 0..<centres { unit(&centre, c * d) }
        func sample(_ n: Int) -> [Float] {
            var v = [Float](repeating: 0, count: n * d)
            for i in 0..<n {
                let c = Int(rng.next() % UInt64(centres))
                for j in 0..<d { v[i * d + j] = centre[c * d + j] + 0.6 * Float(rng.nextNormal()) / Float(d).squareRoot() }
                unit(&v, i * d)
            }
            return v
        }
        let queryCount = 200
        let queries = sample(queryCount)
        func latency(_ index: VectorIndex) throws -> (p50: Double, p99: Double, results: [[Int]]) {
            var times: [Double] = [], results: [[Int]] = []
            for q in 0..<queryCount {
                let one = Array(queries[(q * d)..<((q + 1) * d)])
                let t0 = DispatchTime.now().uptimeNanoseconds
                let r = try index.search(one, k: 10)[0]
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6)
                results.append(r.map { Int($0.id) })
            }
            times.sort()
            return (times[times.count / 2], times[min(times.count - 1, times.count * 99 / 100)], results)
        }
        func recall(_ got: [[Int]], _ truth: [[Int]]) -> Double {
            Double(zip(got, truth).reduce(0) { $0 + Set($1.0).intersection($1.1).count }) / Double(10 * truth.count)
        }
        for size in [100_000, large] {
            let base = sample(size)
            let flat = try VectorIndex(dimension: d, factory: "Flat")
            try flat.add(base)
            let truth = try flat.search(queries, k: 10).map { $0.map { Int($0.id) } }
            if size == 100_000 {
                let l = try latency(flat)
                report("Flat over 100 k", ["p50_ms": l.p50, "p99_ms": l.p99, "recall_at_10": recall(l.results, truth)])
                if hnsw {
                    let h = try VectorIndex(dimension: d, factory: "HNSW32,Flat")
                    let t0 = Date()
                    try h.add(base)
                    let build = Date().timeIntervalSince(t0)
                    for ef in [32, 64, 128] {
                        h.setSearchBreadth(ef)
                        let lh = try latency(h)
                        report("HNSW32 over 100 k (efSearch \(ef))", ["p50_ms": lh.p50, "p99_ms": lh.p99, "recall_at_10": recall(lh.results, truth), "build_s": build])
                    }
                }
            } else {
                let ivf = try VectorIndex(dimension: d, factory: "IVF1024,Flat")
                let t0 = Date()
                try ivf.train(Array(base.prefix(100_000 * d)))
                try ivf.add(base)
                let build = Date().timeIntervalSince(t0)
                for nprobe in [4, 8, 16, 32, 64] {
                    ivf.setProbes(nprobe)
                    let l = try latency(ivf)
                    let r = recall(l.results, truth)
                    report("IVF1024 over \(size / 1000) k (nprobe \(nprobe))", ["p50_ms": l.p50, "p99_ms": l.p99, "recall_at_10": r, "build_s": build])
                    if r >= 0.95 { break }
                }
            }
        }
        if options.json { printJSON(["rows": rows]) }
    }
}

struct BenchInferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infer",
        abstract: "Time the real infer job (Jobs.infer) at 256 px with full-size random-weight models and cached latents; seconds per stage.",
        discussion: """
            The index holds the bundled demo faces embedded by the random CMPC, each with a cached random W latent             made under the request's key, so no prototype is inverted: the stages timed are the job's own (voice             features and embedding, retrieval, σ_W statistics, cache reads, aggregation with the identity target,             refinement, rendering).
            """)

    @OptionGroup var options: BenchOptions

    @Option(help: "Refinement steps.")
    var steps: Int = 100

    @Option(help: "Speech clip (default: the bundled demo clip).", completion: .file())
    var voice: String?

    func run() throws {
        let setUp = Date()
        let loader = ModelLoader()
        let g = try StyleGAN2Generator.random(GeneratorConfig(), seed: 1)
        loader.register(g, as: "bench:generator", sha256: "bench-random-g256")
        loader.register(try CMPCModel.random(seed: 7), as: "bench:cmpc", sha256: "bench-random-cmpc")
        loader.register(IdentityLoss(network: try IRSE50.random(seed: 4)), as: "bench:irse50", sha256: "bench-random-irse50")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("voicestyle-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        var build = BuildIndexRequest(index: dir.path, faces: try Demo.data.appendingPathComponent("faces").path)
        build.cmpc = "bench:cmpc"
        _ = try Jobs.buildIndex(build, models: loader)
        var request = InferRequest(voice: try voice ?? Demo.voices[0].path, index: dir.path)
        request.models = ModelPaths(generator: "bench:generator", cmpc: "bench:cmpc", identity: "bench:irse50")
        request.config.refinement.steps = steps
        // Cached latents under the request's key: random mapped W.
        let key = LatentKey(generator: "bench-random-g256", settings: request.config.inversion)
        let index = try PrototypeIndex(directory: dir)
        var rng = SeededGenerator(seed: 3)
        let ws = withoutGradients { g.map(Tensor.randomNormal([index.records.count, 512], using: &rng)) }
        for (i, r) in index.records.enumerated() {
            try index.store.setLatent(path: r.path, latent: Array(ws.buffer[(i * 512)..<((i + 1) * 512)]), noises: [], metrics: "{}", key: key.json)
        }
        let setUpSeconds = Date().timeIntervalSince(setUp)
        let start = Date()
        let result = try Jobs.infer(request, models: loader)
        _ = try PNGCodec.encode(result.face)
        let job = Date().timeIntervalSince(start)
        let stages = result.report.timings
        if options.json {
            printJSON(["stages": stages.map { ["stage": $0.stage, "seconds": $0.seconds] }, "job_seconds": job, "set_up_seconds": setUpSeconds,
                       "latent_sources": result.report.prototypes.map(\.latentSource.rawValue), "peak_rss_mb": Double(residentKiB().peak) / 1024])
            return
        }
        print(tableRow(["model and index set-up (not part of the job)", String(format: "%.2f", setUpSeconds)], widths: [-44, 8]))
        for t in stages { print(tableRow([t.stage, String(format: "%.2f", t.seconds)], widths: [-44, 8])) }
        print(tableRow(["whole job incl. loading and PNG (target ≤ 60 s)", String(format: "%.2f", job)], widths: [-44, 8]))
        print(String(format: "peak RSS: %.0f MB; prototype latents: %@", Double(residentKiB().peak) / 1024,
                     Set(result.report.prototypes.map(\.latentSource.rawValue)).sorted().joined(separator: ", ")))
    }
}
