// The engine's matrix-product paths (Sources/VoiceStyleEngine/MatrixPaths.swift, DNNL.swift, Precision.swift):
// oneDNN against OpenBLAS, bf16 rounding and emulation, native bf16 where the CPU has it, the precision's
// resolution on simulated CPUs, the per-CPU path cache and VOICESTYLE_ENGINE.
import Foundation
import Testing
import VoiceStyleEngine
import VoiceStyleTestSupport

/// One product's operands: A stored m×k (or k×m when transposed), B k×n (or n×k), with padded leading dimensions.
private struct Product {
    var transA: Bool, transB: Bool, m: Int, n: Int, k: Int, accumulate: Bool
    var a: [Float], b: [Float], c0: [Float]
    var lda: Int, ldb: Int, ldc: Int

    init(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, accumulate: Bool, pad: Int, seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        (self.transA, self.transB, self.m, self.n, self.k, self.accumulate) = (transA, transB, m, n, k, accumulate)
        lda = (transA ? m : k) + pad
        ldb = (transB ? k : n) + pad
        ldc = n + pad
        a = Tensor<Float>.randomNormal([(transA ? k : m) * lda], using: &rng).scalars
        b = Tensor<Float>.randomNormal([(transB ? n : k) * ldb], using: &rng).scalars
        c0 = Tensor<Float>.randomNormal([m * ldc], using: &rng).scalars
    }

    /// C (the valid m×n block) computed by `Float.gemm` under the bindings in force, and the products traced.
    func run() -> ([Float], [TracedProduct]) {
        var c = c0
        let traced = MatrixPaths.trace {
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        Float.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: pa.baseAddress!, lda: lda,
                                   b: pb.baseAddress!, ldb: ldb, beta: accumulate ? 1 : 0, c: pc.baseAddress!, ldc: ldc)
                    }
                }
            }
        }.1
        return ((0..<m).flatMap { i in c[(i * ldc)..<(i * ldc + n)] }, traced)
    }

    /// The same product in float64 over `round(a)`, `round(b)` (the identity by default).
    func reference(_ round: (Float) -> Float = { $0 }) -> [Float] {
        var out = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = accumulate ? Double(c0[i * ldc + j]) : 0
                for p in 0..<k {
                    let x = transA ? a[p * lda + i] : a[i * lda + p]
                    let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                    s += Double(round(x)) * Double(round(y))
                }
                out[i * n + j] = Float(s)
            }
        }
        return out
    }
}

/// max |x − y| / max |y|.
private func relative(_ x: [Float], _ y: [Float]) -> Double {
    let scale = y.map { abs(Double($0)) }.max() ?? 1
    return zip(x, y).map { abs(Double($0) - Double($1)) }.max().map { $0 / max(scale, 1e-30) } ?? 0
}

/// A CPU like this project's AVX2-only EPYC machines.
private let avx2CPU = CPUFeatures(model: "AMD EPYC (simulated)", isa: "avx2", flags: ["avx", "avx2", "fma"])
/// A CPU with AVX512-BF16 (Zen 4/5-like).
private let bf16CPU = CPUFeatures(model: "AMD EPYC 9R45 (simulated)", isa: "avx512_core_bf16", flags: ["avx2", "avx512f", "avx512_bf16"])

@Suite("Matrix-product paths: oneDNN, OpenBLAS, bf16")
struct MatrixPathTests {
    /// Products large enough to be measured and to run in bf16: every transposition, padded leading dimensions,
    /// with and without accumulation.
    private static let products: [Product] = [
        Product(transA: false, transB: false, m: 96, n: 160, k: 200, accumulate: false, pad: 0, seed: 1),
        Product(transA: true, transB: false, m: 64, n: 150, k: 256, accumulate: true, pad: 5, seed: 2),
        Product(transA: false, transB: true, m: 128, n: 72, k: 300, accumulate: false, pad: 3, seed: 3),
        Product(transA: true, transB: true, m: 80, n: 96, k: 288, accumulate: true, pad: 7, seed: 4),
    ]

    @Test("oneDNN's fp32 matmul agrees with OpenBLAS (1e-5 of the largest value), every layout")
    func dnnlMatchesBLAS() {
        for (i, p) in Self.products.enumerated() {
            let (blas, tb) = EngineChoice.$override.withValue(.blas) { p.run() }
            let (dnnl, td) = EngineChoice.$override.withValue(.dnnl) { p.run() }
            #expect(tb.map(\.path) == ["blas"] && td.map(\.path) == ["dnnl"], "product \(i): paths \(tb.map(\.path)) \(td.map(\.path))")
            #expect(relative(dnnl, blas) < 1e-5, "product \(i)")
            #expect(relative(blas, p.reference()) < 1e-5, "product \(i) against float64")
        }
    }

