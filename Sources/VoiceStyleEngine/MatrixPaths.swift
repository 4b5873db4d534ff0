// No upstream counterpart (PyTorch picks its GEMM library at build time): which library runs each float32 matrix
// product, OpenBLAS or oneDNN, chosen per shape by timing both on the running CPU the first time the shape is met,
// and remembered per CPU in the user cache; plus the bf16 modes of the large products.
import COpenBLAS
import Foundation

/// The library a float32 product runs on.
public enum GEMMPath: String, Codable, Sendable, CaseIterable {
    case blas, dnnl
}

/// How products choose their library: `VOICESTYLE_ENGINE=blas|dnnl|auto` (default auto: by measurement), or
/// `EngineChoice.$override.withValue(.blas) { … }` around a computation (the replays of upstream pin BLAS).
public enum EngineChoice: String, Sendable, CaseIterable {
    case blas, dnnl, auto

    /// The choice `VOICESTYLE_ENGINE` names in `environment`; auto when unset or not one of the three.
    public init(environment: [String: String]) {
        self = environment["VOICESTYLE_ENGINE"].flatMap { EngineChoice(rawValue: $0.lowercased()) } ?? .auto
    }

    /// This process's `VOICESTYLE_ENGINE`, read once.
    public static let environment = EngineChoice(environment: ProcessInfo.processInfo.environment)
    /// A choice bound on this thread or task, over the environment's.
    @TaskLocal public static var override: EngineChoice?
    /// The choice in force here.
    public static var current: EngineChoice { override ?? environment }
}

/// One timing of a shape on both libraries (seconds, best of three after a warm-up) and the faster one.
public struct PathMeasurement: Codable, Sendable, Equatable {
    public var path: GEMMPath
    public var blasSeconds: Double
    /// nil when oneDNN has no primitive for the shape.
    public var dnnlSeconds: Double?
}

/// One product as `MatrixPaths.trace` saw it.
public struct TracedProduct: Sendable {
    public var shape: GEMMShape
    /// "blas", "dnnl", "dnnl-bf16" (native bf16), with "+emulated-bf16" when the operands were rounded first.
    public var path: String
    public var seconds: Double
}

/// The engine's float32 matrix products (`Float.gemm`): the path of each shape, the bf16 modes, the per-CPU cache.
public enum MatrixPaths {
    /// Products of fewer multiply-adds stay on OpenBLAS unmeasured (oneDNN's call overhead dominates them).
    public static let measuredMinimum = 1 << 18

    /// The folder the path cache lives in, over the user cache (`$XDG_CACHE_HOME/voicestyle`) — for tests.
    @TaskLocal public static var cacheFolder: URL?

    /// The file of measured paths: `engine-paths.json` in the user cache. It holds one CPU's table; measured
    /// on another CPU (model, oneDNN ISA or flags differ), it is started afresh.
    public static var cacheFile: URL { (cacheFolder ?? UserCache.folder()).appendingPathComponent("engine-paths.json") }

