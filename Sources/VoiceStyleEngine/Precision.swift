// No upstream counterpart (upstream computes in float32 throughout): the precision of the engine's large matrix
// products, bf16 native or emulated, chosen per job and bound task-locally around the optimisation loops.

/// The precision a job asks for. `auto`: bf16 where the CPU multiplies bf16 natively (AVX512-BF16 or AMX),
/// fp32 elsewhere. `bf16-emulated` rounds the operands to bf16 and multiplies in fp32, on any CPU: the
/// numerics of bf16 for tests and comparisons, not a speed-up.
public enum Precision: String, Codable, Sendable, CaseIterable {
    case auto, fp32, bf16
    case bf16Emulated = "bf16-emulated"

    /// What the products will do on `cpu`; throws `PrecisionUnsupported` for `bf16` on a CPU without it.
    public func resolve(cpu: CPUFeatures = .current) throws -> ComputePrecision {
        switch self {
        case .auto: return cpu.hasNativeBF16 ? .bf16 : .fp32
        case .fp32: return .fp32
        case .bf16Emulated: return .bf16Emulated
        case .bf16:
            guard cpu.hasNativeBF16 else { throw PrecisionUnsupported(cpu: cpu) }
            return .bf16
        }
    }
}

/// `bf16` asked for on a CPU without native bf16 products.
public struct PrecisionUnsupported: Error, CustomStringConvertible, Equatable {
    public var cpu: CPUFeatures
    /// One sentence naming the CPU and its ISA (front-ends prefix the option's name).
    public var description: String {
        "bf16 needs AVX512-BF16 or AMX; this CPU (\(cpu.summary)) has neither; use auto or fp32"
    }
}

/// What the large matrix products of the engine do, bound around a computation with `run { … }` (a task-local
/// value, also on a plain thread). Products of fewer than `ComputePrecision.minimumMultiplyAdds` stay fp32.
/// Master values (latents, noise maps, Adam state) and every other op stay float32 in every mode.
public enum ComputePrecision: String, Codable, Sendable, CaseIterable {
    /// float32 operands (the default).
    case fp32
    /// bf16 operands, float32 accumulation and result, on oneDNN's native bf16 kernels.
    case bf16
    /// Operands rounded to bf16 (nearest even), multiplied and accumulated in float32.
    case bf16Emulated = "bf16-emulated"

    /// The precision bound on this thread or task.
    @TaskLocal public static var current: ComputePrecision = .fp32

    /// Products smaller than this many multiply-adds (e.g. linear layers at batch 1) stay fp32. Task-local, so
    /// that tests can put every product of a small fixture model in bf16 (bind 0).
    @TaskLocal public static var minimumMultiplyAdds = 1 << 21

    /// Runs `body` with the products in this precision.
    public func run<R>(_ body: () throws -> R) rethrows -> R {
        try ComputePrecision.$current.withValue(self) { try body() }
    }
}

/// bfloat16: the upper 16 bits of a float32.
public enum BF16 {
    /// The bf16 bit pattern of `x`, rounded to nearest, ties to even (NaN stays a quiet NaN; overflow gives ±inf).
    @inline(__always)
    public static func bits(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if b & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: (b | 0x0040_0000) >> 16) }
        return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
    }

    /// `x` rounded to the nearest bf16 value (ties to even), as a float32.
    @inline(__always)
    public static func round(_ x: Float) -> Float { Float(bitPattern: UInt32(bits(x)) << 16) }

    /// Copies a `rows`×`cols` block (rows `ld` apart) densely into `dst`, each value rounded to bf16.
    static func roundRows(_ src: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, into dst: UnsafeMutablePointer<Float>) {
        Parallel.forChunks(rows, costPerItem: cols) { rs in
            for r in rs {
                let s = src + r * ld, d = dst + r * cols
                for j in 0..<cols { d[j] = round(s[j]) }
            }
        }
    }

    /// Copies a `rows`×`cols` block (rows `ld` apart) densely into `dst` as bf16 bit patterns.
    static func convertRows(_ src: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, into dst: UnsafeMutablePointer<UInt16>) {
        Parallel.forChunks(rows, costPerItem: cols) { rs in
            for r in rs {
                let s = src + r * ld, d = dst + r * cols
                for j in 0..<cols { d[j] = bits(s[j]) }
            }
        }
    }
}
