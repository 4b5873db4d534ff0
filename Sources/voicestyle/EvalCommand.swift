// `voicestyle eval …`: the evaluation jobs (EvalFacesRequest, EvalInversionRequest, EvalGenerationRequest, EvalAssociationRequest).
import ArgumentParser
import Foundation
import VoiceStyle

extension IdentityModelKind: ExpressibleByArgument {}

/// What every eval subcommand takes: the model-file folder, progress and JSON output.
struct EvalRunOptions: ParsableArguments {
    @OptionGroup var folder: CheckpointsOption
    @Flag(help: "No progress display.") var quiet = false
    @Flag(help: "Print the report as JSON.") var json = false

    var context: JobContext { JobContext(models: ModelLoader(locator: folder.locator), progress: ProgressPrinter(quiet: quiet || json).callAsFunction) }
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate: generated faces (SF2F, 1:2 matching), CMPC association, inversions, an identity model.",
        subcommands: [EvalGenerationCommand.self, EvalAssociationCommand.self, EvalInversionCommand.self, EvalFacesCommand.self])
}

struct EvalFacesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faces",
        abstract: "Rank-1 identification and verification AUC/EER of an identity model on a folder per identity.",
        discussion: """
            Every photo is embedded (dlib: the largest detected face, or the whole photo where none is found; \
            IR-SE50: resized and centre-cropped to 256 px); rank-1 is leave-one-out nearest neighbour by cosine, \
            verification scores every pair of photos. The sanity check of a model and of an alignment setting. \
            With --out, writes report.json and results.md (a Markdown table).
            """)

    @Argument(help: "Folder with one sub-folder of photos per identity.", completion: .directory)
    var faces: String
    @Option(help: "Identity model: dlib (ResNet, 128-d; scripts/setup fetches it) or irse50 (pSp's, the identity-loss model).")
    var identityModel: IdentityModelKind = .dlib
    @Option(help: "IR-SE50 weights (default checkpoints/model_ir_se50.pth).", completion: .file())
    var idModel: String?
    @Option(help: "Folder for report.json and results.md.", completion: .directory)
    var out: String?
    @OptionGroup var common: EvalRunOptions

    func run() throws {
        var request = EvalFacesRequest(faces: faces)
        (request.identityModel, request.irse50, request.out) = (identityModel, idModel, out)
        let r = try request.run(in: common.context)
        if common.json { return try printReport(EvalFacesRequest.envelope(r)) }
        for s in r.skipped { FileHandle.standardError.write(Data("skipped \(s.path): \(s.reason)\n".utf8)) }
        print("\(r.model): \(r.faces) faces of \(r.identities) identities (\(r.noFaceDetected) without a detected face), \(String(format: "%.1f", r.facesPerSecond)) faces/s")
        print(String(format: "rank-1 identification %.2f %%, verification AUC %.4f, EER %.2f %% (%d pairs)", 100 * r.rank1, r.auc, 100 * r.eer, r.pairs))
    }
}

