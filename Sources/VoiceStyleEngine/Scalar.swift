// Element types of the engine (PyTorch's float32 / float64 dtypes) and their matrix-product entry points.
import COpenBLAS
import RealModule

/// A floating-point element type the engine computes in: `Float` for models, `Double` for reference checks.
///
/// Each conforming type supplies its BLAS matrix product, so every kernel is written once, generically.
public protocol TensorScalar: BinaryFloatingPoint, Real, Sendable where Self.RawSignificand: FixedWidthInteger {
    /// Row-major `C = alpha · op(A) · op(B) + beta · C` with `op(A)` of shape m×k and `op(B)` of shape k×n.
    /// Float products go through `MatrixPaths` (OpenBLAS or oneDNN per shape, bf16 modes); Double ones to OpenBLAS.
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// Human-readable dtype name ("float32", "float64").
    static var dtypeName: String { get }
}

extension Float: TensorScalar {
    @inlinable
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        MatrixPaths.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                          b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    public static var dtypeName: String { "float32" }
}

extension Double: TensorScalar {
    @inlinable
    public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
    public static var dtypeName: String { "float64" }
}

/// Threading of the matrix-product libraries. The engine runs one threading layer at a time: BLAS (or oneDNN's
/// OpenMP) threads inside a matrix product, or the engine's own `parallelFor` over planes, never both nested.
/// oneDNN's team is kept the size of OpenBLAS's (`DNNL` sets it before each product).
public enum BLASThreads {
    /// Sets the number of OpenBLAS (and so oneDNN) worker threads (default: all cores).
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    /// The number of OpenBLAS worker threads in use.
    public static var current: Int { Int(openblas_get_num_threads()) }
}
