// `voicestyle-bench index` (no upstream counterpart: upstream has no benchmarks).
import ArgumentParser
import Foundation
import VoiceStyle

struct BenchIndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Embedding throughput, and FAISS search latency and recall@10 on synthetic clustered 512-d vectors.",
        discussion: """
            Embedding: the full-size random-weight CMPC face encoder at 256 px, one image per forward (as index \
            builds run) and 16; --pytorch times torchvision's ResNet-34 layout in PyTorch beside it (scripts/bench_pytorch.py, \
            same threads; ratio = our seconds per image / PyTorch's). Search: unit vectors drawn around 10,000 identity centres; single-query latency (p50, p99) \
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
        // Embedding throughput, one image per forward and 16 (ratio = our seconds per image / PyTorch's).
        let loader = ModelLoader()
        loader.register(try CMPCModel.random(seed: 7), as: "bench:cmpc", sha256: "bench-random-cmpc")
        var rng = SeededGenerator(seed: 9)
        let encoder = try loader.encoders("bench:cmpc").face
        var embedding: [(batch: Int, seconds: Double)] = []
        for batch in [1, 16] {
            let faces = Tensor<Float>.randomUniform([batch, 3, 256, 256], low: -1, high: 1, using: &rng)
            embedding.append((batch, bestTime(seconds: options.seconds) { _ = encoder.embed(input: faces) } / Double(batch)))
        }
        // The face encoder's path at these inputs: the fused oneDNN network (its convolution kernels) or the engine's.
        let facePath = embedding.map { e in
            encoder.model.face.fusedImplementation(forInput: [e.batch, 3, 256, 256]).map { "fused oneDNN (\($0))" } ?? "engine"
        }
        let torch = pytorchFigures(options, cases: embedding.map { "cmpc-face-b\($0.batch)" })
        if !options.json, options.pytorch { print(pytorchLabel(torch)) }
        for ((batch, perImage), path) in zip(embedding, facePath) {
            var values: [String: Any] = ["images_per_s": 1 / perImage, "face_path": path]
            if let c = torch?.cases["cmpc-face-b\(batch)"] {
                let theirs = c.best / Double(c.items)
                values["pytorch_images_per_s"] = 1 / theirs
                values["ratio"] = perImage / theirs
            }
            report("embedding (CMPC face, 256 px, batch \(batch), \(Parallel.workers) threads)", values)
        }

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
        if options.json { printJSON(withPyTorch(["rows": rows], torch)) }
    }
}