struct EvalInversionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inversion",
        abstract: "Identity cosine, LPIPS, PSNR and MSE of each reconstruction in an `invert` output folder against its photo.",
        discussion: """
            The photo is prepared as the inversion saw it (aligned again when invert --align aligned it; resized and \
            centre-cropped to the reconstruction's size). LPIPS needs checkpoints/vgg16-397923af.pth and vgg.pth (or \
            --vgg) and is left out without them. Use an identity model other than the inversion's identity loss \
            (default dlib); irse50 is flagged in the report. With --out, writes report.json and results.md.
            """)

    @Argument(help: "A folder written by voicestyle invert.", completion: .directory)
    var folder: String
    @Option(help: "Identity model: dlib or irse50.")
    var identityModel: IdentityModelKind = .dlib
    @Option(help: "IR-SE50 weights (default checkpoints/model_ir_se50.pth).", completion: .file())
    var idModel: String?
    @Option(help: "torchvision VGG16 weights, or a whole lpips state dict.", completion: .file())
    var vgg: String?
    @Option(help: "LPIPS v0.1 lin weights.", completion: .file())
    var lpips: String?
    @Option(help: "Folder for report.json and results.md.", completion: .directory)
    var out: String?
    @OptionGroup var common: EvalRunOptions

    func run() throws {
        var request = EvalInversionRequest(folder: folder)
        (request.identityModel, request.irse50, request.vgg, request.lpips, request.out) = (identityModel, idModel, vgg, lpips, out)
        let r = try request.run(in: common.context)
        if common.json { return try printReport(EvalInversionRequest.envelope(r)) }
        for s in r.skipped { FileHandle.standardError.write(Data("skipped \(s.path): \(s.reason)\n".utf8)) }
        print(tableRow(["image", "id cos", "LPIPS", "PSNR dB", "MSE"], widths: [-32, 8, 8, 8, 9]))
        for q in r.images + (r.mean.map { [$0] } ?? []) {
            print(tableRow([URL(fileURLWithPath: q.file).lastPathComponent, String(format: "%.4f", q.identityCosine), q.lpips.map { String(format: "%.4f", $0) } ?? "-",
                            String(format: "%.2f", q.psnr), String(format: "%.5f", q.mse)], widths: [-32, 8, 8, 8, 9]))
        }
        print("identity model: \(r.model)")
    }
}

struct EvalGenerationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generation",
        abstract: "Faces generated from voices against the speakers' true faces: SF2F's cosine/L1/L2 and recall@k, 1:2 matching.",
        discussion: """
            The manifest is a CSV with the columns identity, voice and optionally generated (a face already made) \
            and gender (1:2 impostors then share the gender); paths are relative to the CSV. Rows without a \
            generated face are inferred with --index into OUT/generated/ (resumable: rerun the same command after an \
            interruption and finished faces are kept). Generated faces are averaged per identity in embedding \
            space (SF2F's policy) and compared with the mean of that identity's true faces (--true-faces: a folder \
            per identity or a CSV path,identity). Recall@1/2/5/10/20/50 among the first --among identities; 1:2 \
            matching over every allowed impostor (the expectation of the random-impostor protocol). Writes \
            report.json and results.md into --out.
            """)

    @Option(help: "CSV identity,voice[,generated][,gender].", completion: .file(extensions: ["csv"]))
    var manifest: String
    @Option(help: "True faces: a folder per identity, or a CSV path,identity.", completion: .file())
    var trueFaces: String
    @Option(help: "Prototype index for inferring missing faces.")
    var index: String?
    @Option(help: "Refinement steps of each inference.")
    var steps: Int = 100
    @Option(name: .customShort("k"), help: "Prototypes retrieved per voice.")
    var k: Int = 8
    @Option(help: "CMPC (default: the index's).", completion: .file())
    var cmpc: String?
    @OptionGroup var modelFiles: InversionModelOptions
    @OptionGroup var location: IndexLocation
    @Option(help: "Identity model: dlib or irse50.")
    var identityModel: IdentityModelKind = .dlib
    @Flag(help: "FFHQ-align generated and true faces before embedding.")
    var align = false
    @Option(help: "Recall@k among the first N identities (SF2F: 100).")
    var among: Int = 100
    @Option(help: "Output folder.", completion: .directory)
    var out: String
    @OptionGroup var common: EvalRunOptions

    func run() throws {
        var request = EvalGenerationRequest(manifest: manifest, trueFaces: trueFaces, out: out)
        (request.identityModel, request.irse50, request.among) = (identityModel, modelFiles.idModel, among)
        request.align = align ? AlignOptions() : nil
        if let index {
            var infer = InferRequest(voice: "", index: location.directory(index).path)
            infer.config.k = k
            infer.config.refinement.steps = steps
            infer.models = modelFiles.paths(cmpc: cmpc)
            try infer.config.validate()
            request.infer = infer
        }
        let r = try request.run(in: common.context)
        if common.json { return try printReport(EvalGenerationRequest.envelope(r)) }
        for s in r.skipped { FileHandle.standardError.write(Data("skipped \(s.path): \(s.reason)\n".utf8)) }
        if let w = r.warning { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        print(String(format: "%d identities (%d inferred now): cosine %.4f, L1 %.3f, L2 %.4f; 1:2 matching %@", r.identities.count, r.inferred, r.cosine, r.l1, r.l2,
                     r.matching12.map { String(format: "%.1f %%", 100 * $0) } ?? "-"))
        print("recall@k among \(r.among): " + Jobs.recallKs.map { "R@\($0) \(String(format: "%.1f %%", 100 * (r.recallAtK["\($0)"] ?? 0)))" }.joined(separator: ", "))
        print("wrote \(out)/report.json, results.md")
    }
}

