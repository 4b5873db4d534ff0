// The published voice-to-face protocols as jobs: SF2F's generation metrics (utils/s2f_evaluator.py: per-identity
// mean embeddings, cosine / L1 / L2, recall@k among the first N identities), Wen et al.'s 1:2 matching, and the
// CMPC association metrics (verification ROC AUC / EER, 1:2 matching V→F and F→V, retrieval mAP).
import Foundation
import VoiceStyleHub
import VoiceStyleAudio
import VoiceStyleEngine
import VoiceStylePipeline
import VoiceStyleFaces
import VoiceStyleImaging
import VoiceStyleIndex
import VoiceStyleModels

/// A CSV list `path,identity[,…]` (paths relative to the CSV's folder), or for faces also a folder per identity.
struct LabelledFiles {
    var files: [(path: String, identity: String)]

    static func read(_ path: String, field: String) throws -> LabelledFiles {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw JobError(field: field, "\(path) does not exist") }
        if isDir.boolValue {
            return LabelledFiles(files: FileTree.files(under: URL(fileURLWithPath: path))
                .filter { $0.parts.count >= 2 && FileTree.isPhoto($0.url) }
                .map { ($0.url.path, $0.parts[0]) })
        }
        let table = try CSVTable.read(URL(fileURLWithPath: path))
        guard let p = table.header.firstIndex(of: "path"), let i = table.header.firstIndex(of: "identity") else {
            throw JobError(field: field, "\(path): the header must name the columns path and identity (got \(table.header.joined(separator: ",")))")
        }
        let root = URL(fileURLWithPath: path).deletingLastPathComponent()
        return LabelledFiles(files: table.rows.filter { $0.count > max(p, i) && !$0[p].isEmpty }.map {
            (CSVTable.resolve($0[p], root: root), $0[i])
        })
    }
}

/// `eval generation`: faces generated from voices against the speakers' true faces (SF2F, Wen et al.).
public struct EvalGenerationRequest: Codable, Sendable, Equatable {
    /// CSV `identity,voice[,generated][,gender]`; rows without `generated` are inferred (into `out/generated/`).
    public var manifest: String
    /// True faces: a folder per identity, or a CSV `path,identity`.
    public var trueFaces: String
    public var out: String
    /// How missing faces are inferred (voice and out are set per row); nil: every row must name its face.
    public var infer: InferRequest?
    public var identityModel = IdentityModelKind.dlib
    public var irse50: String?
    /// FFHQ-align generated and true faces before embedding.
    public var align: AlignOptions?
    /// Recall@k among the first N identities of the manifest (SF2F: 100).
    public var among = 100

    public init(manifest: String, trueFaces: String, out: String) {
        self.manifest = manifest
        self.trueFaces = trueFaces
        self.out = out
    }

    public func validate() throws {
        try Check.file("manifest", manifest)
        try Check.range("among", among, 2...1_000_000)
        try align?.validate()
    }
}

/// One identity's figures.
public struct IdentityGenerationScore: Codable, Sendable, Equatable {
    public var identity: String
    public var generated: Int
    public var trueFaces: Int
    public var cosine: Double
    public var l1: Double
    public var l2: Double
}

/// report.json of `eval generation`.
public struct EvalGenerationReport: Codable, Sendable, Equatable {
    public var request: EvalGenerationRequest
    public var model: String
    /// Set when the evaluation model is the identity-loss model of inference (the protocol wants another).
    public var warning: String?
    public var identities: [IdentityGenerationScore]
    public var cosine: Double
    public var l1: Double
    public var l2: Double
    /// Among the first `among` identities (or all, when fewer).
    public var among: Int
    public var recallAtK: [String: Double]
    public var matching12: Double?
    /// Whether impostors were limited to the same gender (a gender column was given).
    public var matchingSameGender: Bool
    public var inferred: Int
    public var skipped: [SkippedItem]
    public var seconds: Double
}

extension Jobs {
    /// The k of recall@k (SF2F's table).
    public static let recallKs = [1, 2, 5, 10, 20, 50]

