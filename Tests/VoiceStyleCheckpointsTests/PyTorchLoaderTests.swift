// PyTorch checkpoints (zip and legacy) against the upstream fixtures; malicious and damaged input.
import Foundation
import Testing
@testable import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleTestSupport

private func local(_ name: String) -> URL { Fixtures.local("VoiceStyleCheckpointsTests", name) }

/// Expects two stored tensors to hold exactly the same values (compared as doubles, shape and dtype too).
private func expectSame(_ a: StoredTensor?, _ b: StoredTensor?, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let a, let b else { Issue.record("\(what): missing", sourceLocation: sourceLocation); return }
    #expect(a.shape == b.shape && a.dtype == b.dtype, "\(what): \(a.dtype)\(a.shape) vs \(b.dtype)\(b.shape)", sourceLocation: sourceLocation)
    #expect(a.doubles() == b.doubles(), "\(what): values differ", sourceLocation: sourceLocation)
}

@Suite("PyTorch checkpoints")
struct PyTorchLoaderTests {
    @Test("train-style and convert-style checkpoints equal the reference exactly", arguments: [
        ("ckpt_small_train_zip.pt", Checkpoint.Format.pytorchZip), ("ckpt_small_train_legacy.pt", .pytorchLegacy),
        ("ckpt_small_convert_zip.pt", .pytorchZip), ("ckpt_small_convert_legacy.pt", .pytorchLegacy),
    ])
    func trainAndConvert(_ c: (String, Checkpoint.Format)) throws {
        let ckpt = try Checkpoint.open(local(c.0))
        #expect(ckpt.format == c.1)
        let reference = try SafeTensorsFile.read(local("ckpt_small_reference.safetensors"))
        let gEma = try SafeTensorsFile.read(local("g_small_state_dict.safetensors"))
        let isTrain = c.0.contains("train")
        guard case let .dict(top) = ckpt.root else { Issue.record("root is not a dict"); return }
        #expect(top.keys == (isTrain ? ["g", "d", "g_ema", "g_optim", "d_optim", "args", "ada_aug_p", "latent_avg"] : ["g_ema", "latent_avg"]))
        // g_ema against its own reference; everything else against ckpt_small_reference.
        let g = try ckpt.tensors(under: "g_ema")
        #expect(g.map(\.name) == gEma.tensors.map(\.name).sorted(by: { a, b in g.firstIndex { $0.name == a }! < g.firstIndex { $0.name == b }! }))
        for (name, t) in g { expectSame(t, gEma[name], "g_ema.\(name)") }
        #expect(g.count == gEma.tensors.count)
        let others = ckpt.root.tensors().filter { !$0.path.hasPrefix("g_ema.") }
        for (path, t) in others { expectSame(t, reference[path], path) }
        let expected = reference.tensors.filter { isTrain || $0.name == "latent_avg" }
        #expect(others.count == expected.count, "\(others.count) tensors outside g_ema, reference has \(expected.count)")
        if isTrain {
            guard case let .dict(args) = try ckpt.value(at: "args") else { Issue.record("args is not a dict"); return }
            #expect(args.typeName == "argparse.Namespace")
            #expect(!args.entries.isEmpty)
            if case .float = try ckpt.value(at: "ada_aug_p") {} else { Issue.record("ada_aug_p is not a float") }
            #expect(try ckpt.value(at: "g_optim/state/0/step").typeName.hasPrefix("Tensor"))
        }
    }