struct EvalAssociationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "association",
        abstract: "A CMPC checkpoint's voice–face association: verification AUC/EER, 1:2 matching V→F and F→V, retrieval mAP.",
        discussion: """
            Lists are CSVs with the columns path and identity (paths relative to the CSV); faces may also be a \
            folder per identity. Verification scores the pairs of --pairs (a CSV voice,face,label with label 1 for the \
            same person, or a CMPC / Learnable-PINs verification list id,voice-speaker-id,face-speaker-id,label, \
            voice-path,face-path, which also supplies the voices and faces) or else every voice with every face; 1:2 matching draws --trials seeded (true, impostor) \
            pairs per query; mAP ranks every face for each voice and every voice for each face. Scores are cosines \
            of the L2-normalised CMPC embeddings.
            """)

    @Option(help: "CMPC checkpoint (default checkpoints/model_best_256.pth.tar).", completion: .file())
    var cmpc: String?
    @Option(help: "CSV path,identity of voice clips (default: those of a CMPC list in --pairs).", completion: .file(extensions: ["csv"]))
    var voices: String?
    @Option(help: "CSV path,identity of face photos, or a folder per identity (default: those of a CMPC list in --pairs).", completion: .file())
    var faces: String?
    @Option(help: "Verification pairs: CSV voice,face,label, or a CMPC list (data/veriflist/*.txt).", completion: .file())
    var pairs: String?
    @Option(help: "Folder the paths of a CMPC list start from (default: the list's folder).", completion: .directory)
    var dataRoot: String?
    @Option(help: "1:2 trials per query.")
    var trials: Int = 100
    @Option(help: "Seed of the 1:2 trials.")
    var seed: UInt64 = 0
    @Option(help: "Folder for report.json and results.md.", completion: .directory)
    var out: String?
    @OptionGroup var common: EvalRunOptions

    func run() throws {
        var request = EvalAssociationRequest(voices: voices, faces: faces)
        (request.cmpc, request.pairs, request.dataRoot, request.trials, request.seed, request.out) = (cmpc, pairs, dataRoot, trials, seed, out)
        let r = try request.run(in: common.context)
        if common.json { return try printReport(EvalAssociationRequest.envelope(r)) }
        for s in r.skipped { FileHandle.standardError.write(Data("skipped \(s.path): \(s.reason)\n".utf8)) }
        func pct(_ x: Double?) -> String { x.map { String(format: "%.1f %%", 100 * $0) } ?? "-" }
        print("\(r.voices) voices, \(r.faces) faces, \(r.identities) identities")
        print("verification AUC \(pct(r.verification?.auc)), EER \(pct(r.verification?.eer)); 1:2 V→F \(pct(r.matchingVoiceToFace)), F→V \(pct(r.matchingFaceToVoice)); mAP V→F \(pct(r.mapVoiceToFace)), F→V \(pct(r.mapFaceToVoice))")
    }
}
