// `voicestyle bench …`: speed measurements (never timed tests).
import ArgumentParser
import Foundation
import VoiceStyle

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voicestyle-bench",
        abstract: "Measure speed: engine, checkpoint, generator, invert, voice, index, infer, align, identity.",
        subcommands: [BenchEngineCommand.self, BenchCheckpointCommand.self, BenchGeneratorCommand.self, BenchInvertCommand.self,
                      BenchVoiceCommand.self, BenchIndexCommand.self, BenchInferCommand.self, BenchAlignCommand.self, BenchIdentityCommand.self, BenchJobsCommand.self])
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

/// `voicestyle-bench jobs`: the library jobs (JobRegistry) the benchmarks run, by benchmark, as JSON.
struct BenchJobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jobs", abstract: "List the library jobs each benchmark runs (JSON).")
    static let jobs: [String: [any JobRequest.Type]] = ["infer": [BuildIndexRequest.self, InferRequest.self]]

    func run() throws {
        let map = Self.jobs.mapValues { $0.map { $0.job } }
        print(String(decoding: try JSONSerialization.data(withJSONObject: map, options: [.sortedKeys]), as: UTF8.self))
    }
}
