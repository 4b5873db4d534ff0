// The reduced CMPC checkpoint (model_best layout, zip) against ../shared/fixtures/cmpc: voice embeddings for
// T = 800 and 883, face embeddings at 256 and 32 px, and the CMPC loss gradient w.r.t. the face.
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleModels
import VoiceStyleTestSupport

@Suite("CMPC")
struct CMPCTests {
    @Test("embeddings and the loss gradient match upstream")
    func reduced() throws {
        guard let ckptURL = Fixtures.sharedFixture("cmpc/model_best_256_reduced.pth.tar"),
              let fURL = Fixtures.sharedFixture("cmpc/cmpc_reduced_fixture.safetensors"),
              let voiceURL = Fixtures.sharedFixture("voice/voice_frontend.safetensors"),
              let imagesURL = Fixtures.sharedFixture("inputs/images_256.safetensors") else { return }
        let model = try CMPCModel(stateDict: StateDict(Checkpoint.open(ckptURL), path: "model"))
        #expect(model.voice.inputChannels == 1 && model.face.inputChannels == 3 && model.voice.embeddingSize == 128)
        let f = try Fixtures.load(fURL), voices = try Fixtures.load(voiceURL), images = try Fixtures.load(imagesURL)
        let v800 = try voices.tensor("vs_id10724_DP5gCFoWgGI_00001.final").reshaped([1, 1, 64, 800])
        let a = withoutGradients { model.voice(v800) }
        expectForward(a, try f.tensor("voice_emb_800"), "voice_emb_800")
        expectForward(withoutGradients { model.voice(try! f.tensor("voice_883")) }, try f.tensor("voice_emb_883"), "voice_emb_883")
        expectForward(withoutGradients { model.face(try! images.tensor("y_hat")) }, try f.tensor("face_emb_256"), "face_emb_256")
        let face32 = try f.tensor("face_32")
        face32.requiresGrad = true
        let e32 = model.face(face32)
        expectForward(e32, try f.tensor("face_emb_32"), "face_emb_32")
        let loss = CMPCModel.distance(voice: a, face: e32)
        expectForward(loss, try f.tensor("cmpc_loss_800_32"), "cmpc_loss_800_32")
        loss.sum().backward()
        expectGradient(face32.grad, try f.tensor("grad_face_32"), "grad_face_32")
        let face256 = try images.tensor("y_hat").slice(axis: 0, 0, 1)
        face256.requiresGrad = true
        let l256 = CMPCModel.distance(voice: a, face: model.face(face256))
        expectForward(l256, try f.tensor("cmpc_loss_800_256").slice(axis: 0, 0, 1), "cmpc_loss_800_256[0]")
        l256.sum().backward()
        expectGradient(face256.grad, try f.tensor("grad_face_256_0"), "grad_face_256_0")
    }

    @Test("the full-size key manifest infers ResNet-34 on both branches")
    func fullSize() throws {
        guard let url = Fixtures.sharedFixture("cmpc/cmpc_full_state_dict_keys.json") else { return }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        let rows: [[String: Any]]
        if let d = json as? [String: Any], let r = (d["state_dict"] ?? d["keys"] ?? d["model"]) as? [[String: Any]] { rows = r }
        else { rows = json as? [[String: Any]] ?? [] }
        #expect(rows.count == 432)
        let tensors = rows.map { r -> (name: String, tensor: StoredTensor) in
            let shape = r["shape"] as! [Int], key = r["key"] as! String
            let dtype: DType = key.hasSuffix("num_batches_tracked") ? .int64 : .float32
            return (key, StoredTensor(dtype: dtype, shape: shape, bytes: Data(count: shape.reduce(1, *) * dtype.size)))
        }
        let model = try CMPCModel(stateDict: StateDict(file: "model_best_256.pth.tar", tensors: tensors))
        #expect(model.voice.embeddingSize == 512 && model.face.embeddingSize == 512)
    }
}