    @Test("bf16 rounding is round-to-nearest-even on the float32 bits")
    func roundingIsNearestEven() {
        let one = Float(1), ulp = Float(1) / 128  // bf16 has 7 stored mantissa bits
        #expect(BF16.round(one + ulp / 2) == one, "a tie rounds to the even neighbour (down)")
        #expect(BF16.round(one + 3 * ulp / 2) == one + 2 * ulp, "a tie rounds to the even neighbour (up)")
        #expect(BF16.round(one + ulp / 2 + ulp / 1024) == one + ulp, "above the tie rounds up")
        #expect(BF16.round(-(one + 3 * ulp / 2)) == -(one + 2 * ulp), "sign-symmetric")
        #expect(BF16.round(.infinity) == .infinity && BF16.round(-.infinity) == -.infinity)
        #expect(BF16.round(.greatestFiniteMagnitude) == .infinity, "overflow rounds to infinity")
        #expect(BF16.round(.nan).isNaN && BF16.round(Float(bitPattern: 0x7F80_0001)).isNaN, "NaNs stay NaN")
        #expect(BF16.round(0) == 0 && BF16.round(-0.0).sign == .minus)
        // Against a reference from the two bf16 neighbours, on random bit patterns.
        var rng = SeededGenerator(seed: 77)
        for _ in 0..<20_000 {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0xBFFF_FFFF)  // finite, |x| < 2
            let down = Float(bitPattern: x.bitPattern & 0xFFFF_0000)
            let up = Float(bitPattern: (x.bitPattern & 0xFFFF_0000) &+ 0x1_0000)
            let dd = abs(Double(x) - Double(down)), du = abs(Double(up) - Double(x))
            let expected = dd < du ? down : du < dd ? up : ((down.bitPattern >> 16) & 1 == 0 ? down : up)
            #expect(BF16.round(x) == expected, "\(x)")
            if BF16.round(x) != expected { break }
        }
    }

    @Test("emulated bf16: products equal a float64 product of the rounded operands; fp32 accumulation only")
    func emulatedProducts() {
        for (i, p) in Self.products.enumerated() {
            for engine in [EngineChoice.blas, .dnnl] {
                let (c, t) = EngineChoice.$override.withValue(engine) { ComputePrecision.bf16Emulated.run { p.run() } }
                #expect(t.map(\.path) == ["\(engine.rawValue)+emulated-bf16"], "product \(i): \(t.map(\.path))")
                #expect(relative(c, p.reference(BF16.round)) < 1e-5, "product \(i) on \(engine)")
                // And it is bf16's rounding, not fp32: ~2⁻⁸ relative per operand.
                #expect(relative(c, p.reference()) > 1e-4, "product \(i) on \(engine) was not rounded")
            }
        }
        // Small products stay fp32 in every precision.
        let small = Product(transA: false, transB: false, m: 4, n: 8, k: 16, accumulate: false, pad: 0, seed: 9)
        let (c, t) = EngineChoice.$override.withValue(.auto) { ComputePrecision.bf16Emulated.run { small.run() } }
        #expect(t.map(\.path) == ["blas"] && relative(c, small.reference()) < 1e-6)
    }

    @Test("native bf16 equals the emulation up to accumulation order (where the CPU has AVX512-BF16 or AMX)")
    func nativeMatchesEmulation() {
        guard CPUFeatures.detected.hasNativeBF16 else {
            print("skipped: native bf16 needs AVX512-BF16 or AMX; this CPU (\(CPUFeatures.detected.summary)) has neither")
            return
        }
        for (i, p) in Self.products.enumerated() {
            let (native, t) = ComputePrecision.bf16.run { p.run() }
            let (emulated, _) = ComputePrecision.bf16Emulated.run { p.run() }
            #expect(t.map(\.path) == ["dnnl-bf16"], "product \(i): \(t.map(\.path))")
            #expect(relative(native, emulated) < 1e-5, "product \(i)")
            #expect(relative(native, p.reference(BF16.round)) < 1e-5, "product \(i) against float64")
        }
    }

    @Test("precision: auto follows the CPU; bf16 is refused on a CPU without it, in one sentence naming its ISA")
    func precisionResolution() throws {
        #expect(try Precision.auto.resolve(cpu: avx2CPU) == .fp32)
        #expect(try Precision.auto.resolve(cpu: bf16CPU) == .bf16)
        #expect(try Precision.bf16.resolve(cpu: bf16CPU) == .bf16)
        #expect(try Precision.fp32.resolve(cpu: bf16CPU) == .fp32)
        #expect(try Precision.bf16Emulated.resolve(cpu: avx2CPU) == .bf16Emulated)
        #expect(throws: PrecisionUnsupported.self) { try Precision.bf16.resolve(cpu: avx2CPU) }
        do {
            _ = try CPUFeatures.$override.withValue(avx2CPU) { try Precision.bf16.resolve() }
        } catch let e as PrecisionUnsupported {
            #expect(e.description == "bf16 needs AVX512-BF16 or AMX; this CPU (AMD EPYC (simulated), avx2) has neither; use auto or fp32")
        }
        #expect(Precision(rawValue: "bf16-emulated") == .bf16Emulated)
    }

    @Test("the per-shape path cache is kept per CPU and rebuilt when the CPU changes")
    func pathCachePerCPU() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("voicestyle-paths-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let p = Self.products[0]
        func stored() throws -> (cpu: String, shapes: [String]) {
            let data = try Data(contentsOf: folder.appendingPathComponent("engine-paths.json"))
            let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let cpu = (json["cpu"] as? [String: Any])?["model"] as? String ?? ""
            return (cpu, ((json["shapes"] as? [String: Any]) ?? [:]).keys.sorted())
        }
        try MatrixPaths.$cacheFolder.withValue(folder) {
            try EngineChoice.$override.withValue(.auto) {
                let (first, t1) = CPUFeatures.$override.withValue(avx2CPU) { p.run() }
                #expect(relative(first, p.reference()) < 1e-5)
                let a = try stored()
                #expect(a.cpu == avx2CPU.model && a.shapes.count == 1, "\(a)")
                #expect(t1.count == 1 && GEMMPath(rawValue: t1[0].path) != nil)
                // Measured once: the next call of the shape does not add to the table.
                _ = CPUFeatures.$override.withValue(avx2CPU) { p.run() }
                #expect(CPUFeatures.$override.withValue(avx2CPU) { MatrixPaths.measuredPaths().count } == 1)
                // Another CPU finds the file measured elsewhere, starts afresh and replaces it.
                #expect(CPUFeatures.$override.withValue(bf16CPU) { MatrixPaths.measuredPaths().isEmpty })
                let (second, _) = CPUFeatures.$override.withValue(bf16CPU) { p.run() }
                #expect(relative(second, p.reference()) < 1e-5)
                let b = try stored()
                #expect(b.cpu == bf16CPU.model && b.shapes == a.shapes, "\(b)")
            }
        }
    }

    @Test("VOICESTYLE_ENGINE forces a path (blas, dnnl), auto or anything else measures")
    func engineChoice() {
        #expect(EngineChoice(environment: ["VOICESTYLE_ENGINE": "blas"]) == .blas)
        #expect(EngineChoice(environment: ["VOICESTYLE_ENGINE": "DNNL"]) == .dnnl)
        #expect(EngineChoice(environment: ["VOICESTYLE_ENGINE": "auto"]) == .auto)
        #expect(EngineChoice(environment: [:]) == .auto)
        #expect(EngineChoice(environment: ["VOICESTYLE_ENGINE": "mkl"]) == .auto)
        let p = Self.products[2]
        for engine in [EngineChoice.blas, .dnnl] {
            let t = EngineChoice.$override.withValue(engine) { p.run().1 }
            #expect(t.map(\.path) == [engine.rawValue])
        }
    }

    @Test("the CPU is identified: model, oneDNN's ISA, flags; bf16 products run natively where it has bf16")
    func cpuIdentified() {
        let cpu = CPUFeatures.detected
        let shape = GEMMShape(transA: false, transB: false, m: 256, n: 256, k: 256, lda: 256, ldb: 256, ldc: 256, accumulate: false)
        let f32 = DNNL.implementation(shape), bf16 = DNNL.implementation(shape, bf16: true)
        print("CPU: \(cpu.summary); flags \(cpu.flags.joined(separator: " ")); oneDNN \(DNNL.version) ISA \(DNNL.isa); "
              + "matmul 256³ f32 \(f32 ?? "none"), bf16 \(bf16 ?? "none")")
        #expect(f32 != nil)
        if cpu.hasNativeBF16 { #expect(bf16 != nil) }
        #expect(!cpu.isa.isEmpty && cpu.isa == DNNL.isa)
        #if arch(x86_64)
        #expect(cpu.flags.contains("avx2"))
        #endif
    }
}
