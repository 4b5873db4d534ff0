// The voice front-end against the upstream cmpc2 outputs (../shared/fixtures/voice and upstream): VAD kept
// samples and frames exactly, raw log-mel and final features within 1e-5; other formats and bad input.
import Foundation
import Testing
import VoiceStyleAudio
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleTestSupport

private let clips: [(key: String, path: String)] = [
    ("vs_id10724_DP5gCFoWgGI_00001", "voxceleb/id10724_DP5gCFoWgGI_00001.wav"), ("vs_id10845_0RsOMTn-DSM_00001", "voxceleb/id10845_0RsOMTn-DSM_00001.wav"),
    ("cmu_Alicja_Bachleda", "voxceleb/Alicja_Bachleda.wav"), ("cmu_Eoin_Macken", "voxceleb/Eoin_Macken.wav"),
    ("cmu_Gilles_Marini", "voxceleb/Gilles_Marini.wav"), ("cmu_Moon_Bloodgood", "voxceleb/Moon_Bloodgood.wav"),
    ("cmu_Suraj_Sharma", "voxceleb/Suraj_Sharma.wav"), ("cmu_Witney_Carson", "voxceleb/Witney_Carson.wav"),
    ("espeak_speech_16k", "tts/speech_16k.wav"),
]

private func voice(_ path: String) -> URL { Fixtures.shared.appendingPathComponent("data/voices/\(path)") }

@Suite("Voice front-end")
struct VoiceFrontEndTests {
    @Test("mel filters equal upstream's 513×64 matrix")
    func melFilters() throws {
        guard let url = Fixtures.sharedFixture("upstream/mel_filters_64x513.npy") else { return }
        let ref = try NumPyFile.readNpy(url).doubles()  // [513, 64]
        let fb = LogMelFilterbank()
        var worst = 0.0
        for k in 0..<513 { for w in 0..<64 { worst = max(worst, abs(fb.filters[w][k] - ref[k * 64 + w])) } }
        #expect(worst <= 1e-15, "max difference \(worst)")
    }

    @Test("VAD, raw log-mel and final features of every upstream clip", arguments: clips.map(\.key))
    func upstreamClip(_ key: String) throws {
        guard let url = Fixtures.sharedFixture("voice/voice_frontend.safetensors") else { return }
        let f = try Fixtures.load(url)
        let wave = try Waveform.read(voice(clips.first { $0.key == key }!.path))
        let count = Int(try f.scalar("\(key).n_samples"))
        #expect(wave.samples.count == count)
        let (frames, segments) = VoiceActivity().keptFrames(wave.samples)
        let refFrames = f.file["\(key).vad_kept_frames"]!.integers()!
        #expect(frames.map(Int64.init) == refFrames, "\(key) kept frames")
        #expect(segments.flatMap { [Int64($0.0), Int64($0.1)] } == f.file["\(key).vad_segments"]!.integers()!, "\(key) segments")
        let speech = VoiceActivity().speech(wave.samples)
        let keptSamples = Int(try f.scalar("\(key).vad_kept_samples"))
        #expect(speech.count == keptSamples)
        let raw = LogMelFilterbank().logSpectrogram(speech)
        let rawTensor = Tensor<Float>(shape: [raw.count, 64], scalars: raw.flatMap { $0.map(Float.init) })
        expectForward(rawTensor, try f.tensor("\(key).raw_logmel"), atol: 1e-5, "\(key) raw log-mel")
        let final = try VoiceFrontEnd().features(wave)
        expectForward(final, try f.tensor("\(key).final"), atol: 1e-5, "\(key) final features")
    }

    @Test("the cmpc2 example clip: T = 883 is not cropped")
    func longClip() throws {
        guard let url = Fixtures.sharedFixture("upstream/fbank_id10840_0eRPKDAV-I0.npy") else { return }
        let ref = try NumPyFile.readNpy(url)
        let ours = try VoiceFrontEnd().features(try Waveform.read(voice("voxceleb/id10840_0eRPKDAV-I0_00001.wav")))
        #expect(ours.shape == ref.shape && ours.shape == [1, 64, 883])
        expectForward(ours, ref.tensor(Float.self), atol: 1e-5, "id10840 features")
    }

