// `voicestyle bench …`: speed measurements (never timed tests).
import ArgumentParser
import Foundation
import VoiceStyle

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure speed: engine, checkpoint, generator, invert, voice, index, infer.",
        subcommands: [BenchEngineCommand.self, BenchCheckpointCommand.self, BenchGeneratorCommand.self, BenchInvertCommand.self,
                      BenchVoiceCommand.self, BenchIndexCommand.self, BenchInferCommand.self])
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

/// One table line: negative widths left-align, positive right-align.
func tableRow(_ cells: [String], widths: [Int]) -> String {
    zip(cells, widths).map { cell, w in
        let pad = String(repeating: " ", count: max(0, abs(w) - cell.count))
        return w < 0 ? cell + pad : pad + cell
    }.joined(separator: " ")
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

/// A generator of the given architecture with seeded random weights (upstream's init distributions).
func randomGenerator(_ config: GeneratorConfig, seed: UInt64) throws -> StyleGAN2Generator {
    var rng = SeededGenerator(seed: seed)
    let tensors = config.parameterSpecs.filter { !$0.optional }.map { spec -> (name: String, tensor: StoredTensor) in
        let t: Tensor<Float>
        if spec.key.hasSuffix("modulation.bias") { t = Tensor(shape: spec.shape, repeating: 1) }
        else if spec.key.hasSuffix("noise.weight") { t = Tensor(shape: spec.shape, repeating: 0.1) }
        else if spec.key.hasSuffix("bias") { t = Tensor(zeros: spec.shape) }
        else { t = Tensor.randomNormal(spec.shape, using: &rng) }
        return (spec.key, StoredTensor(t))
    }
    return try StyleGAN2Generator(stateDict: StateDict(file: "random weights", tensors: tensors), lrMLP: config.lrMLP)
}

struct BenchGeneratorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generator",
        abstract: "Time the 256-px StyleGAN2 generator (random weights, batch 1, W input): forward, and forward + backward to W and the noise maps.",
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

    func run() throws {
        var config = GeneratorConfig()
        config.size = size
        let g = try randomGenerator(config, seed: 1)
        var rng = SeededGenerator(seed: 2)
        let w = withoutGradients { g.map(Tensor.randomNormal([1, config.styleDim], using: &rng)) }
        let noise = try g.noise(.random(seed: 3), batch: 1)
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
        let flops = 90.839121152 * Double(size * size) / 65536
        var rows: [[String: Any]] = []
        for (name, t, anchorCase, fl, target) in [("forward", forward, "G256 forward (no_grad), W input", flops, 0.6),
                                                  ("forward+backward (W, noises)", backward, "G256 forward+backward d/dW and d/dnoises", 2 * flops, 0.4)] {
            var row: [String: Any] = ["pass": name, "seconds": t, "gflops": fl / t, "target_ratio": target]
            if size == 256, let a = anchor.seconds(anchorCase) { row["pytorch_seconds"] = a; row["ratio"] = t / a }
            rows.append(row)
        }
        if options.json {
            printJSON(["size": size, "threads": Parallel.workers, "peak_rss_mb": peakMB, "working_set_mb": workingSetMB, "anchors": anchor.source, "rows": rows])
            return
        }
        print("StyleGAN2 \(size) px, batch 1, W input, \(Parallel.workers) threads; anchors: \(anchor.source)")
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

/// A state dict of random values for `specs`: He-normal conv/linear weights, unit batch-norm statistics,
/// PReLU 0.25, small positive LPIPS lin weights, zero biases.
func randomStateDict(_ specs: [ParameterSpec], seed: UInt64, file: String) -> StateDict {
    var rng = SeededGenerator(seed: seed)
    let tensors = specs.filter { !$0.optional }.map { spec -> (name: String, tensor: StoredTensor) in
        let k = spec.key, n = spec.shape.reduce(1, *)
        let t: Tensor<Float>
        if k.hasSuffix("running_var") || (spec.shape.count == 1 && k.hasSuffix(".weight") && !k.contains("res_layer.2") && !k.hasSuffix("input_layer.2.weight")) {
            t = Tensor(shape: spec.shape, repeating: 1)
        } else if k.hasSuffix("running_mean") || k.hasSuffix("bias") {
            t = Tensor(zeros: spec.shape)
        } else if spec.shape.count == 1 {
            t = Tensor(shape: spec.shape, repeating: 0.25)  // PReLU
        } else if k.hasPrefix("lin") {
            t = Tensor.randomUniform(spec.shape, low: 0, high: 0.1, using: &rng)
        } else {
            let fanIn = n / spec.shape[0]
            t = Tensor.randomNormal(spec.shape, using: &rng) * (2 / Float(fanIn)).squareRoot()
        }
        return (k, StoredTensor(t))
    }
    return StateDict(file: file, tensors: tensors)
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
        let g = try randomGenerator(GeneratorConfig(), seed: 1)
        let vgg = LPIPS.vgg16Specs
        let lpips = try LPIPS(vgg: randomStateDict(vgg.features, seed: 2, file: "random VGG16"), lin: randomStateDict(vgg.lin, seed: 3, file: "random lin"))
        let irse = try IRSE50(stateDict: randomStateDict(IRSE50.specs(depths: IRSE50.depths50, stem: 64, embedding: 512), seed: 4, file: "random IR-SE50"))
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
        if options.json {
            printJSON(["rows": rows.map { row -> [String: Any] in
                var d: [String: Any] = ["case": row.0, "seconds": row.1]
                if let p = row.2 { d["pytorch_seconds"] = p; d["ratio"] = row.1 / p }
                return d
            },
                       "peak_rss_mb": peakMB, "anchors": a.source])
            return
        }
        print("projector iteration, 256 px, batch 1, \(Parallel.workers) threads; anchors: \(a.source)")
        print(tableRow(["component", "seconds", "PyTorch s", "ratio"], widths: [-36, 8, 10, 6]))
        for r in rows {
            print(tableRow([r.0, String(format: "%.3f", r.1), r.2.map { String(format: "%.3f", $0) } ?? "-",
                            r.2.map { String(format: "%.2f", r.1 / $0) } ?? "-"], widths: [-36, 8, 10, 6]))
        }
        print(String(format: "peak RSS: %.0f MB (the PyTorch 'with identity' figure adds its IR-SE50 fwd+bwd anchor)", peakMB))
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
        let specs = ResNetEncoder.specs(prefix: "voice_subnet.", blocks: [3, 4, 6, 3], widths: [64, 128, 256, 512], stem: [64, 1, 7, 7])
            + ResNetEncoder.specs(prefix: "face_subnet.", blocks: [3, 4, 6, 3], widths: [64, 128, 256, 512], stem: [64, 3, 7, 7])
        let model = try CMPCModel(stateDict: randomStateDict(specs, seed: 7, file: "random CMPC"))
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
        if options.json {
            printJSON(["rows": rows.map { r -> [String: Any] in
                var d: [String: Any] = ["case": r.0, "seconds": r.1]
                if let p = r.2 { d["pytorch_seconds"] = p; d["ratio"] = r.1 / p }
                return d
            }, "anchors": a.source])
            return
        }
        print("voice front-end and CMPC, \(Parallel.workers) threads; anchors: \(a.source)")
        print(tableRow(["case", "seconds", "PyTorch s", "ratio"], widths: [-42, 8, 10, 6]))
        for r in rows {
            print(tableRow([r.0, String(format: "%.3f", r.1), r.2.map { String(format: "%.3f", $0) } ?? "-",
                            r.2.map { String(format: "%.2f", r.1 / $0) } ?? "-"], widths: [-42, 8, 10, 6]))
        }
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
        let specs = ResNetEncoder.specs(prefix: "voice_subnet.", blocks: [3, 4, 6, 3], widths: [64, 128, 256, 512], stem: [64, 1, 7, 7])
            + ResNetEncoder.specs(prefix: "face_subnet.", blocks: [3, 4, 6, 3], widths: [64, 128, 256, 512], stem: [64, 3, 7, 7])
        let model = try CMPCModel(stateDict: randomStateDict(specs, seed: 7, file: "random CMPC"))
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
                results.append(r.map(\.row))
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
            let truth = try flat.search(queries, k: 10).map { $0.map(\.row) }
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
        abstract: "Time the whole infer job at 256 px with full-size random-weight models, cached latents, 2 threads; seconds per stage.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Refinement steps.")
    var steps: Int = 100

    @Option(help: "Speech clip.", completion: .file())
    var voice: String = "../shared/data/voices/voxceleb/id10845_0RsOMTn-DSM_00001.wav"

    func run() throws {
        var timings: [(String, Double)] = []
        var clock = Date()
        func lap(_ name: String) { timings.append((name, Date().timeIntervalSince(clock))); clock = Date() }
        let g = try randomGenerator(GeneratorConfig(), seed: 1)
        let specs = ResNetEncoder.specs(prefix: "voice_subnet.", blocks: [3, 4, 6, 3], widths: [64, 128, 256, 512], stem: [64, 1, 7, 7])
            + ResNetEncoder.specs(prefix: "face_subnet.", blocks: [3, 4, 6, 3], widths: [64, 128, 256, 512], stem: [64, 3, 7, 7])
        let cmpc = try CMPCModel(stateDict: randomStateDict(specs, seed: 7, file: "random CMPC"))
        let irse = try IRSE50(stateDict: randomStateDict(IRSE50.specs(depths: IRSE50.depths50, stem: 64, embedding: 512), seed: 4, file: "random IR-SE50"))
        lap("model set-up (not part of the job)")
        let features = try VoiceFrontEnd().features(try Waveform.read(URL(fileURLWithPath: voice)))
        let a = withoutGradients { cmpc.voice(features.reshaped([1] + features.shape)) }
        lap("voice features and embedding")
        var rng = SeededGenerator(seed: 3)
        // Eight cached prototype latents and identity features stand in for the index.
        let w = withoutGradients { g.map(Tensor.randomNormal([10_000, 512], using: &rng)) }
        let mean = w.mean(axes: [0])
        let std = withoutGradients { ((w - mean).square().sum() / 10_000).sqrt().item }
        lap("latent statistics (10,000 z)")
        let w0 = withoutGradients { w.slice(axis: 0, 0, 8).mean(axes: [0], keepDims: true) }
        let identity = IdentityLoss(network: irse)
        let protoImages = Tensor<Float>.randomUniform([8, 3, 256, 256], low: -1, high: 1, using: &rng)  // stand-ins for the prototype photos
        let target = withoutGradients { identity.features(protoImages).mean(axes: [0], keepDims: true).l2Normalized(axis: 1) }
        lap("aggregation and identity target (8 prototypes)")
        var config = RefinementConfig()
        config.steps = steps
        var randomness = SeededProjectorRandomness(seed: 4)
        let result = try Refiner(generator: g, cmpc: cmpc, identity: identity)
            .refine(initial: w0, voice: a, identityTarget: target, latentStd: std, config: config, randomness: &randomness)
        lap("refinement (\(steps) steps)")
        let face = withoutGradients { g.synthesize(try! g.latents([result.latent], inputIsLatent: true), noise: result.noises) }
        _ = try PNGCodec.encode(ImageTensors.images(face)[0])
        lap("render and encode")
        let job = timings.dropFirst().reduce(0) { $0 + $1.1 }
        if options.json {
            printJSON(["stages": timings.map { ["stage": $0.0, "seconds": $0.1] }, "job_seconds": job, "target_seconds": 60])
            return
        }
        for (stage, t) in timings { print(tableRow([stage, String(format: "%.2f", t)], widths: [-44, 8])) }
        print(tableRow(["whole job (target ≤ 60 s)", String(format: "%.2f", job)], widths: [-44, 8]))
    }
}