    @Test("bare g_ema state dicts", arguments: ["g_ema_state_dict_zip.pt", "g_ema_state_dict_legacy.pt"])
    func bareStateDict(_ name: String) throws {
        let ckpt = try Checkpoint.open(local(name))
        let gEma = try SafeTensorsFile.read(local("g_small_state_dict.safetensors"))
        let tensors = try ckpt.tensors()
        #expect(tensors.count == gEma.tensors.count)
        for (n, t) in tensors { expectSame(t, gEma[n], n) }
        if case let .dict(d) = ckpt.root { #expect(d.typeName == "OrderedDict") } else { Issue.record("root is not a dict") }
    }

    @Test("edge cases: views with offsets and strides, shared storages, dtypes, int64, Python values",
          arguments: ["edge_cases_zip.pt", "edge_cases_legacy.pt"])
    func edgeCases(_ name: String) throws {
        let ckpt = try Checkpoint.open(local(name))
        let ref = try SafeTensorsFile.read(local("edge_cases_reference.safetensors"))
        for key in ["base", "view_row2", "view_transposed", "view_col_slice", "alias_of_base", "scalar0d", "empty"] {
            let t = try ckpt.tensor(at: key)
            #expect(t.tensor(Float.self).scalars == ref[key]!.tensor(Float.self).scalars && t.shape == ref[key]!.shape, "\(key)")
        }
        for (key, dtype) in [("f64", DType.float64), ("f16", .float16), ("bf16", .bfloat16), ("i32", .int32), ("u8", .uint8), ("bool", .bool)] {
            let t = try ckpt.tensor(at: key)
            #expect(t.dtype == dtype, "\(key) dtype \(t.dtype)")
            #expect(try ckpt.floatTensor(at: key).scalars == ref["\(key)_as_f32"]!.tensor(Float.self).scalars, "\(key) as float32")
        }
        for (k, t) in ref.tensors where k.hasPrefix("bn_block.") {
            expectSame(try ckpt.tensor(at: "bn_block/" + String(k.dropFirst("bn_block.".count))), t, k)
        }
        #expect(try ckpt.tensor(at: "bn_block/1.num_batches_tracked").integers() == ref["bn_block.1.num_batches_tracked"]!.integers())
        // python_values: {'int': 7, 'float': 0.1, 'str': 'hello', 'none': None, 'tuple': (1, 2.5, 'x'),
        //                 'list': [1, [2, 3]], 'bool': True, 'big_int': 1099511627776}
        #expect(try ckpt.value(at: "python_values/int") == .int(7))
        #expect(try ckpt.value(at: "python_values/float") == .float(0.1))
        #expect(try ckpt.value(at: "python_values/str") == .string("hello"))
        #expect(try ckpt.value(at: "python_values/none") == CheckpointValue.none)
        #expect(try ckpt.value(at: "python_values/tuple") == .tuple([.int(1), .float(2.5), .string("x")]))
        #expect(try ckpt.value(at: "python_values/list") == .list([.int(1), .list([.int(2), .int(3)])]))
        #expect(try ckpt.value(at: "python_values/bool") == .bool(true))
        #expect(try ckpt.value(at: "python_values/big_int") == .int(1_099_511_627_776))
        #expect(try ckpt.value(at: "python_values/list/1/0") == .int(2))
    }

    @Test("lpips' real legacy vgg.pth")
    func lpipsVGG() throws {
        let ckpt = try Checkpoint.open(local("lpips_vgg_v0.1_shipped.pth"))
        #expect(ckpt.format == .pytorchLegacy)
        let ref = try SafeTensorsFile.read(local("lpips_vgg_v0.1_lin.safetensors"))
        let tensors = try ckpt.tensors()
        #expect(tensors.map(\.name) == ["lin0.model.1.weight", "lin1.model.1.weight", "lin2.model.1.weight", "lin3.model.1.weight", "lin4.model.1.weight"])
        for (n, t) in tensors {
            let r = ref.tensors.first { $0.name.hasSuffix(n) || n.hasSuffix($0.name) }?.tensor
            expectSame(t, r, n)
        }
    }

    @Test("prototype memory: lists of tensors")
    func frameMemory() throws {
        let ckpt = try Checkpoint.open(local("frame_memory_reduced.pth.tar"))
        guard case let .list(centroids) = try ckpt.value(at: "centroids") else { Issue.record("centroids is not a list"); return }
        #expect(centroids.count >= 2)
        let c1 = try ckpt.tensor(at: "centroids/1"), i1 = try ckpt.tensor(at: "inst2cluster/1")
        #expect(c1.dtype == .float32 && c1.shape.count == 2)
        #expect(i1.dtype == .int64 && i1.shape.count == 1)
    }

    @Test("the reduced CMPC checkpoint (zip, 10 MB) from ../shared")
    func cmpcReduced() throws {
        guard let url = Fixtures.sharedFixture("cmpc/model_best_256_reduced.pth.tar") else { return }
        let ckpt = try Checkpoint.open(url)
        guard case let .dict(top) = ckpt.root else { Issue.record("root is not a dict"); return }
        #expect(top.keys.contains("model") && top.keys.contains("epoch") && top.keys.contains("optimizer"))
        let model = try ckpt.tensors(under: "model")
        #expect(model.contains { $0.name == "voice_subnet.conv1.weight" } && model.contains { $0.name == "face_subnet.conv1.weight" })
        let w = try ckpt.tensor(at: "model/voice_subnet.conv1.weight")
        #expect(w.shape.count == 4 && w.shape[1] == 1)
    }

    @Test("paths: missing entries and wrong types name the file, the path and what exists")
    func pathErrors() throws {
        let ckpt = try Checkpoint.open(local("ckpt_small_convert_zip.pt"))
        do { _ = try ckpt.value(at: "g_ema/nope"); Issue.record("no error") } catch let e as CheckpointError {
            #expect("\(e)".contains("g_ema/nope") && "\(e)".contains("ckpt_small_convert_zip.pt") && "\(e)".contains("style.1.weight"))
        }
        do { _ = try ckpt.tensor(at: "g_ema"); Issue.record("no error") } catch let e as CheckpointError {
            #expect("\(e)".contains("should be a tensor"))
        }
        do { _ = try ckpt.floatTensor(at: "latent_avg", shape: [3]); Issue.record("no error") } catch let e as CheckpointError {
            #expect("\(e)".contains("shape [3]"))
        }
    }
}

@Suite("Hostile and damaged checkpoint files")
struct HostileInputTests {
    /// A protocol-2 pickle calling module.name(arg) — what a malicious checkpoint looks like.
    static func maliciousPickle(_ module: String, _ name: String, arg: String = "echo pwned") -> Data {
        var d = Data([0x80, 0x02, 0x63])  // PROTO 2, GLOBAL
        d.append(Data("\(module)\n\(name)\n".utf8))
        d.append(0x58)  // BINUNICODE
        withUnsafeBytes(of: UInt32(arg.utf8.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(Data(arg.utf8))
        d.append(contentsOf: [0x85, 0x52, 0x2E])  // TUPLE1, REDUCE, STOP
        return d
    }

    @Test("globals outside the allow-list are refused by name, in both containers",
          arguments: [("os", "system"), ("builtins", "eval"), ("posix", "system"), ("subprocess", "Popen"), ("__builtin__", "exec")])
    func forbiddenGlobals(_ g: (String, String)) throws {
        // As a legacy file: magic + protocol + sys info + the malicious main pickle.
        let legacy = try Data(contentsOf: local("g_ema_state_dict_legacy.pt"))
        // Keep the three header pickles of a real legacy file, then append the payload.
        var file = legacy.prefix(Self.pickleEnd(legacy, count: 3))
        file.append(Self.maliciousPickle(g.0, g.1))
        #expect(throws: CheckpointError.forbiddenGlobal(file: "evil.pt", name: "\(g.0).\(g.1)")) {
            _ = try Checkpoint.parse(file, file: "evil.pt")
        }
        // As the data.pkl of a zip file.
        let zip = Self.storedZip(["archive/data.pkl": Self.maliciousPickle(g.0, g.1), "archive/byteorder": Data("little".utf8)])
        #expect(throws: CheckpointError.forbiddenGlobal(file: "evil.pt", name: "\(g.0).\(g.1)")) {
            _ = try Checkpoint.parse(zip, file: "evil.pt")
        }
    }

