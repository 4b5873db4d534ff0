// `voicestyle-bench engine` (no upstream counterpart: upstream has no benchmarks).
import ArgumentParser
import Foundation
import VoiceStyle

struct BenchEngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Time the StyleGAN2-256 convolution shapes (forward and input gradient) on OpenBLAS, oneDNN and in bf16.",
        discussion: """
            Each row is one convolution of the 256-px generator at batch 1: the 3×3 convolutions at 4–256 px and the \
            stride-2 transposed up-convolutions, each as a forward pass and as the input-gradient pass of autodiff. \
            GFLOP/s counts 2·Cin·Cout·9·(pixels) multiply-adds; the peak is the best 2048³ sgemm rate measured first. \
            Each pass is timed with its products forced onto OpenBLAS (blas) and oneDNN (dnnl), on the per-shape choice \
            measured on this CPU (auto, with the path it took), in native bf16 where the CPU has AVX512-BF16 or AMX, and \
            in emulated bf16 (operands rounded, fp32 products: bf16's numerics, not its speed).
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

        // The variants timed per pass: each library forced, the measured choice (auto) with the path it took, and
        // the bf16 modes (native only where the CPU has it; emulated everywhere, on the auto paths).
        let engine = EngineReport.current()
        var variants: [(name: String, engine: EngineChoice, precision: ComputePrecision)] = [("blas", .blas, .fp32), ("dnnl", .dnnl, .fp32), ("auto", .auto, .fp32)]
        if engine.cpu.hasNativeBF16 { variants.append(("bf16", .auto, .bf16)) }
        variants.append(("bf16-emu", .auto, .bf16Emulated))
        var rows: [[String: Any]] = []
        let widths = [-22, -10] + variants.flatMap { _ in [9, 7] } + [-14]
        if !options.json {
            print("sgemm 2048³ peak: \(String(format: "%.1f", peak)) GFLOP/s (\(Parallel.workers) cores, BLAS threads \(BLASThreads.current))")
            print(engine.summary)
            print(tableRow(["layer", "pass"] + variants.flatMap { ["\($0.name) ms", "GF/s"] } + ["auto path"], widths: widths))
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
                    var cells = [cs.name, pass], row: [String: Any] = ["layer": cs.name, "pass": pass]
                    for v in variants {
                        let t = EngineChoice.$override.withValue(v.engine) { v.precision.run { bestTime(seconds: options.seconds, body) } }
                        cells += [String(format: "%.2f", t * 1e3), String(format: "%.0f", flops / t / 1e9)]
                        row[v.name] = ["ms": t * 1e3, "gflops": flops / t / 1e9]
                    }
                    // The paths auto took (measured on first use above): "dnnl", "blas", or "dnnl 27/blas 9".
                    let traced = MatrixPaths.trace { body() }.1
                    let counts = Dictionary(grouping: traced, by: \.path).mapValues(\.count)
                    let path = counts.count == 1 ? counts.keys.first ?? "" : counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "/")
                    row["auto_path"] = path
                    rows.append(row)
                    if !options.json { print(tableRow(cells + [path], widths: widths)) }
                }
            }
        }
        if options.json {
            let e = try JSONSerialization.jsonObject(with: JSONEncoder().encode(engine))
            printJSON(["sgemm_peak_gflops": peak, "cores": Parallel.workers, "engine": e, "rows": rows])
        }
    }
}