    /// Row-major `C = alpha·op(A)·op(B) + beta·C` in float32 with the precision bound in `ComputePrecision.current`
    /// (products under `ComputePrecision.minimumMultiplyAdds` stay fp32).
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        let shape = GEMMShape(transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, accumulate: beta != 0)
        let precision = k > 0 && shape.multiplyAdds >= ComputePrecision.minimumMultiplyAdds ? ComputePrecision.current : .fp32
        let tracer = Tracer.current
        let start = tracer == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        let path: String
        switch precision {
        case .fp32:
            path = fp32(shape, alpha: alpha, a: a, b: b, beta: beta, c: c).rawValue
        case .bf16Emulated:
            path = emulatedBF16(shape, alpha: alpha, a: a, b: b, beta: beta, c: c)
        case .bf16:
            path = nativeBF16(shape, alpha: alpha, a: a, b: b, beta: beta, c: c) ? "dnnl-bf16"
                : emulatedBF16(shape, alpha: alpha, a: a, b: b, beta: beta, c: c)
        }
        if let tracer {
            tracer.append(TracedProduct(shape: shape, path: path, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
    }

    /// Runs `body` and returns, with its result, every product it made (shape, path, time).
    public static func trace<R>(_ body: () throws -> R) rethrows -> (R, [TracedProduct]) {
        let tracer = Tracer()
        let r = try Tracer.$current.withValue(tracer) { try body() }
        return (r, tracer.products)
    }

    /// The path `shape` takes here now in fp32: forced by `EngineChoice`, else the measured one (measuring it
    /// now on `a`, `b`, `c` when first met). nil: alpha/beta that oneDNN's primitives here do not take → BLAS.
    static func choose(_ s: GEMMShape, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) -> GEMMPath {
        switch EngineChoice.current {
        case .blas: return .blas
        case .dnnl: return .dnnl
        case .auto: break
        }
        if s.multiplyAdds < measuredMinimum || s.k == 0 { return .blas }
        let table = PathTable.current
        if let known = table.measurement(s) { return known.path }
        let m = measure(s, a: a, b: b, c: c)
        table.record(s, m)
        return m.path
    }

    /// The measured table of the running (or simulated) CPU: shape → measurement.
    public static func measuredPaths() -> [(shape: String, measurement: PathMeasurement)] {
        PathTable.current.all().sorted { $0.0 < $1.0 }.map { ($0.0, $0.1) }
    }

    private static func fp32(_ s: GEMMShape, alpha: Float, a: UnsafePointer<Float>, b: UnsafePointer<Float>, beta: Float,
                             c: UnsafeMutablePointer<Float>) -> GEMMPath {
        if alpha == 1 && (beta == 0 || beta == 1) && choose(s, a: a, b: b, c: c) == .dnnl
            && DNNL.run(s, bf16: false, a: a, b: b, c: c) {
            return .dnnl
        }
        blas(s, alpha: alpha, a: a, b: b, beta: beta, c: c)
        return .blas
    }

    /// OpenBLAS's `cblas_sgemm` for `s`.
    @inline(__always)
    static func blas(_ s: GEMMShape, alpha: Float, a: UnsafePointer<Float>, b: UnsafePointer<Float>, beta: Float, c: UnsafeMutablePointer<Float>) {
        cblas_sgemm(CblasRowMajor, s.transA ? CblasTrans : CblasNoTrans, s.transB ? CblasTrans : CblasNoTrans,
                    Int32(s.m), Int32(s.n), Int32(s.k), alpha, a, Int32(s.lda), b, Int32(s.ldb), beta, c, Int32(s.ldc))
    }

    /// Stored extents of A and B (rows × columns as laid out in memory).
    private static func stored(_ s: GEMMShape) -> (aRows: Int, aCols: Int, bRows: Int, bCols: Int) {
        (s.transA ? s.k : s.m, s.transA ? s.m : s.k, s.transB ? s.n : s.k, s.transB ? s.k : s.n)
    }

    /// The shape over dense copies of A and B (same transposition, leading dimensions = stored columns).
    private static func dense(_ s: GEMMShape) -> GEMMShape {
        let e = stored(s)
        var d = s
        (d.lda, d.ldb) = (e.aCols, e.bCols)
        return d
    }

    /// Operands rounded to bf16 into scratch copies, multiplied in float32 on the shape's fp32 path.
    private static func emulatedBF16(_ s: GEMMShape, alpha: Float, a: UnsafePointer<Float>, b: UnsafePointer<Float>, beta: Float,
                                     c: UnsafeMutablePointer<Float>) -> String {
        let e = stored(s), d = dense(s)
        return withScratch(e.aRows * e.aCols, of: Float.self) { ra in
            withScratch(e.bRows * e.bCols, of: Float.self) { rb in
                BF16.roundRows(a, rows: e.aRows, cols: e.aCols, ld: s.lda, into: ra)
                BF16.roundRows(b, rows: e.bRows, cols: e.bCols, ld: s.ldb, into: rb)
                return fp32(d, alpha: alpha, a: ra, b: rb, beta: beta, c: c).rawValue + "+emulated-bf16"
            }
        }
    }

    /// bf16 operands on oneDNN's native kernels; false (nothing written) where oneDNN has none.
    private static func nativeBF16(_ s: GEMMShape, alpha: Float, a: UnsafePointer<Float>, b: UnsafePointer<Float>, beta: Float,
                                   c: UnsafeMutablePointer<Float>) -> Bool {
        guard alpha == 1 && (beta == 0 || beta == 1) else { return false }
        let e = stored(s), d = dense(s)
        guard DNNL.matmul(d, bf16: true) != nil else { return false }
        // bf16 values are 2 bytes: half as many floats of scratch, rounded up.
        return withScratch((e.aRows * e.aCols + 1) / 2, of: Float.self) { ra in
            withScratch((e.bRows * e.bCols + 1) / 2, of: Float.self) { rb in
                let ha = UnsafeMutableRawPointer(ra).assumingMemoryBound(to: UInt16.self)
                let hb = UnsafeMutableRawPointer(rb).assumingMemoryBound(to: UInt16.self)
                BF16.convertRows(a, rows: e.aRows, cols: e.aCols, ld: s.lda, into: ha)
                BF16.convertRows(b, rows: e.bRows, cols: e.bCols, ld: s.ldb, into: hb)
                return DNNL.run(d, bf16: true, a: ha, b: hb, c: c)
            }
        }
    }

    /// Times `s` on both libraries into a scratch copy of C: a warm-up of each (oneDNN's creates its primitive),
    /// then three alternating rounds, the best of each library (alternating spreads a busy machine's noise over both).
    static func measure(_ s: GEMMShape, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafePointer<Float>) -> PathMeasurement {
        let size = (s.m - 1) * s.ldc + s.n
        return withScratch(size, of: Float.self) { scratch in
            if s.accumulate { scratch.update(from: c, count: size) } else { scratch.initialize(repeating: 0, count: size) }
            let beta: Float = s.accumulate ? 1 : 0
            let runs: [() -> Bool] = [
                { blas(s, alpha: 1, a: a, b: b, beta: beta, c: scratch); return true },
                { DNNL.run(s, bf16: false, a: a, b: b, c: scratch) },
            ]
            var best = [Double](repeating: .infinity, count: runs.count)
            let available = runs.map { $0() }  // warm-up; false: oneDNN has no primitive for the shape
            for _ in 0..<3 {
                for (i, run) in runs.enumerated() where available[i] {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    _ = run()
                    best[i] = min(best[i], Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                }
            }
            return PathMeasurement(path: best[1] < best[0] ? .dnnl : .blas, blasSeconds: best[0], dnnlSeconds: available[1] ? best[1] : nil)
        }
    }

    /// Collects the products of a `trace`.
    final class Tracer: @unchecked Sendable {
        @TaskLocal static var current: Tracer?
        private let lock = NSLock()
        private var list: [TracedProduct] = []
        func append(_ p: TracedProduct) { lock.withLock { list.append(p) } }
        var products: [TracedProduct] { lock.withLock { list } }
    }
}

/// The measured paths of one CPU, loaded from and saved to one cache file.
final class PathTable: @unchecked Sendable {
    let file: URL
    let cpu: CPUFeatures
    private let lock = NSLock()
    private var entries: [String: PathMeasurement] = [:]

    /// What the cache file holds.
    private struct Stored: Codable {
        var cpu: CPUFeatures
        var dnnl: String
        var shapes: [String: PathMeasurement]
    }

    private init(file: URL, cpu: CPUFeatures) {
        self.file = file
        self.cpu = cpu
        // A file measured on another CPU (or unreadable) is ignored here and replaced by the next save.
        if let data = try? Data(contentsOf: file), let s = try? JSONDecoder().decode(Stored.self, from: data), s.cpu == cpu {
            entries = s.shapes
        }
    }

    func measurement(_ s: GEMMShape) -> PathMeasurement? { lock.withLock { entries[s.description] } }
    func all() -> [(String, PathMeasurement)] { lock.withLock { entries.map { ($0.key, $0.value) } } }

    /// Adds a measurement and rewrites the file (best effort: an unwritable cache only costs re-measuring).
    func record(_ s: GEMMShape, _ m: PathMeasurement) {
        let data: Data? = lock.withLock {
            entries[s.description] = m
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .prettyPrinted]
            return try? e.encode(Stored(cpu: cpu, dnnl: DNNL.version, shapes: entries))
        }
        guard let data else { return }
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? OutputFile.write(data, to: file)
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var tables: [String: PathTable] = [:]

    /// The table of `CPUFeatures.current` in `MatrixPaths.cacheFile`.
    static var current: PathTable {
        let cpu = CPUFeatures.current, file = MatrixPaths.cacheFile
        let key = file.path + "\n" + cpu.cacheKey
        return lock.withLock {
            if let t = tables[key] { return t }
            let t = PathTable(file: file, cpu: cpu)
            tables[key] = t
            return t
        }
    }
}

/// How this process runs its matrix products, for `doctor` and the benchmarks: the CPU, oneDNN's ISA, the forced
/// or measured choice, the precision `auto` means here and the shapes measured so far on this CPU.
public struct EngineReport: Codable, Sendable, Equatable {
    /// One measured shape (milliseconds).
    public struct Shape: Codable, Sendable, Equatable {
        public var shape: String
        public var path: GEMMPath
        public var blasMs: Double
        public var dnnlMs: Double?
    }

    public var cpu: CPUFeatures
    public var dnnlVersion: String
    /// The ISA oneDNN dispatches to.
    public var dnnlISA: String
    /// `VOICESTYLE_ENGINE` (or the bound override): blas, dnnl or auto.
    public var engine: String
    /// What `--precision auto` resolves to on this CPU.
    public var autoPrecision: ComputePrecision
    /// OpenBLAS's threads; oneDNN's OpenMP team is kept the same size.
    public var threads: Int
    public var cacheFile: String
    public var shapes: [Shape]

    /// The report of this process now.
    public static func current() -> EngineReport {
        let cpu = CPUFeatures.current
        return EngineReport(cpu: cpu, dnnlVersion: DNNL.version, dnnlISA: DNNL.isa, engine: EngineChoice.current.rawValue,
                            autoPrecision: (try? Precision.auto.resolve(cpu: cpu)) ?? .fp32, threads: BLASThreads.current,
                            cacheFile: MatrixPaths.cacheFile.path,
                            shapes: MatrixPaths.measuredPaths().map {
                                Shape(shape: $0.shape, path: $0.measurement.path, blasMs: $0.measurement.blasSeconds * 1e3,
                                      dnnlMs: $0.measurement.dnnlSeconds.map { $0 * 1e3 })
                            })
    }

    /// One line: "oneDNN 2.6.3 (ISA avx2) + OpenBLAS, 2 threads; CPU AMD EPYC; VOICESTYLE_ENGINE auto: 12 shapes measured (7 dnnl, 5 blas); precision auto = fp32".
    public var summary: String {
        let dnnl = shapes.filter { $0.path == .dnnl }.count
        return "oneDNN \(dnnlVersion) (ISA \(dnnlISA)) + OpenBLAS, \(threads) threads; CPU \(cpu.model.isEmpty ? "unknown" : cpu.model); "
            + "VOICESTYLE_ENGINE \(engine): \(shapes.count) shapes measured on this CPU (\(dnnl) dnnl, \(shapes.count - dnnl) blas); "
            + "precision auto = \(autoPrecision.rawValue)"
    }
}