    @Test("pickles nested 50,000 deep (lists, tuples, dicts) are an error, not a stack overflow, in every pickle of both containers")
    func deepNesting() throws {
        let n = 50_000
        // N empty lists, then N−1 APPENDs: [[[…]]]; an empty tuple wrapped N times by TUPLE1: (((…),),).
        var lists = Data([0x80, 0x02]); lists.append(Data(repeating: 0x5D, count: n)); lists.append(Data(repeating: 0x61, count: n - 1)); lists.append(0x2E)
        var tuples = Data([0x80, 0x02, 0x29])
        for _ in 0..<n { tuples.append(0x85) }; tuples.append(0x2E)
        let legacy = try Data(contentsOf: local("g_ema_state_dict_legacy.pt"))
        for deep in [lists, tuples] {
            #expect(throws: CheckpointError.self) { _ = try Checkpoint.parse(deep, file: "deep.pt") }
            var file = legacy.prefix(Self.pickleEnd(legacy, count: 3))
            file.append(deep)
            #expect(throws: CheckpointError.self) { _ = try Checkpoint.parse(file, file: "deep.pt") }
            let zip = Self.storedZip(["archive/data.pkl": deep, "archive/byteorder": Data("little".utf8)])
            #expect(throws: CheckpointError.self) { _ = try Checkpoint.parse(zip, file: "deep.pt") }
        }
    }

