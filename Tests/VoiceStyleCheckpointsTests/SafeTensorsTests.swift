// safetensors: round trips of every dtype with metadata, files written by the Rust library, damaged input.
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleTestSupport

@Suite("safetensors")
struct SafeTensorsTests {
    @Test("round trip of every dtype, shapes incl. 0-d and empty, metadata")
    func roundTrip() throws {
        var file = SafeTensorsFile(metadata: ["description": "test", "κλειδί": "τιμή"])
        var rng = SeededGenerator(seed: 3)
        let f32 = Tensor<Float>.randomNormal([2, 3, 4], using: &rng)
        let f64 = Tensor<Double>.randomNormal([5], using: &rng)
        file.tensors.append(("f32", StoredTensor(f32)))
        file.tensors.append(("f64", StoredTensor(f64)))
        file.tensors.append(("empty", StoredTensor(Tensor<Float>(zeros: [0, 3]))))
        file.tensors.append(("scalar", StoredTensor(Tensor<Float>(scalar: 2.5))))
        for dtype in DType.allCases where dtype != .float32 && dtype != .float64 {
            let bytes = Data((0..<(6 * dtype.size)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
            file.tensors.append(("raw_\(dtype.rawValue)", StoredTensor(dtype: dtype, shape: [2, 3], bytes: bytes)))
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vs-rt-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try file.write(to: url)
        let back = try SafeTensorsFile.read(url)
        #expect(back.metadata == file.metadata)
        #expect(back.tensors.map(\.name).sorted() == file.tensors.map(\.name).sorted())
        for (name, t) in file.tensors { #expect(back[name] == t, "\(name) differs after the round trip") }
        #expect(back["f32"]!.tensor(Float.self).scalars == f32.scalars)
        #expect(back["f64"]!.tensor(Double.self).scalars == f64.scalars)
        #expect(back["scalar"]!.shape == [] && back["scalar"]!.doubles() == [2.5])
    }

    @Test("dtype conversions: float16, bfloat16, integers, bool")
    func conversions() {
        let h = StoredTensor(dtype: .float16, shape: [3], bytes: Data([0x00, 0x3C, 0x00, 0xC0, 0x00, 0x7C]))
        #expect(h.doubles() == [1, -2, .infinity])
        let b = StoredTensor(dtype: .bfloat16, shape: [2], bytes: Data([0x80, 0x3F, 0x40, 0xC0]))
        #expect(b.doubles() == [1, -3])
        let i = StoredTensor(integers: [-5, 1 << 40, 7], shape: [3])
        #expect(i.integers() == [-5, 1 << 40, 7])
        let i8 = StoredTensor(dtype: .int8, shape: [2], bytes: Data([0xFF, 0x7F]))
        #expect(i8.doubles() == [-1, 127])
    }

    @Test("reads the upstream fixture files written by the Rust library")
    func readsFixture() throws {
        let f = try SafeTensorsFile.read(Fixtures.local("VoiceStyleEngineTests", "pixelnorm.safetensors"))
        #expect(f["input"]?.shape == [3, 16] && f["input"]?.dtype == .float32)
        #expect(f.metadata["description"]?.contains("PixelNorm") == true)
    }

    @Test("damaged files throw instead of crashing")
    func damaged() throws {
        let good = try Data(contentsOf: Fixtures.local("VoiceStyleEngineTests", "pixelnorm.safetensors"))
        #expect(throws: CheckpointError.self) { try SafeTensorsFile.parse(Data()) }
        #expect(throws: CheckpointError.self) { try SafeTensorsFile.parse(good.prefix(good.count - 10)) }
        #expect(throws: CheckpointError.self) { try SafeTensorsFile.parse(good.prefix(40)) }
        var huge = good
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        #expect(throws: CheckpointError.self) { try SafeTensorsFile.parse(huge) }
        let lying = #"{"x":{"dtype":"F32","shape":[1000000000,1000000000],"data_offsets":[0,4]}}"#
        var d = Data()
        withUnsafeBytes(of: UInt64(lying.utf8.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(Data(lying.utf8)); d.append(Data(count: 4))
        #expect(throws: CheckpointError.self) { try SafeTensorsFile.parse(d) }
        // Seeded random byte flips and truncations: only thrown errors, never a crash.
        var rng = SeededGenerator(seed: 99)
        for _ in 0..<500 {
            var m = good
            for _ in 0..<(1 + Int(rng.next() % 4)) { m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            if rng.next() % 3 == 0 { m = m.prefix(Int(rng.next() % UInt64(m.count))) }
            _ = try? SafeTensorsFile.parse(m)
        }
    }
}

@Suite("SHA-256")
struct SHA256Tests {
    @Test("known digests, and the fixture files' recorded sha256")
    func digests() throws {
        #expect(SHA256.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Data(repeating: 0x61, count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
        #expect(try SHA256.hex(file: Fixtures.local("VoiceStyleCheckpointsTests", "lpips_vgg_v0.1_shipped.pth"))
                == "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868")
    }
}