    /// Infers the missing faces (resumable: a face already in `out/generated/` is kept), embeds generated and
    /// true faces, and writes report.json and results.md into `out`.
    public static func evalGeneration(_ request: EvalGenerationRequest, models: ModelLoader, progress: JobProgress = { _ in }) throws -> EvalGenerationReport {
        try request.validate()
        let start = Date()
        let out = try Check.outputFolder("out", request.out)
        let table = try CSVTable.read(URL(fileURLWithPath: request.manifest))
        let h = table.header
        guard let ci = h.firstIndex(of: "identity"), let cv = h.firstIndex(of: "voice") else {
            throw JobError(field: "manifest", "\(request.manifest): the header must name the columns identity and voice (got \(h.joined(separator: ",")))")
        }
        let cg = h.firstIndex(of: "generated"), cs = h.firstIndex(of: "gender")
        let root = URL(fileURLWithPath: request.manifest).deletingLastPathComponent()
        func resolve(_ p: String) -> String { CSVTable.resolve(p, root: root) }
        let truth = try LabelledFiles.read(request.trueFaces, field: "trueFaces")
        var skipped: [SkippedItem] = []
        // 1. The generated faces: given, already made, or inferred now.
        let generatedDir = out.appendingPathComponent("generated")
        try FileManager.default.createDirectory(at: generatedDir, withIntermediateDirectories: true)
        var rows: [(identity: String, face: String)] = [], gender: [String: String] = [:], inferred = 0
        for (n, row) in table.rows.enumerated() where row.count > max(ci, cv) && !row[ci].isEmpty {
            let identity = row[ci]
            if let cs, row.count > cs, !row[cs].isEmpty { gender[identity] = row[cs].lowercased() }
            if let cg, row.count > cg, !row[cg].isEmpty { rows.append((identity, resolve(row[cg]))); continue }
            let safe = identity.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }
            let file = generatedDir.appendingPathComponent(String(format: "%05d_", n + 1) + String(safe) + ".png")
            if !FileManager.default.fileExists(atPath: file.path) {
                guard var infer = request.infer else {
                    throw JobError(field: "manifest", "row \(n + 1) names no generated face; give an index ({index}) to infer it")
                }
                progress(JobEvent(stage: "infer", done: n, total: table.rows.count, detail: identity))
                infer.voice = resolve(row[cv])
                do {
                    let result = try Jobs.infer(infer, models: models)
                    try PNGCodec.write(result.face, to: file)
                    inferred += 1
                } catch let e as AudioError {
                    // A clip that cannot be used (unreadable, no speech) is this row's problem; anything else
                    // (index, models) would fail every row and ends the job.
                    skipped.append(SkippedItem(path: infer.voice, reason: plainMessage(e)))
                    continue
                }
            }
            rows.append((identity, file.path))
        }
        // 2. Embeddings, the mean per identity (SF2F's average policy), in the manifest's identity order.
        let embedder = try IdentityEmbedder(request.identityModel, irse50: request.irse50, models: models)
        func embed(_ path: String) -> [Float]? {
            do {
                var image = try ImageFile.read(URL(fileURLWithPath: path))
                if let align = request.align {
                    guard let face = try PhotoAligner.align(image, options: align).faces.first else {
                        skipped.append(SkippedItem(path: path, reason: "no face found"))
                        return nil
                    }
                    image = face.image
                }
                return try embedder.embed(image).vector
            } catch {
                skipped.append(SkippedItem(path: path, reason: plainMessage(error)))
                return nil
            }
        }
        var order: [String] = []
        for r in rows where !order.contains(r.identity) { order.append(r.identity) }
        var predicted: [String: [[Float]]] = [:], actual: [String: [[Float]]] = [:]
        let wanted = Set(order)
        let truthFiles = truth.files.filter { wanted.contains($0.identity) }
        let total = rows.count + truthFiles.count
        for (n, r) in rows.enumerated() {
            progress(JobEvent(stage: "embed faces", done: n, total: total, detail: r.face))
            if let v = embed(r.face) { predicted[r.identity, default: []].append(v) }
        }
        for (n, f) in truthFiles.enumerated() {
            progress(JobEvent(stage: "embed faces", done: rows.count + n, total: total, detail: f.path))
            if let v = embed(f.path) { actual[f.identity, default: []].append(v) }
        }
        progress(JobEvent(stage: "embed faces", done: total, total: total))
        let ids = order.filter {
            if predicted[$0] == nil { skipped.append(SkippedItem(path: $0, reason: "no usable generated face")) }
            if actual[$0] == nil { skipped.append(SkippedItem(path: $0, reason: "no usable true face")) }
            return predicted[$0] != nil && actual[$0] != nil
        }
        guard ids.count >= 2 else { throw JobError("fewer than two identities have both a generated and a true face (see the skipped list)") }
        let p = ids.map { Metrics.mean(predicted[$0]!) }, t = ids.map { Metrics.mean(actual[$0]!) }
        let scores = ids.indices.map { i in
            IdentityGenerationScore(identity: ids[i], generated: predicted[ids[i]]!.count, trueFaces: actual[ids[i]]!.count,
                                    cosine: Metrics.cosine(p[i], t[i]), l1: Metrics.l1(p[i], t[i]), l2: Metrics.l2(p[i], t[i]))
        }
        let n = min(request.among, ids.count)
        let similarity = (0..<n).map { i in (0..<n).map { j in Metrics.cosine(p[i], t[j]) } }
        let recall = Metrics.recallAtK(similarity: similarity, ks: recallKs)
        let sameGender = !gender.isEmpty
        let matching = Metrics.matching12(similarity: similarity) { i, j in !sameGender || gender[ids[i]] == gender[ids[j]] }
        func avg(_ f: (IdentityGenerationScore) -> Double) -> Double { scores.reduce(0) { $0 + f($1) } / Double(scores.count) }
        let report = EvalGenerationReport(
            request: request, model: "\(embedder.kind.rawValue): \(embedder.model)",
            warning: embedder.kind == .irse50 ? "the evaluation model IR-SE50 is the identity-loss model of inference: prefer {identityModel} dlib" : nil,
            identities: scores, cosine: avg(\.cosine), l1: avg(\.l1), l2: avg(\.l2), among: n,
            recallAtK: Dictionary(uniqueKeysWithValues: recall.map { ("\($0.key)", $0.value) }), matching12: matching, matchingSameGender: sameGender,
            inferred: inferred, skipped: skipped, seconds: Date().timeIntervalSince(start))
        try reportJSON(EvalGenerationRequest.envelope(report)).writeOutput(to: out.appendingPathComponent("report.json"))
        let ks = recallKs.map { "R@\($0)" }.joined(separator: " | ")
        let md = """
            | identity model | identities | cosine | L1 | L2 | \(ks) | 1:2 matching |
            |---|---|---|---|---|\(recallKs.map { _ in "---|" }.joined())---|
            | \(report.model) | \(ids.count) (R@k among \(n)) | \(String(format: "%.4f", report.cosine)) | \(String(format: "%.3f", report.l1)) | \(String(format: "%.4f", report.l2)) | \
            \(recallKs.map { String(format: "%.1f %%", 100 * (recall[$0] ?? 0)) }.joined(separator: " | ")) | \(matching.map { String(format: "%.1f %%", 100 * $0) } ?? "–") |

            """
        try Data(md.utf8).writeOutput(to: out.appendingPathComponent("results.md"))
        let plotted = recallKs.filter { $0 <= n }
        try Plot.recallAtK(series: [(embedder.kind.rawValue, plotted, plotted.map { recall[$0] ?? 0 })], title: "recall@k among \(n) identities")
            .write(to: out, name: "recall_at_k")
        return report
    }
}

