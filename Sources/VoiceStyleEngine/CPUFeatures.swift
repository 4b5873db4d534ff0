// No upstream counterpart: which CPU runs the engine (model, ISA flags, the ISA oneDNN dispatches to), for
// choosing the matrix-product path and the precision at run time.
import CDNNL
import Foundation

/// What the running CPU offers the engine. `current` is read once from the system; tests bind `override` to
/// simulate another CPU (`CPUFeatures.$override.withValue(fake) { … }`, also on a plain thread).
public struct CPUFeatures: Sendable, Equatable, Codable {
    /// The CPU's model name (`/proc/cpuinfo` "model name"), e.g. "AMD EPYC 9R14 96-Core Processor".
    public var model: String
    /// The ISA oneDNN dispatches to ("avx2", "avx512_core", "avx512_core_bf16", "avx512_core_amx", …).
    public var isa: String
    /// The vector-extension flags the kernel reports that matter here (avx2, fma, avx512f, avx512_bf16, amx_bf16, …).
    public var flags: [String]

    public init(model: String, isa: String, flags: [String]) {
        self.model = model
        self.isa = isa
        self.flags = flags.sorted()
    }

    /// Whether products with bf16 operands run natively: oneDNN dispatches to AVX512-BF16 or AMX (a cap set
    /// with `ONEDNN_MAX_CPU_ISA` counts).
    public var hasNativeBF16: Bool {
        isa.contains("bf16") || isa.contains("amx")
    }

    /// One short name for messages: "AMD EPYC, avx2".
    public var summary: String { "\(model.isEmpty ? "unknown CPU" : model), \(isa)" }

    /// The key the per-shape path cache is stored under: it changes with the CPU model, its ISA or flags.
    public var cacheKey: String { "\(model)|\(isa)|\(flags.joined(separator: ","))" }

    /// The CPU this process runs on (or the bound `override`).
    public static var current: CPUFeatures { override ?? detected }

    /// A simulated CPU for tests; nil means the real one.
    @TaskLocal public static var override: CPUFeatures?

    /// The real CPU, read once.
    public static let detected: CPUFeatures = {
        var model = "", flags: [String] = []
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            for line in info.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let key = parts[0].trimmingCharacters(in: .whitespaces), value = parts[1].trimmingCharacters(in: .whitespaces)
                if key == "model name", model.isEmpty { model = value }
                if key == "flags", flags.isEmpty {
                    let wanted: Set<String> = ["sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                                               "avx512_bf16", "avx_vnni", "amx_bf16", "amx_tile", "amx_int8"]
                    flags = value.split(separator: " ").map(String.init).filter(wanted.contains)
                }
                if !model.isEmpty && !flags.isEmpty { break }
            }
        }
        return CPUFeatures(model: model, isa: DNNL.isaName(dnnl_get_effective_cpu_isa()), flags: flags)
    }()
}
