// `voicestyle-bench checkpoint` (no upstream counterpart: upstream has no benchmarks).
import ArgumentParser
import Foundation
import VoiceStyle

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