    @Test("every LibriSpeech FLAC and a stereo 44.1 kHz file produce features; crop and no-VAD options")
    func otherFormats() throws {
        let dir = Fixtures.shared.appendingPathComponent("data/voices/librispeech")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return }
        let flacs = names.filter { $0.hasSuffix(".flac") }.sorted()
        #expect(flacs.count == 20)
        for name in flacs {
            let t = try VoiceFrontEnd().features(try Waveform.read(dir.appendingPathComponent(name)))
            #expect(t.shape[0] == 1 && t.shape[1] == 64 && t.shape[2] >= 800, "\(name)")
            let finite = t.scalars.allSatisfy { $0.isFinite }
            #expect(finite, "\(name) finite")
        }
        // A stereo 44.1 kHz float WAV made here from a 16 kHz clip: same speech, other container.
        let mono = try Waveform.read(voice("tts/speech_16k.wav"))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vs-stereo-\(UUID().uuidString).wav")
        defer { try? FileManager.default.removeItem(at: url) }
        try writeStereo44k(mono.samples, to: url)
        let stereo = try Waveform.read(url)
        #expect(stereo.sourceRate == 44_100 && stereo.sourceChannels == 2)
        #expect(abs(stereo.samples.count - mono.samples.count) <= 2)
        let t = try VoiceFrontEnd().features(stereo)
        #expect(t.shape[1] == 64 && t.shape[2] >= 800)
        var cropped = VoiceFrontEnd()
        cropped.cropFrames = 300
        cropped.minimumFrames = 300
        let croppedShape = try cropped.features(mono).shape
        #expect(croppedShape == [1, 64, 300])
        var noVAD = VoiceFrontEnd()
        noVAD.skipVAD = true
        let noVADShape = try noVAD.features(mono).shape
        #expect(noVADShape[2] >= 800)
    }

    @Test("silent, corrupt and non-audio files give typed errors")
    func badInput() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vs-audio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let silent = dir.appendingPathComponent("silent.wav")
        try writeWAV16([Int16](repeating: 0, count: 32_000), to: silent)
        #expect(throws: AudioError.noSpeech(file: silent.path)) { _ = try VoiceFrontEnd().features(try Waveform.read(silent), file: silent.path) }
        let text = dir.appendingPathComponent("notes.wav")
        try Data("this is not audio".utf8).write(to: text)
        #expect(throws: AudioError.self) { _ = try Waveform.read(text) }
        let corrupt = dir.appendingPathComponent("corrupt.flac")
        // A real FLAC cut short (from ../shared when present).
        if let real = try? Data(contentsOf: Fixtures.shared.appendingPathComponent("data/voices/librispeech/1688-142285-0000.flac")) {
            try real.prefix(60).write(to: corrupt)
            #expect(throws: AudioError.self) { _ = try Waveform.read(corrupt) }
        }
        #expect(throws: AudioError.self) { _ = try Waveform.read(dir.appendingPathComponent("missing.wav")) }
    }
}

/// A 16 kHz mono 16-bit PCM WAV.
func writeWAV16(_ s: [Int16], to url: URL) throws {
    var d = Data("RIFF".utf8)
    func le32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
    func le16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { d.append(contentsOf: $0) } }
    le32(36 + s.count * 2); d.append(Data("WAVEfmt ".utf8)); le32(16); le16(1); le16(1); le32(16_000); le32(32_000); le16(2); le16(16)
    d.append(Data("data".utf8)); le32(s.count * 2)
    for v in s { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    try d.write(to: url)
}

/// A 44.1 kHz stereo 32-bit float WAV of the given 16 kHz samples (linear interpolation, both channels).
func writeStereo44k(_ s: [Int16], to url: URL) throws {
    let n = Int(Double(s.count) * 44_100 / 16_000)
    var d = Data("RIFF".utf8)
    func le32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { d.append(contentsOf: $0) } }
    func le16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { d.append(contentsOf: $0) } }
    le32(36 + n * 8); d.append(Data("WAVEfmt ".utf8)); le32(16); le16(3); le16(2); le32(44_100); le32(44_100 * 8); le16(8); le16(32)
    d.append(Data("data".utf8)); le32(n * 8)
    for i in 0..<n {
        let pos = Double(i) * 16_000 / 44_100, j = min(Int(pos), s.count - 2), a = pos - Double(j)
        let v = Float((1 - a) * Double(s[j]) + a * Double(s[j + 1])) / 32768
        for _ in 0..<2 { withUnsafeBytes(of: v.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
    }
    try d.write(to: url)
}
