// No upstream counterpart (PyTorch reaches oneDNN through ATen): oneDNN 2.6 matmul primitives for the engine's
// matrix products, created once per shape and data type and run on oneDNN's OpenMP team.
import CDNNL
import Foundation

/// A row-major product `C = op(A)·op(B) (+ C)`: transposition, extents, leading dimensions and whether it
/// accumulates into C. The key of the per-shape path choice and of oneDNN's primitives.
public struct GEMMShape: Hashable, Sendable, Codable, CustomStringConvertible {
    public var transA, transB: Bool
    public var m, n, k, lda, ldb, ldc: Int
    public var accumulate: Bool

    public init(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int, accumulate: Bool) {
        (self.transA, self.transB, self.m, self.n, self.k) = (transA, transB, m, n, k)
        (self.lda, self.ldb, self.ldc, self.accumulate) = (lda, ldb, ldc, accumulate)
    }

    /// "NT 512×4096×4608 lda 4608 ldb 4608 ldc 4096 +C".
    public var description: String {
        "\(transA ? "T" : "N")\(transB ? "T" : "N") \(m)×\(n)×\(k) lda \(lda) ldb \(ldb) ldc \(ldc)\(accumulate ? " +C" : "")"
    }

    /// Multiply-adds of the product.
    public var multiplyAdds: Int { m * n * k }
}

/// oneDNN, as the engine uses it: one CPU engine, matmul primitives cached per shape.
public enum DNNL {
    /// oneDNN's version ("2.6.3").
    public static var version: String {
        guard let v = dnnl_version()?.pointee else { return "?" }
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// The ISA oneDNN dispatches to on this CPU (after `ONEDNN_MAX_CPU_ISA`), as oneDNN names it.
    public static var isa: String { isaName(dnnl_get_effective_cpu_isa()) }

    static func isaName(_ isa: dnnl_cpu_isa_t) -> String {
        switch isa {
        case dnnl_cpu_isa_sse41: return "sse41"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx512_mic, dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        default: return "isa 0x\(String(isa.rawValue, radix: 16))"
        }
    }

    /// The CPU engine (nil if oneDNN cannot make one: then every product stays on BLAS).
    nonisolated(unsafe) static let engine: dnnl_engine_t? = {
        var e: dnnl_engine_t?
        return dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success ? e : nil
    }()

    /// A created matmul primitive and the name of the implementation oneDNN chose ("brg:avx2", …).
    final class Matmul: @unchecked Sendable {
        let primitive: dnnl_primitive_t
        let implementation: String
        init(primitive: dnnl_primitive_t, implementation: String) { (self.primitive, self.implementation) = (primitive, implementation) }
        deinit { dnnl_primitive_destroy(primitive) }
    }

    private struct Key: Hashable { var shape: GEMMShape; var bf16: Bool }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var primitives: [Key: Matmul?] = [:]

    /// Keeps oneDNN's OpenMP team the size of the BLAS thread count (the setting is per calling thread).
    @inline(__always)
    static func matchThreads() {
        let t = Int32(BLASThreads.current)
        if omp_get_max_threads() != t { omp_set_num_threads(t) }
    }

    /// The matmul primitive for `shape` with f32 (or bf16) operands and an f32 result; nil when oneDNN has no fast
    /// one (only its reference kernels, e.g. bf16 without AVX512-BF16/AMX) or no engine. Created on first use, cached.
    static func matmul(_ shape: GEMMShape, bf16: Bool) -> Matmul? {
        let key = Key(shape: shape, bf16: bf16)
        lock.lock()
        if let p = primitives[key] { lock.unlock(); return p }
        lock.unlock()
        matchThreads()
        let made = create(shape, bf16: bf16)
        lock.lock()
        primitives[key] = made
        lock.unlock()
        return made
    }

    private static func descriptor(rows: Int, cols: Int, rowStride: Int, colStride: Int, _ type: dnnl_data_type_t) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        let dims: [Int64] = [Int64(rows), Int64(cols)], strides: [Int64] = [Int64(rowStride), Int64(colStride)]
        _ = dnnl_memory_desc_init_by_strides(&md, 2, dims, type, strides)
        return md
    }

    /// Memory descriptors of A (m×k), B (k×n) and C (m×n) as laid out in `shape`.
    private static func descriptors(_ s: GEMMShape, bf16: Bool) -> (a: dnnl_memory_desc_t, b: dnnl_memory_desc_t, c: dnnl_memory_desc_t) {
        let t = bf16 ? dnnl_bf16 : dnnl_f32
        let a = s.transA ? descriptor(rows: s.m, cols: s.k, rowStride: 1, colStride: s.lda, t)
            : descriptor(rows: s.m, cols: s.k, rowStride: s.lda, colStride: 1, t)
        let b = s.transB ? descriptor(rows: s.k, cols: s.n, rowStride: 1, colStride: s.ldb, t)
            : descriptor(rows: s.k, cols: s.n, rowStride: s.ldb, colStride: 1, t)
        return (a, b, descriptor(rows: s.m, cols: s.n, rowStride: s.ldc, colStride: 1, dnnl_f32))
    }

