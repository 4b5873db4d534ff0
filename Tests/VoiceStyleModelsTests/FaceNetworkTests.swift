// IR-SE50, the voicestyle identity loss and LPIPS-VGG against ../shared/fixtures/irse50 and lpips
// (reduced widths, upstream key names). Forward ≤ 1e-4 relative per element, gradients ≤ 1e-3 relative.
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine
import VoiceStyleInversion
import VoiceStyleModels
import VoiceStyleTestSupport

/// Loads a state dict from ../shared/fixtures, or nil when the shared folder is absent.
private func sharedStateDict(_ path: String) throws -> StateDict? {
    guard let url = Fixtures.sharedFixture(path) else { return nil }
    return try StateDict(Checkpoint.open(url))
}

private func shared(_ path: String) throws -> FixtureFile? {
    guard let url = Fixtures.sharedFixture(path) else { return nil }
    return try Fixtures.load(url)
}

@Suite("Face networks")
struct FaceNetworkTests {
    @Test("IR-SE50 forward (pre-norm and unit embeddings) and input gradient")
    func irse50() throws {
        // The input gradient through PReLU kinks is ill-conditioned: checked with upstream's rounding (direct
        // convolutions); the Winograd path's forward is checked below.
        try Convolution.with(.direct) { try irse50Check(rtol: 1e-3) }
        try Convolution.with(.winograd) { try irse50Check(rtol: nil) }
    }

    func irse50Check(rtol: Double?) throws {
        guard let sd = try sharedStateDict("irse50/irse50_reduced_state_dict.safetensors"),
              let f = try shared("irse50/irse50_reduced_fixture.safetensors") else { return }
        let net = try IRSE50(stateDict: sd)
        #expect(net.embeddingSize == 128)
        let x = try f.tensor("input")
        x.requiresGrad = true
        let pre = net.unnormalizedEmbedding(x)
        expectForward(pre, try f.tensor("pre_l2norm"), atol: 1e-4, "pre_l2norm")
        let y = pre.l2Normalized(axis: 1)
        expectForward(y, try f.tensor("output"), "output")
        guard let rtol else { return }
        (y * (try f.tensor("R"))).sum().backward()
        expectGradient(x.grad, try f.tensor("grad_input"), rtol: rtol, "grad_input")
    }

    @Test("IR-SE50 loads without num_batches_tracked (pre-0.4.1 files)")
    func irseWithoutCounters() throws {
        guard var sd = try sharedStateDict("irse50/irse50_reduced_state_dict.safetensors") else { return }
        sd.keys.removeAll { $0.hasSuffix("num_batches_tracked") }
        _ = try IRSE50(stateDict: sd)
        sd.keys.append("output_layer.9.weight")
        sd.entries["output_layer.9.weight"] = StoredTensor(Tensor<Float>(zeros: [1]))
        #expect(throws: StateDictError.self) { _ = try IRSE50(stateDict: sd) }
    }

    @Test("identity loss at 256 px and with the 32 → 256 pre-pool")
    func identityLoss() throws {
        guard let sd = try sharedStateDict("irse50/irse50_reduced_state_dict.safetensors"),
              let f = try shared("irse50/idloss_reduced_fixture.safetensors"),
              let images = try shared("inputs/images_256.safetensors") else { return }
        let loss = IdentityLoss(network: try IRSE50(stateDict: sd))
        let yHat = try images.tensor("y_hat"), y = try images.tensor("y")
        yHat.requiresGrad = true
        let targetFeatures = withoutGradients { loss.features(y) }
        expectForward(targetFeatures, try f.tensor("y_feats"), "y_feats")
        expectForward(withoutGradients { loss.features(yHat) }, try f.tensor("y_hat_feats"), "y_hat_feats")
        let l = loss(yHat, targetFeatures: targetFeatures)
        expectForward(l, try f.tensor("loss"), "loss")
        l.backward()
        expectGradient(yHat.grad, try f.tensor("grad_y_hat"), "grad_y_hat")
        // U(-1,1) noise input: a few PReLU/ReLU kinks sit within float32 rounding of zero, so this gradient is
        // checked against its own conditioning as well (see expectGradientWithinConditioning).
        let s = try f.tensor("s32_y_hat"), sy = try f.tensor("s32_y")
        s.requiresGrad = true
        let sFeats = withoutGradients { loss.features(sy) }
        expectForward(sFeats, try f.tensor("s32_y_feats"), "s32_y_feats")
        let sl = loss(s, targetFeatures: sFeats)
        expectForward(sl, try f.tensor("s32_loss"), "s32_loss")
        sl.backward()
        let sp = perturbedCopy(s)
        loss(sp, targetFeatures: sFeats).backward()
        expectGradientWithinConditioning(s.grad, try f.tensor("s32_grad_y_hat"), perturbed: sp.grad, "s32_grad_y_hat")
    }

