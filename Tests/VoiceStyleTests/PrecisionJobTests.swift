// `--precision` through the jobs (Sources/VoiceStylePipeline: InferenceConfig, InvertRequest, InvertPrototypesRequest,
// LatentKey): refused at entry on a CPU without bf16 (simulated through CPUFeatures.override), part of the
// latent-cache key, old keys read as fp32.
import Foundation
import Testing
import VoiceStyle
import VoiceStyleTestSupport

/// An AVX2-only CPU, as the project's EPYC machines.
private let avx2 = CPUFeatures(model: "AMD EPYC (simulated)", isa: "avx2", flags: ["avx2", "fma"])

@Suite("Precision of the jobs")
struct PrecisionJobTests {
    @Test("bf16 is refused at entry, in one sentence naming the CPU's ISA, on a CPU without it; auto and fp32 pass")
    func refusedWithoutBF16() throws {
        try CPUFeatures.$override.withValue(avx2) {
            var invert = InvertRequest(images: ["a.png"])
            invert.precision = .bf16
            var config = InferenceConfig()
            config.precision = .bf16
            var prototypes = InvertPrototypesRequest(index: "idx")
            prototypes.precision = .bf16
            for validate in [invert.validate, config.validate, prototypes.validate] {
                #expect(throws: JobError(field: "precision", "bf16 needs AVX512-BF16 or AMX; this CPU (AMD EPYC (simulated), avx2) has neither; use auto or fp32")) {
                    try validate()
                }
            }
            for p in [Precision.auto, .fp32, .bf16Emulated] {
                invert.precision = p
                config.precision = p
                try invert.validate()
                try config.validate()
            }
        }
    }

    @Test("the CLI refuses --precision bf16 on this CPU when it has no bf16 (skipped where it has)")
    func cliRefusal() throws {
        guard !CPUFeatures.detected.hasNativeBF16 else {
            print("skipped: this CPU (\(CPUFeatures.detected.summary)) has native bf16, so --precision bf16 is accepted")
            return
        }
        let cwd = FileManager.default.temporaryDirectory.appendingPathComponent("vs-precision-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: cwd) }
        let r = try runTool(["invert", "nothing.png", "--out", cwd.appendingPathComponent("out").path, "--precision", "bf16"], in: cwd)
        #expect(r.status != 0 && r.stderr.contains("--precision bf16 needs AVX512-BF16 or AMX; this CPU ("), "\(r.stderr)")
        #expect(r.stderr.contains("has neither; use auto or fp32"), "\(r.stderr)")
    }

    @Test("the precision is part of the latent key; keys stored before it read as fp32")
    func latentKey() {
        let settings = PrototypeInversionSettings()
        let fp32 = LatentKey(generator: "abc", settings: settings), bf16 = LatentKey(generator: "abc", settings: settings, precision: .bf16)
        #expect(fp32.precision == .fp32 && LatentKey(json: bf16.json) == bf16)
        #expect(bf16.mismatch(fp32) == "inverted in fp32 instead of bf16")
        #expect(fp32.mismatch(LatentKey(generator: "abc", settings: settings, precision: .bf16Emulated)) == "inverted in bf16-emulated instead of fp32")
        let old = fp32.json.replacingOccurrences(of: ",\"precision\":\"fp32\"", with: "")
        #expect(!old.contains("precision") && LatentKey(json: old) == fp32)
    }
}
