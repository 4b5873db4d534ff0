// `voicestyle invert`: face photos in, StyleGAN2 latents out (voicestyle's project2latent).
import ArgumentParser
import Foundation
import VoiceStyle

struct InvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invert",
        abstract: "Find the generator latent that reproduces each face photo (voicestyle's projector; StyleGAN2 W/W+ or DCGAN z).",
        discussion: """
            Loss = lpips-weight × LPIPS-VGG16 (summed over the batch) + id-weight × IR-SE50 identity loss + 1e5 × \
            noise regulariser + mse × pixel MSE (+ the prior term on z for the DCGAN); Adam over the latent (W, or \
            W+ with --w-plus; z for the DCGAN) and the noise maps, with upstream's learning-rate ramp and latent \
            noise. The DCGAN's 64-px images are upsampled to 256 px for the loss networks, and a photo is first \
            cropped to its central 188 px of 256 (the framing of the DCGAN's training faces). Per image NAME it \
            writes NAME.npy (the latent: [1, 512] for W, [1, n_latent, 512] for W+, [1, 100] for z), NAME_noise.npz \
            (noise_0 …; none for the DCGAN), NAME.png (the reconstruction), \
            NAME_compare.png (target | reconstruction) and, for the run, report.json. Images are inverted \
            jointly as one batch (upstream) unless --independent. Model files are found in the checkpoints folders \
            (`voicestyle doctor` lists them).
            """)

    @Argument(help: "Face photos (JPEG or PNG).", completion: .file())
    var images: [String]

    @OptionGroup var modelFiles: InversionModelOptions

    @OptionGroup var projector: ProjectorOptions
    @OptionGroup var precisionOption: PrecisionOption

    @Flag(help: "Invert each image on its own instead of as one batch.")
    var independent = false

    @OptionGroup var alignment: AlignFlag

    @Option(help: "Output folder.", completion: .directory)
    var out: String

    @Flag(help: "No progress display.")
    var quiet = false

    func run() throws {
        var request = InvertRequest(images: images)
        request.projector = projector.config
        (request.seed, request.independent) = (projector.seed, independent)
        request.models = modelFiles.paths()
        request.align = alignment.options
        request.precision = precisionOption.precision
        try request.validate()
        let outURL = try prepareOutputFolder(out, field: "out")
        let result = try request.run(in: JobContext(models: modelFiles.loader(), progress: ProgressPrinter(quiet: quiet).callAsFunction))
        for s in result.report.skipped { FileHandle.standardError.write(Data("skipped \(s.path): \(s.reason)\n".utf8)) }
        try result.write(to: outURL)
        print("inverted \(result.outputs.count) of \(images.count) image(s) into \(out)")
    }
}