    @Test("allowed functions cannot smuggle a forbidden callee")
    func smuggling() {
        // _rebuild_from_type_v2(<os.system>, …) never gets past GLOBAL os.system.
        var p = Data([0x80, 0x02, 0x63]); p.append(Data("torch._tensor\n_rebuild_from_type_v2\n".utf8))
        p.append(0x63); p.append(Data("os\nsystem\n".utf8))
        p.append(contentsOf: [0x4E, 0x29, 0x4E, 0x28, 0x74, 0x52, 0x2E])
        #expect(throws: CheckpointError.forbiddenGlobal(file: "x", name: "os.system")) {
            _ = try Checkpoint.parse(Self.storedZip(["a/data.pkl": p]), file: "x")
        }
    }

    @Test("truncated, wrong magic, damaged zip, short storages, absurd sizes: errors, never crashes")
    func damaged() throws {
        let zipFile = try Data(contentsOf: local("edge_cases_zip.pt"))
        let legacy = try Data(contentsOf: local("edge_cases_legacy.pt"))
        for cut in [0, 1, 2, 10, 100, legacy.count / 2, legacy.count - 1] {
            #expect(throws: CheckpointError.self, "legacy cut at \(cut)") { _ = try Checkpoint.parse(legacy.prefix(cut), file: "t") }
        }
        for cut in [4, 30, zipFile.count / 2, zipFile.count - 23] {
            #expect(throws: CheckpointError.self, "zip cut at \(cut)") { _ = try Checkpoint.parse(zipFile.prefix(cut), file: "t") }
        }
        var wrongMagic = legacy
        wrongMagic[5] ^= 0xFF
        #expect(throws: CheckpointError.self) { _ = try Checkpoint.parse(wrongMagic, file: "t") }
        #expect(throws: CheckpointError.self) { _ = try Checkpoint.parse(Data("hello world, not a checkpoint".utf8), file: "t") }
        // A storage shorter than its tensor: rewrite the zip with data/0 truncated to 8 bytes.
        let archive = Self.entries(of: zipFile)
        var short = archive
        let storageKey = archive.keys.first { $0.hasSuffix("/data/0") }!
        short[storageKey] = archive[storageKey]!.prefix(8)
        #expect(throws: CheckpointError.self) { _ = try Checkpoint.parse(Self.storedZip(short), file: "t") }
        // Absurd storage element counts in a legacy file.
        let absurd = Self.maliciousLegacyStorageCount(legacy)
        #expect(throws: CheckpointError.self) { _ = try Checkpoint.parse(absurd, file: "t") }
    }

