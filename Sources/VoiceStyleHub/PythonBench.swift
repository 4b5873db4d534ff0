// No upstream counterpart (upstream has no benchmarks): runs the Python side-by-side benchmarks in `scripts/`
// (bench_pytorch.py: upstream's models in PyTorch; bench_align_psp.py: pSp's alignment) and reads their JSON.
import Foundation

/// The Python of the side-by-side benchmarks: `$VOICESTYLE_PYTHON` (a path or a command name), else `python3`.
public struct PythonRunner: Sendable, Equatable {
    public let python: String

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        python = environment["VOICESTYLE_PYTHON"].flatMap { $0.isEmpty ? nil : $0 } ?? "python3"
    }

    /// What a run returned.
    public struct Result: Sendable {
        public var status: Int32, output: Data, errors: Data
        /// The last line of standard error (Python's exception), or "no message".
        public var lastError: String {
            String(decoding: errors, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? "no message"
        }
    }

    /// Runs the interpreter with `arguments`; standard output and error are collected, never shown.
    public func run(_ arguments: [String], environment: [String: String]? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python] + arguments
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Drain standard error beside standard output so that neither pipe fills and blocks the child.
        let errors = UncheckedBox(Data()), errorHandle = err.fileHandleForReading
        let drained = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { errors.value = errorHandle.readDataToEndOfFile(); drained.signal() }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, output: output, errors: errors.value)
    }

    /// Whether `import module` succeeds in this Python (false when the interpreter is missing too).
    public func imports(_ module: String) -> Bool {
        guard let r = try? run(["-c", "import \(module)"]) else { return false }
        return r.status == 0
    }

    /// `scripts/NAME` of the clone of the running binary (else of the clone this file was built in), else of the
    /// working directory; nil when none holds it.
    public static func script(_ name: String, executable: URL? = Bundle.main.executableURL,
                              workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) -> URL? {
        let folders = [executable.flatMap(Clone.root(containing:)), workingDirectory].compactMap { $0 }
        return folders.map { $0.appendingPathComponent("scripts").appendingPathComponent(name) }
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }
}

/// A value written by one thread and read by another after a semaphore (the semaphore orders the accesses).
private final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// The figures of `scripts/bench_pytorch.py --json`: upstream's models in PyTorch on this CPU.
public struct PyTorchBench: Sendable, Equatable {
    /// One case: best and median seconds per run, and the images one run processes.
    public struct Case: Sendable, Equatable {
        public var best: Double, median: Double, items: Int, description: String
        public init(best: Double, median: Double, items: Int = 1, description: String = "") {
            self.best = best; self.median = median; self.items = items; self.description = description
        }
    }

    public var torch: String, threads: Int, cpuCapability: String, repeats: Int
    public var cases: [String: Case]

    /// The sentence printed when `python` cannot import torch.
    public static func unavailable(_ python: String) -> String {
        "PyTorch figures skipped: \(python) cannot import torch (pip install torch, or set VOICESTYLE_PYTHON to a Python that has it)."
    }

    /// Reads the script's JSON output.
    /// - Throws: `PyTorchBenchError.output` naming what is missing.
    public init(json data: Data) throws {
        guard let object = try? JSONSerialization.jsonObject(with: data), let top = object as? [String: Any] else {
            throw PyTorchBenchError.output("it is not a JSON object")
        }
        guard let torch = top["torch"] as? String, let threads = top["threads"] as? Int, let list = top["cases"] as? [String: Any] else {
            throw PyTorchBenchError.output("it lacks \"torch\", \"threads\" or \"cases\"")
        }
        var cases: [String: Case] = [:]
        for (name, value) in list {
            guard let c = value as? [String: Any], let best = c["best_s"] as? Double, let median = c["median_s"] as? Double,
                  best.isFinite, median.isFinite, best > 0 else {
                throw PyTorchBenchError.output("case \(name) lacks positive \"best_s\" and \"median_s\" seconds")
            }
            cases[name] = Case(best: best, median: median, items: max(1, c["items"] as? Int ?? 1), description: c["description"] as? String ?? "")
        }
        self.torch = torch
        self.threads = threads
        self.cpuCapability = top["cpu_capability"] as? String ?? "unknown"
        self.repeats = top["repeat"] as? Int ?? 0
        self.cases = cases
    }

    /// Best seconds of `name`, or nil when the run did not have it.
    public func seconds(_ name: String) -> Double? { cases[name]?.best }

    /// What the figures were measured with, for reports (`{torch, threads, cpu_capability, repeat}`; repeat = the fewest runs).
    public var summary: [String: Any] { ["torch": torch, "threads": threads, "cpu_capability": cpuCapability, "repeat": repeats] }

    /// Runs `scripts/bench_pytorch.py --json` for `cases` with `threads` threads, each case timed at least `repeats`
    /// times (the script's default when nil) and until `seconds` are spent.
    /// - Throws: `PyTorchBenchError` (no torch, no script, a failed run, unreadable output).
    public static func run(cases: [String], threads: Int, repeats: Int? = nil, seconds: Double = 0, python: PythonRunner = PythonRunner(),
                           script: URL? = PythonRunner.script("bench_pytorch.py")) throws -> PyTorchBench {
        guard python.imports("torch") else { throw PyTorchBenchError.noTorch(python.python) }
        guard let script else { throw PyTorchBenchError.noScript }
        var arguments = [script.path, "--json", "--threads", String(threads), "--cases", cases.joined(separator: ",")]
        if let repeats { arguments += ["--repeat", String(repeats)] }
        if seconds > 0 { arguments += ["--seconds", String(seconds)] }
        let r = try python.run(arguments, environment: ["PYTHONWARNINGS": "ignore"])
        guard r.status == 0 else { throw PyTorchBenchError.failed(script: script.path, status: r.status, message: r.lastError) }
        return try PyTorchBench(json: r.output)
    }
}

public enum PyTorchBenchError: Error, CustomStringConvertible, Equatable {
    case noTorch(String), noScript, failed(script: String, status: Int32, message: String), output(String)

    public var description: String {
        switch self {
        case .noTorch(let python): return PyTorchBench.unavailable(python)
        case .noScript: return "PyTorch figures skipped: scripts/bench_pytorch.py was found neither in the clone of this binary nor in the working directory."
        case .failed(let script, let status, let message): return "PyTorch figures skipped: \(script) exited with status \(status) (\(message))."
        case .output(let why): return "PyTorch figures skipped: the output of scripts/bench_pytorch.py cannot be read: \(why)."
        }
    }
}
