// NumPy .npy / .npz: files written by numpy, round trips of ours, Fortran order, damaged input.
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleTestSupport

@Suite("NumPy files")
struct NumPyTests {
    @Test("round trip of every NumPy dtype through .npy and .npz")
    func roundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vs-np-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SeededGenerator(seed: 5)
        var arrays: [(name: String, tensor: StoredTensor)] = [
            ("f32", StoredTensor(Tensor<Float>.randomNormal([3, 4, 5], using: &rng))),
            ("f64", StoredTensor(Tensor<Double>.randomNormal([7], using: &rng))),
            ("i64", StoredTensor(integers: [-3, 1 << 50, 9], shape: [3])),
            ("i32", StoredTensor(integers: [-3, 1 << 20, 9, 4], shape: [2, 2], dtype: .int32)),
            ("u8", StoredTensor(integers: [0, 255, 7], shape: [3], dtype: .uint8)),
            ("bool", StoredTensor(integers: [1, 0, 1], shape: [3], dtype: .bool)),
            ("scalar", StoredTensor(Tensor<Float>(scalar: 4))),
            ("empty", StoredTensor(Tensor<Float>(zeros: [0, 2]))),
        ]
        for (name, t) in arrays {
            let url = dir.appendingPathComponent("\(name).npy")
            try NumPyFile.writeNpy(t, to: url)
            #expect(try NumPyFile.readNpy(url) == t, "\(name) .npy")
        }
        let npz = dir.appendingPathComponent("all.npz")
        try NumPyFile.writeNpz(arrays, to: npz)
        let back = try NumPyFile.readNpz(npz)
        #expect(back.map(\.name) == arrays.map(\.name))
        for (a, b) in zip(arrays, back) { #expect(a.tensor == b.tensor, "\(a.name) .npz") }
        // Through the Checkpoint API too.
        let ckpt = try Checkpoint.open(npz)
        #expect(ckpt.format == .npz)
        #expect(try ckpt.tensor(at: "i64").integers() == [-3, 1 << 50, 9])
        arrays.removeAll()
    }

    @Test("files written by numpy: float64 mel filters and float32 fbanks")
    func numpyWritten() throws {
        guard let mel = Fixtures.sharedFixture("upstream/mel_filters_64x513.npy"),
              let fbank = Fixtures.sharedFixture("upstream/fbank_id10724_DP5gCFoWgGI.npy") else { return }
        let m = try NumPyFile.readNpy(mel)
        #expect(m.dtype == .float64 && m.shape == [513, 64])
        let values = m.doubles()
        #expect(values.allSatisfy { $0 >= 0 } && values.contains { $0 > 0 })
        let f = try NumPyFile.readNpy(fbank)
        #expect(f.dtype == .float32 && f.shape.count == 3 && f.shape[0] == 1 && f.shape[1] == 64)
        // Per-bin normalised features: each mel bin has mean ≈ 0 over time.
        let t = f.tensor(Float.self), frames = f.shape[2]
        for bin in [0, 31, 63] {
            let row = t.scalars[(bin * frames)..<((bin + 1) * frames)]
            #expect(abs(row.reduce(0, +) / Float(frames)) < 0.05)
        }
    }

    @Test("a compressed .npz written by numpy (deflate)")
    func compressedNpz() throws {
        guard let url = Fixtures.sharedFixture("imaging/faces_reference.npz") else { return }
        let arrays = try NumPyFile.readNpz(url)
        let rgb = arrays.first { $0.name == "img0.rgb8" }?.tensor
        #expect(rgb?.dtype == .uint8 && rgb?.shape == [128, 128, 3])
        let pre = arrays.first { $0.name == "img0.projector_256" }?.tensor
        #expect(pre?.dtype == .float32 && pre?.shape == [3, 256, 256])
        #expect(pre.map { $0.doubles().allSatisfy { $0 >= -1 && $0 <= 1 } } == true)
    }

    @Test("Fortran order is converted; big-endian data is swapped")
    func fortranAndEndianness() throws {
        // numpy.asfortranarray(np.arange(6, dtype='<i4').reshape(2, 3)) as written by numpy.save.
        var header = "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count), 0])
        d.append(Data(header.utf8))
        for v: Int32 in [0, 3, 1, 4, 2, 5] { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        let t = try NumPyFile.parseNpy(d)
        #expect(t.shape == [2, 3] && t.integers() == [0, 1, 2, 3, 4, 5])
        var be = "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"
        while (10 + be.utf8.count + 1) % 64 != 0 { be += " " }
        be += "\n"
        var e = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(be.utf8.count), 0])
        e.append(Data(be.utf8))
        for v: Float in [1.5, -2] { withUnsafeBytes(of: v.bitPattern.bigEndian) { e.append(contentsOf: $0) } }
        #expect(try NumPyFile.parseNpy(e).doubles() == [1.5, -2])
    }

    @Test("damaged .npy and .npz throw")
    func damaged() throws {
        let good = try NumPyFile.npyData(StoredTensor(Tensor<Float>(shape: [4], scalars: [1, 2, 3, 4])))
        #expect(throws: CheckpointError.self) { try NumPyFile.parseNpy(good.prefix(good.count - 1)) }
        #expect(throws: CheckpointError.self) { try NumPyFile.parseNpy(good.prefix(20)) }
        // A header without its shape, and one with an unsupported dtype.
        func replacing(_ a: String, _ b: String) -> Data {
            var d = good
            let r = d.range(of: Data(a.utf8))!
            d.replaceSubrange(r, with: Data(b.utf8))
            return d
        }
        #expect(throws: CheckpointError.self) { try NumPyFile.parseNpy(replacing("'shape'", "'shapx'")) }
        #expect(throws: CheckpointError.self) { try NumPyFile.parseNpy(replacing("<f4", "<c8")) }
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<500 {
            var m = good
            m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next())
            if rng.next() % 2 == 0 { m = m.prefix(Int(rng.next() % UInt64(m.count))) }
            _ = try? NumPyFile.parseNpy(m)
            _ = try? NumPyFile.parseNpz(m)
        }
    }
}
