// The side-by-side PyTorch benchmark (no upstream counterpart): scripts/bench_pytorch.py found from the clone, its
// JSON read, a missing torch reported in one sentence, and one real case where the Python has torch.
import Foundation
import Testing
import VoiceStyle
import VoiceStyleTestSupport

@Suite("PyTorch side-by-side benchmark")
struct BenchTests {
    static let canned = """
        {"torch": "2.15.0+cu132", "python": "3.11.2", "threads": 2, "cpu_capability": "AVX2", "mkldnn": true, "repeat": 3,
         "cases": {"g256-forward": {"best_s": 2.5, "median_s": 2.75, "items": 1, "description": "G256 forward"},
                   "cmpc-face-b16": {"best_s": 2.4, "median_s": 2.5, "items": 16, "description": "CMPC face, batch 16"}}}
        """

    @Test("the script's JSON is read: settings, best and median seconds, images per run")
    func parse() throws {
        let figures = try PyTorchBench(json: Data(Self.canned.utf8))
        #expect(figures.torch == "2.15.0+cu132" && figures.threads == 2 && figures.cpuCapability == "AVX2" && figures.repeats == 3)
        #expect(figures.seconds("g256-forward") == 2.5 && figures.cases["g256-forward"]?.median == 2.75)
        #expect(figures.cases["cmpc-face-b16"]?.items == 16 && figures.seconds("refine-step") == nil)
        #expect(figures.summary["cpu_capability"] as? String == "AVX2")
    }

    @Test("unreadable output is refused naming what is missing")
    func refused() {
        #expect(throws: PyTorchBenchError.output("it is not a JSON object")) { try PyTorchBench(json: Data("Traceback".utf8)) }
        #expect(throws: PyTorchBenchError.output("it lacks \"torch\", \"threads\" or \"cases\"")) { try PyTorchBench(json: Data("{\"cases\": {}}".utf8)) }
        let negative = #"{"torch": "2", "threads": 2, "cases": {"g256-forward": {"best_s": -1, "median_s": 1}}}"#
        #expect(throws: PyTorchBenchError.output("case g256-forward lacks positive \"best_s\" and \"median_s\" seconds")) {
            try PyTorchBench(json: Data(negative.utf8))
        }
    }

    @Test("without torch: one sentence saying how to get it; the script is found from the clone of the binary")
    func noTorch() throws {
        let python = PythonRunner(environment: ["VOICESTYLE_PYTHON": "/nonexistent/python3"])
        #expect(python.python == "/nonexistent/python3" && PythonRunner(environment: [:]).python == "python3")
        #expect(throws: PyTorchBenchError.noTorch("/nonexistent/python3")) { try PyTorchBench.run(cases: ["g256-forward"], threads: 2, python: python) }
        let sentence = PyTorchBenchError.noTorch("python3").description
        #expect(sentence.contains("pip install torch") && sentence.contains("VOICESTYLE_PYTHON") && !sentence.contains("\n"))
        let binary = Fixtures.repoRoot.appendingPathComponent(".build/release/voicestyle-bench")
        let script = PythonRunner.script("bench_pytorch.py", executable: binary, workingDirectory: FileManager.default.temporaryDirectory)
        #expect(script?.standardizedFileURL.path == Fixtures.repoRoot.appendingPathComponent("scripts/bench_pytorch.py").standardizedFileURL.path)
    }

    @Test("one real case through the script where the Python ($VOICESTYLE_PYTHON or python3) has torch")
    func realCase() throws {
        let python = PythonRunner()
        guard python.imports("torch") else {
            print("note: \(python.python) cannot import torch: the real PyTorch case is skipped (pip install torch, or set VOICESTYLE_PYTHON)")
            return
        }
        let figures = try PyTorchBench.run(cases: ["cmpc-voice"], threads: 1, repeats: 1, python: python)
        #expect(figures.threads == 1 && Array(figures.cases.keys) == ["cmpc-voice"] && !figures.cpuCapability.isEmpty)
        let c = try #require(figures.cases["cmpc-voice"])
        #expect(c.best > 0 && c.best <= c.median && c.items == 1)
        // A case the script does not have is refused by it in one line naming the allowed ones.
        #expect(throws: PyTorchBenchError.self) { try PyTorchBench.run(cases: ["g1024"], threads: 1, repeats: 1, python: python) }
    }
}
