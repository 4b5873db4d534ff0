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

    @Flag(help: "Also time upstream's models in PyTorch (scripts/bench_pytorch.py with $VOICESTYLE_PYTHON or python3, same threads) and print the ratios ours / PyTorch.")
    var pytorch = false

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

/// PyTorch's figures for `cases` (scripts/bench_pytorch.py, same thread count) when `--pytorch` is given, else nil;
/// when they cannot be had, one sentence on standard error says why and the benchmark prints its own figures.
func pytorchFigures(_ options: BenchOptions, cases: [String]) -> PyTorchBench? {
    guard options.pytorch else { return nil }
    do {
        return try PyTorchBench.run(cases: cases, threads: Parallel.workers, seconds: options.seconds)
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        return nil
    }
}

/// `extra` with PyTorch's settings (version, threads, CPU capability, repeats) under "pytorch" when there are figures.
func withPyTorch(_ extra: [String: Any], _ figures: PyTorchBench?) -> [String: Any] {
    var e = extra
    if let figures { e["pytorch"] = figures.summary }
    return e
}

/// The heading words for PyTorch's figures: "PyTorch 2.15.0 (AVX2, 2 threads, best of ≥ 3 runs)", or "no PyTorch figures".
func pytorchLabel(_ figures: PyTorchBench?) -> String {
    figures.map { "PyTorch \($0.torch) (\($0.cpuCapability), \($0.threads) threads, best of ≥ \($0.repeats) runs)" } ?? "no PyTorch figures"
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