/// Verification pairs: our CSV `voice,face,label` or a CMPC / Learnable-PINs list (no header:
/// `id,voice-speaker-id,face-speaker-id,label,voice-path,face-path`), which also names the files' identities.
struct VerificationList {
    var pairs: [(voice: String, face: String, same: Bool)]
    var voices: [(path: String, identity: String)]?
    var faces: [(path: String, identity: String)]?

    static func read(_ path: String, dataRoot: String?) throws -> VerificationList {
        let table = try CSVTable.read(URL(fileURLWithPath: path))
        let listRoot = URL(fileURLWithPath: path).deletingLastPathComponent()
        /// A label: 1/true (same person) or 0/false (not); anything else is refused, never read as "not".
        func same(_ s: String, row: Int) throws -> Bool {
            switch s.trimmingCharacters(in: .whitespaces).lowercased() {
            case "1", "true": return true
            case "0", "false": return false
            default: throw JobError(field: "pairs", "\(path) row \(row): the label must be 1 or 0 (or true or false) (got '\(s.prefix(40))')")
            }
        }
        if let cv = table.header.firstIndex(of: "voice"), let cf = table.header.firstIndex(of: "face"), let cl = table.header.firstIndex(of: "label") {
            func resolve(_ p: String) -> String { CSVTable.resolve(p, root: listRoot) }
            return VerificationList(pairs: try table.rows.enumerated().map { n, r in
                guard r.count > max(cv, cf, cl) else {
                    throw JobError(field: "pairs", "\(path) row \(n + 1) has \(r.count) fields; the header names \(table.header.count)")
                }
                return (resolve(r[cv]), resolve(r[cf]), try same(r[cl], row: n + 1))
            })
        }
        let rows = ([table.header] + table.rows).filter { $0.count >= 6 && !$0[4].isEmpty }
        guard !rows.isEmpty, rows.count == table.rows.count + 1 else {
            throw JobError(field: "pairs", "\(path) is neither a CSV with the columns voice, face and label nor a CMPC list (id,voice-speaker-id,face-speaker-id,label,voice-path,face-path)")
        }
        let root = dataRoot.map { URL(fileURLWithPath: $0) } ?? listRoot
        func resolve(_ p: String) -> String {
            CSVTable.resolve(p.trimmingCharacters(in: .whitespaces), root: root)
        }
        var voices: [String: String] = [:], faces: [String: String] = [:]
        let pairs = try rows.enumerated().map { n, r -> (voice: String, face: String, same: Bool) in
            let v = resolve(r[4]), f = resolve(r[5])
            voices[v] = r[1].trimmingCharacters(in: .whitespaces)
            faces[f] = r[2].trimmingCharacters(in: .whitespaces)
            return (v, f, try same(r[3], row: n + 1))
        }
        return VerificationList(pairs: pairs, voices: voices.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                                faces: faces.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }
}

/// `eval association`: how well a CMPC checkpoint associates voices with faces.
public struct EvalAssociationRequest: Codable, Sendable, Equatable {
    /// CMPC checkpoint (default checkpoints/model_best_256.pth.tar).
    public var cmpc: String?
    /// CSV `path,identity` of voice clips (nil: the voices of a CMPC verification list in `pairs`).
    public var voices: String?
    /// CSV `path,identity` of face photos, or a folder per identity (nil: the faces of a CMPC list in `pairs`).
    public var faces: String?
    /// Verification pairs (default: every voice with every face): a CSV `voice,face,label` (label 1 = same
    /// person), or a CMPC / Learnable-PINs verification list (`data/veriflist/*.txt`: no header,
    /// `id,voice-speaker-id,face-speaker-id,label,voice-path,face-path`).
    public var pairs: String?
    /// Folder the paths of a CMPC list start from (default: the list's folder).
    public var dataRoot: String?
    /// 1:2 trials per voice (and per face): random (true, impostor) pairs, seeded.
    public var trials = 100
    public var seed: UInt64 = 0
    public var out: String?