    private static func create(_ s: GEMMShape, bf16: Bool) -> Matmul? {
        guard let engine else { return nil }
        var (a, b, c) = descriptors(s, bf16: bf16)
        var desc = dnnl_matmul_desc_t()
        guard dnnl_matmul_desc_init(&desc, &a, &b, nil, &c) == dnnl_success else { return nil }
        var attr: dnnl_primitive_attr_t?
        guard dnnl_primitive_attr_create(&attr) == dnnl_success else { return nil }
        defer { dnnl_primitive_attr_destroy(attr) }
        if s.accumulate {
            var ops: dnnl_post_ops_t?
            guard dnnl_post_ops_create(&ops) == dnnl_success else { return nil }
            defer { dnnl_post_ops_destroy(ops) }
            guard dnnl_post_ops_append_sum(ops, 1) == dnnl_success, dnnl_primitive_attr_set_post_ops(attr, ops) == dnnl_success else { return nil }
        }
        var pd: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&pd, &desc, attr, engine, nil) == dnnl_success, let pd else { return nil }
        defer { dnnl_primitive_desc_destroy(pd) }
        // oneDNN's reference kernels (its fallback for layouts or types the CPU has no fast kernel for, e.g. bf16
        // without AVX512-BF16) are far slower than OpenBLAS: treat them as no primitive.
        let implementation = implementationName(pd)
        guard !implementation.hasPrefix("ref") else { return nil }
        var prim: dnnl_primitive_t?
        guard dnnl_primitive_create(&prim, pd) == dnnl_success, let prim else { return nil }
        return Matmul(primitive: prim, implementation: implementation)
    }

    /// The name of the implementation behind a primitive descriptor ("brg:avx2", "jit:avx2", "ref:any", …).
    static func implementationName(_ pd: const_dnnl_primitive_desc_t) -> String {
        var info: UnsafePointer<CChar>?
        _ = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info)
        return info.map { String(cString: $0) } ?? "?"
    }

    /// Runs `shape` on oneDNN: C = op(A)·op(B) (+ C). A and B hold f32 values, or bf16 bit patterns when `bf16`.
    /// Returns false (nothing written) when oneDNN has no primitive for it.
    static func run(_ shape: GEMMShape, bf16: Bool, a: UnsafeRawPointer, b: UnsafeRawPointer, c: UnsafeMutablePointer<Float>) -> Bool {
        guard let engine, let mm = matmul(shape, bf16: bf16) else { return false }
        matchThreads()
        var (ad, bd, cd) = descriptors(shape, bf16: bf16)
        var am: dnnl_memory_t?, bm: dnnl_memory_t?, cm: dnnl_memory_t?, stream: dnnl_stream_t?
        defer {
            if let am { dnnl_memory_destroy(am) }
            if let bm { dnnl_memory_destroy(bm) }
            if let cm { dnnl_memory_destroy(cm) }
            if let stream { dnnl_stream_destroy(stream) }
        }
        guard dnnl_memory_create(&am, &ad, engine, UnsafeMutableRawPointer(mutating: a)) == dnnl_success,
              dnnl_memory_create(&bm, &bd, engine, UnsafeMutableRawPointer(mutating: b)) == dnnl_success,
              dnnl_memory_create(&cm, &cd, engine, UnsafeMutableRawPointer(c)) == dnnl_success,
              dnnl_stream_create(&stream, engine, UInt32(dnnl_stream_default_flags.rawValue)) == dnnl_success
        else { return false }
        // DNNL_ARG_SRC = 1, DNNL_ARG_DST = 17, DNNL_ARG_WEIGHTS = 33.
        let args = [dnnl_exec_arg_t(arg: 1, memory: am), dnnl_exec_arg_t(arg: 33, memory: bm), dnnl_exec_arg_t(arg: 17, memory: cm)]
        guard dnnl_primitive_execute(mm.primitive, stream, Int32(args.count), args) == dnnl_success else { return false }
        return dnnl_stream_wait(stream) == dnnl_success
    }

    /// The implementation oneDNN chose for `shape` ("brg:avx2", "gemm:jit", …), nil if none.
    public static func implementation(_ shape: GEMMShape, bf16: Bool = false) -> String? { matmul(shape, bf16: bf16)?.implementation }
}