    @Test("fuzz: seeded byte flips and truncations over the fixture files finish with thrown errors only")
    func fuzz() throws {
        let files = ["edge_cases_zip.pt", "edge_cases_legacy.pt", "lpips_vgg_v0.1_shipped.pth", "frame_memory_reduced.pth.tar",
                     "g_ema_state_dict_legacy.pt"]
        var rng = SeededGenerator(seed: 2024)
        var cases = 0, errors = 0
        for name in files {
            let good = try Data(contentsOf: local(name))
            for _ in 0..<(name.hasPrefix("g_ema") ? 200 : 800) {
                var m = good
                let mode = rng.next() % 4
                if mode != 3 {
                    // Flip bytes, biased towards the pickle and headers at the start and the zip directory at the end.
                    for _ in 0..<(1 + Int(rng.next() % 8)) {
                        let region = rng.next() % 3
                        let span = min(m.count, 4096)
                        let at = region == 0 ? Int(rng.next() % UInt64(span)) : region == 1 ? m.count - 1 - Int(rng.next() % UInt64(span)) : Int(rng.next() % UInt64(m.count))
                        m[at] = UInt8(truncatingIfNeeded: rng.next())
                    }
                }
                if mode >= 2 { m = m.prefix(Int(rng.next() % UInt64(m.count + 1))) }
                cases += 1
                do { _ = try Checkpoint.parse(m, file: name) } catch is CheckpointError { errors += 1 }
            }
        }
        #expect(cases == 3_400)
        #expect(errors > cases / 4, "only \(errors) of \(cases) mutated files were rejected")
    }

    // MARK: helpers

    /// The offset after the first `count` pickles of a legacy file.
    static func pickleEnd(_ data: Data, count: Int) -> Int {
        var offset = 0
        for _ in 0..<count {
            var vm = Unpickler(data, start: offset, file: "t", resolver: TorchResolver(file: "t", bigEndian: false) { _ in Data() })
            _ = try! vm.load()
            offset = vm.endOffset
        }
        return offset
    }

    /// The entries of a zip archive, uncompressed.
    static func entries(of zip: Data) -> [String: Data] {
        let archive = try! ZipArchive(zip, file: "test")
        var out: [String: Data] = [:]
        for e in archive.entries { out[e.name] = Data(try! archive.contents(of: e)) }
        return out
    }

    /// A zip archive of stored entries.
    static func storedZip(_ entries: [String: Data]) -> Data {
        var writer = ZipWriter()
        for (name, contents) in entries.sorted(by: { $0.key < $1.key }) { writer.add(name: name, contents: contents) }
        return writer.finished()
    }

    /// A legacy file whose first storage claims 2⁶² elements.
    static func maliciousLegacyStorageCount(_ legacy: Data) -> Data {
        // After the five pickles (magic, protocol, sys info, main, storage keys) comes the first count.
        let offset = pickleEnd(legacy, count: 5)
        var d = legacy
        for k in 0..<8 { d[offset + k] = k == 7 ? 0x40 : 0 }
        return d
    }
}

@Suite("PyTorch writer")
struct PyTorchWriterTests {
    @Test("a written state dict reads back exactly, as an OrderedDict")
    func roundTrip() throws {
        let source = try Checkpoint.open(local("g_ema_state_dict_zip.pt"))
        let tensors = try source.tensors()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vs-w-\(UUID().uuidString).pt")
        defer { try? FileManager.default.removeItem(at: url) }
        try PyTorchFile.writeZip(stateDict: tensors, to: url)
        let back = try Checkpoint.open(url)
        #expect(back.format == .pytorchZip)
        if case let .dict(d) = back.root { #expect(d.typeName == "OrderedDict") }
        let got = try back.tensors()
        #expect(got.map(\.name) == tensors.map(\.name))
        for (a, b) in zip(got, tensors) { #expect(a.tensor == b.tensor, "\(a.name)") }
    }
}
