// Option groups shared by the subcommands (declared once: where indexes and model files are found, the model
// files of the jobs that invert, the projector's settings), and how the library's errors read on the command line.
import ArgumentParser
import Foundation
import VoiceStyle

/// Where `--index NAME` (and other index names) are found: README "Where files are found".
struct IndexLocation: ParsableArguments {
    @Option(help: "Folder holding the prototype indexes (default: ./prototypes, then $VOICESTYLE_PROTOTYPES).", completion: .directory)
    var prototypes: String?

    func directory(_ name: String) -> URL { IndexLocator(explicit: prototypes).directory(name) }
}

/// Where model files are found: the folder given, then $VOICESTYLE_CHECKPOINTS, ./checkpoints, the clone of the
/// binary, the user cache (`voicestyle doctor` prints the order).
struct CheckpointsOption: ParsableArguments {
    @Option(help: "Folder searched first for model files (then $VOICESTYLE_CHECKPOINTS, ./checkpoints, the clone's checkpoints/, ~/.cache/voicestyle/checkpoints).",
            completion: .directory)
    var checkpoints: String?

    var locator: ModelLocator { ModelLocator(explicit: checkpoints) }
}

/// Model-file options of the jobs that invert (generator and the projector's loss networks).
struct InversionModelOptions: ParsableArguments {
    @Option(help: "Generator checkpoint: StyleGAN2 (default 550000.pt from the checkpoints folders) or the face DCGAN (dcgan-faces-64.pth); demo:generator: the demo's untrained one.", completion: .file())
    var generator: String?
    @Option(help: "torchvision VGG16 weights (default vgg16-397923af.pth), or a whole lpips state dict.", completion: .file())
    var vgg: String?
    @Option(help: "LPIPS v0.1 lin weights (default vgg.pth).", completion: .file())
    var lpips: String?
    @Option(help: "IR-SE50 weights (default model_ir_se50.pth); not loaded when the identity weight is 0.", completion: .file())
    var idModel: String?
    @OptionGroup var folder: CheckpointsOption

    func paths(cmpc: String? = nil) -> ModelPaths { ModelPaths(generator: generator, cmpc: cmpc, identity: idModel, vgg: vgg, lpips: lpips) }

    /// The loader of a job: files found through the checkpoints folders; "demo:…" names (here or in `extra`)
    /// select the demo's untrained models.
    func loader(_ extra: String?...) throws -> ModelLoader {
        try Demo.loader(for: [generator, vgg, lpips, idModel] + extra, locator: folder.locator)
    }
}

/// The projector's settings (`invert`, `index invert`); defaults are voicestyle's (ProjectorConfig).
struct ProjectorOptions: ParsableArguments {
    @Option(help: "Optimisation steps (voicestyle: 300; rosinality's CLI: 1000).")
    var steps: Int = 300
    @Option(help: "Peak learning rate.")
    var lr: Double = 0.1
    @Option(help: "Weight of the identity loss (0 disables it and skips IR-SE50).")
    var idWeight: Double = 1
    @Option(help: "Weight of LPIPS-VGG16 (0 leaves it out and its files unread).")
    var lpipsWeight: Double = 1
    @Option(help: "Weight of the pixel MSE.")
    var mse: Double = 0
    @Flag(help: "Optimise one latent per generator layer (W+) instead of W.")
    var wPlus = false
    @Option(help: "Seed (mean-latent samples, initial noise maps, latent noise).")
    var seed: UInt64 = 0
    @Option(help: "z samples for the mean W and its σ.")
    var meanSamples: Int = 10_000

    var config: ProjectorConfig {
        var c = ProjectorConfig()
        (c.steps, c.learningRate, c.identityWeight, c.mse, c.wPlus, c.meanLatentSamples) = (steps, lr, idWeight, mse, wPlus, meanSamples)
        c.perceptualWeight = lpipsWeight
        return c
    }
}

extension Precision: ExpressibleByArgument {}

/// `--precision` of the optimisation loops (`infer`, `invert`, `index invert`).
struct PrecisionOption: ParsableArguments {
    @Option(help: """
        Precision of the optimisation's large matrix products: auto (bf16 where the CPU has AVX512-BF16 or AMX, else         fp32), fp32, bf16, or bf16-emulated (bf16's rounding on any CPU, for comparisons; not faster).
        """)
    var precision: Precision = .auto
}

/// How a request field is written on the command line where its flag is not the field's own name in kebab case.
let flagOfField: [String: String] = [
    "index": "--index", "refinement.steps": "--steps", "images": "IMAGES", "inputs": "INPUTS", "parts": "PARTS", "output": "OUTPUT",
    "file": "FILE", "identity": "--id-model", "identityWeight": "--id-weight", "meanLatentSamples": "--mean-samples",
    "projector.steps": "--steps", "perceptualWeight": "--lpips-weight", "folder": "--checkpoints", "lrMLP": "--lr-mlp",
]

/// One plain sentence for an error, request fields shown as their flags (`invertSteps` → `--invert-steps`), long
/// values cut (`shortened`).
func commandLineMessage(_ error: Error) -> String {
    if let e = error as? JobError { return shortened(e.rendered { flagOfField[$0] ?? JobError.flag($0) }) }
    return shortened(plainMessage(error))
}