    @Test("LPIPS-VGG at 64 and 256 px: distance, per-layer terms, gradient")
    func lpips() throws {
        guard let sd = try sharedStateDict("lpips/lpips_vgg_reduced_state_dict.safetensors"),
              let f = try shared("lpips/lpips_reduced_fixture.safetensors"),
              let images = try shared("inputs/images_256.safetensors") else { return }
        let net = try LPIPS(lpipsStateDict: sd)
        let in0 = try f.tensor("in0"), in1 = try f.tensor("in1")
        in0.requiresGrad = true
        let layers = net.layerDistances(in0, in1)
        for k in 0..<5 { expectForward(layers[k], try f.tensor("dist_layer\(k)"), "dist_layer\(k)") }
        let d = net(in0, in1)
        expectForward(d, try f.tensor("dist"), "dist")
        d.sum().backward()
        expectGradient(in0.grad, try f.tensor("grad_in0"), "grad_in0")
        let a = try images.tensor("y_hat").slice(axis: 0, 0, 1), b = try images.tensor("y").slice(axis: 0, 0, 1)
        a.requiresGrad = true
        let target = withoutGradients { net.normalizedFeatures(b) }
        let d256 = net.distance(a, target: target)
        expectForward(d256, try f.tensor("s256_dist"), "s256_dist")
        d256.sum().backward()
        // Max-pool near-ties and ReLU kinks in the 256-px feature maps: checked against its conditioning too.
        let ap = perturbedCopy(a)
        net.distance(ap, target: target).sum().backward()
        expectGradientWithinConditioning(a.grad, try f.tensor("s256_grad_in0"), perturbed: ap.grad, "s256_grad_in0")
    }

    @Test("LPIPS from torchvision VGG16 keys plus a separate lin file equals the lpips-module layout")
    func lpipsFromTorchvision() throws {
        guard let sd = try sharedStateDict("lpips/lpips_vgg_reduced_state_dict.safetensors"),
              let f = try shared("lpips/lpips_reduced_fixture.safetensors") else { return }
        var vgg: [(name: String, tensor: StoredTensor)] = [], lin: [(name: String, tensor: StoredTensor)] = []
        for k in sd.keys {
            if k.hasPrefix("net.slice") {
                let parts = k.split(separator: ".")  // net, sliceK, i, weight|bias
                vgg.append(("features.\(parts[2]).\(parts[3])", sd.entries[k]!))
            } else if k.hasPrefix("lin") { lin.append((k, sd.entries[k]!)) }
        }
        vgg.append(("classifier.0.weight", StoredTensor(Tensor<Float>(zeros: [4, 4]))))  // ignored, as in vgg16-397923af.pth
        let net = try LPIPS(vgg: StateDict(file: "vgg16.pth", tensors: vgg), lin: StateDict(file: "vgg.pth", tensors: lin))
        expectForward(withoutGradients { net(try! f.tensor("in0"), try! f.tensor("in1")) }, try f.tensor("dist"), "dist")
    }

    @Test("the real lpips vgg.pth lin weights fit full-width VGG16 features")
    func realLinWeights() throws {
        let lin = try StateDict(Checkpoint.open(Fixtures.local("VoiceStyleCheckpointsTests", "lpips_vgg_v0.1_shipped.pth")))
        let widths = [(64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256), (256, 256), (512, 256), (512, 512), (512, 512),
                      (512, 512), (512, 512), (512, 512)]
        var vgg: [(name: String, tensor: StoredTensor)] = []
        for (i, (o, c)) in zip([0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28], widths) {
            vgg.append(("features.\(i).weight", StoredTensor(dtype: .float32, shape: [o, c, 3, 3], bytes: Data(count: o * c * 36))))
            vgg.append(("features.\(i).bias", StoredTensor(dtype: .float32, shape: [o], bytes: Data(count: o * 4))))
        }
        _ = try LPIPS(vgg: StateDict(file: "vgg16.pth", tensors: vgg), lin: lin)
    }
}