    public init(voices: String?, faces: String?) {
        self.voices = voices
        self.faces = faces
    }

    public func validate() throws {
        if let voices { try Check.file("voices", voices) }
        if let pairs { try Check.file("pairs", pairs) }
        guard (voices != nil && faces != nil) || pairs != nil else {
            throw JobError("give {voices} and {faces}, or a CMPC verification list with {pairs}")
        }
        try Check.range("trials", trials, 1...1_000_000)
    }
}

/// report.json of `eval association`.
public struct EvalAssociationReport: Codable, Sendable, Equatable {
    public var request: EvalAssociationRequest
    public var cmpc: ModelRef
    public var voices: Int
    public var faces: Int
    public var identities: Int
    public var verification: Metrics.ROC?
    public var matchingVoiceToFace: Double?
    public var matchingFaceToVoice: Double?
    public var mapVoiceToFace: Double?
    public var mapFaceToVoice: Double?
    public var skipped: [SkippedItem]
    public var seconds: Double
}

extension Jobs {
    /// Embeds the voices and faces with CMPC (unit vectors, cosine scores) and reports verification, 1:2 matching
    /// and retrieval mAP.
    public static func evalAssociation(_ request: EvalAssociationRequest, models: ModelLoader, progress: JobProgress = { _ in }) throws -> EvalAssociationReport {
        try request.validate()
        let start = Date()
        let out = try request.out.map { try Check.outputFolder("out", $0) }
        let list = try request.pairs.map { try VerificationList.read($0, dataRoot: request.dataRoot) }
        let encoders = try models.encoders(request.cmpc)
        let ref = encoders.ref
        guard let voiceList = try request.voices.map({ try LabelledFiles.read($0, field: "voices").files }) ?? list?.voices,
              let faceList = try request.faces.map({ try LabelledFiles.read($0, field: "faces").files }) ?? list?.faces else {
            throw JobError(field: "pairs", "\(request.pairs ?? "") names no identities (a CSV voice,face,label): give {voices} and {faces} too")
        }
        var skipped: [SkippedItem] = []
        func unit(_ t: Tensor<Float>) -> [Float] { t.l2Normalized(axis: 1, eps: 1e-12).scalars }
        let total = voiceList.count + faceList.count
        var voices: [(path: String, identity: String, v: [Float])] = [], faces: [(path: String, identity: String, v: [Float])] = []
        for (n, f) in voiceList.enumerated() {
            progress(JobEvent(stage: "embed", done: n, total: total, detail: f.path))
            do {
                voices.append((f.path, f.identity, unit(try encoders.voice.embed(f.path))))
            } catch { skipped.append(SkippedItem(path: f.path, reason: plainMessage(error))) }
        }
        for (n, f) in faceList.enumerated() {
            progress(JobEvent(stage: "embed", done: voiceList.count + n, total: total, detail: f.path))
            do {
                faces.append((f.path, f.identity, encoders.face.embed(try ImageFile.read(URL(fileURLWithPath: f.path)))))
            } catch { skipped.append(SkippedItem(path: f.path, reason: plainMessage(error))) }
        }
        progress(JobEvent(stage: "embed", done: total, total: total))
        guard !voices.isEmpty, !faces.isEmpty else { throw JobError("no usable voice or no usable face (see the skipped list)") }
        func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
        let sim = voices.map { v in faces.map { dot(v.v, $0.v) } }
        // Verification: the listed pairs, or every voice with every face.
        var scores: [Double] = [], labels: [Bool] = []
        if let list {
            let vi = Dictionary(voices.enumerated().map { ($1.path, $0) }, uniquingKeysWith: { a, _ in a })
            let fi = Dictionary(faces.enumerated().map { ($1.path, $0) }, uniquingKeysWith: { a, _ in a })
            for (n, pair) in list.pairs.enumerated() {
                guard let i = vi[pair.voice], let j = fi[pair.face] else {
                    skipped.append(SkippedItem(path: "\(request.pairs ?? "") pair \(n + 1)", reason: "voice or face not among the embedded files"))
                    continue
                }
                scores.append(sim[i][j])
                labels.append(pair.same)
            }
        } else {
            for i in voices.indices { for j in faces.indices { scores.append(sim[i][j]); labels.append(voices[i].identity == faces[j].identity) } }
        }
        // 1:2 matching: seeded random (true, impostor) pairs per query, in both directions.
        var rng = SeededGenerator(seed: request.seed)
        func matching(queries: Int, candidates: [String], queryIdentity: (Int) -> String, score: (Int, Int) -> Double) -> Double? {
            var correct = 0.0, n = 0
            for q in 0..<queries {
                let id = queryIdentity(q)
                let same = candidates.indices.filter { candidates[$0] == id }, other = candidates.indices.filter { candidates[$0] != id }
                guard !same.isEmpty, !other.isEmpty else { continue }
                for _ in 0..<request.trials {
                    let t = score(q, same[Int.random(in: 0..<same.count, using: &rng)]), f = score(q, other[Int.random(in: 0..<other.count, using: &rng)])
                    correct += t > f ? 1 : t == f ? 0.5 : 0
                    n += 1
                }
            }
            return n == 0 ? nil : correct / Double(n)
        }
        let v2f = matching(queries: voices.count, candidates: faces.map(\.identity), queryIdentity: { voices[$0].identity }, score: { sim[$0][$1] })
        let f2v = matching(queries: faces.count, candidates: voices.map(\.identity), queryIdentity: { faces[$0].identity }, score: { sim[$1][$0] })
        let mapV = Metrics.meanAveragePrecision(similarity: sim, relevant: voices.map { v in faces.map { $0.identity == v.identity } })
        let simT = faces.indices.map { j in voices.indices.map { sim[$0][j] } }
        let mapF = Metrics.meanAveragePrecision(similarity: simT, relevant: faces.map { f in voices.map { $0.identity == f.identity } })
        let report = EvalAssociationReport(request: request, cmpc: ref, voices: voices.count, faces: faces.count,
                                           identities: Set(voices.map(\.identity) + faces.map(\.identity)).count,
                                           verification: Metrics.roc(scores: scores, labels: labels), matchingVoiceToFace: v2f, matchingFaceToVoice: f2v,
                                           mapVoiceToFace: mapV, mapFaceToVoice: mapF, skipped: skipped, seconds: Date().timeIntervalSince(start))
        if let out {
            try reportJSON(EvalAssociationRequest.envelope(report)).writeOutput(to: out.appendingPathComponent("report.json"))
            func pct(_ x: Double?) -> String { x.map { String(format: "%.1f", 100 * $0) } ?? "–" }
            let md = """
                | CMPC checkpoint | voices | faces | AUC | EER | 1:2 V→F | 1:2 F→V | mAP V→F | mAP F→V |
                |---|---|---|---|---|---|---|---|---|
                | \(URL(fileURLWithPath: ref.path).lastPathComponent) | \(voices.count) | \(faces.count) | \(pct(report.verification?.auc)) | \(pct(report.verification?.eer)) | \(pct(v2f)) | \(pct(f2v)) | \(pct(mapV)) | \(pct(mapF)) |

                """
            try Data(md.utf8).writeOutput(to: out.appendingPathComponent("results.md"))
            if let roc = report.verification { try writeROC(roc, name: "CMPC voice-face", title: "voice-face verification", to: out) }
        }
        return report
    }
}

extension EvalGenerationReport: PlainJobResult {}
extension EvalAssociationReport: PlainJobResult {}

extension EvalFacesRequest: JobRequest {
    public static let job = "eval faces", summary = "how well an identity model tells people apart"
    public func run(in c: JobContext) throws -> EvalFacesReport { try Jobs.evalFaces(self, models: c.models, progress: c.progress) }
}
extension EvalInversionRequest: JobRequest {
    public static let job = "eval inversion", summary = "the quality of an inversion run"
    public func run(in c: JobContext) throws -> EvalInversionReport { try Jobs.evalInversion(self, models: c.models, progress: c.progress) }
}
extension EvalGenerationRequest: JobRequest {
    public static let job = "eval generation", summary = "faces generated from voices against true faces"
    public func run(in c: JobContext) throws -> EvalGenerationReport { try Jobs.evalGeneration(self, models: c.models, progress: c.progress) }
}
extension EvalAssociationRequest: JobRequest {
    public static let job = "eval association", summary = "CMPC voice–face association"
    public func run(in c: JobContext) throws -> EvalAssociationReport { try Jobs.evalAssociation(self, models: c.models, progress: c.progress) }
}
