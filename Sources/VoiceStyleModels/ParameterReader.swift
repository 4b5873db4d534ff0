// Follows ml-explore/mlx-swift Source/MLXNN/Module.swift (`@ModuleInfo(key:)`, `update(parameters:verify:)`)
// with torch `load_state_dict(strict=True)`'s report: each layer reads its own keys, once.
import VoiceStyleCheckpoints
import VoiceStyleEngine

/// How a parameter is made when a model is built with seeded random weights.
enum ParameterKind: Sendable, Equatable {
    /// He-normal N(0, 2/fan_in), fan_in = count / shape[0] (convolution and linear weights).
    case heNormal
    /// N(0, 1) (StyleGAN2's raw equalised weights and constant input).
    case standardNormal
    /// N(0, σ²) with the given σ (weights whose fan-in is not `count / shape[0]`, such as transposed convolutions).
    case normal(Float)
    /// Uniform in [low, high) (LPIPS lin weights: [0, 0.1)).
    case uniform(Float, Float)
    /// Every element equal (biases 0, batch-norm weight and variance 1, PReLU 0.25, …).
    case constant(Float)
}

/// Walks a state dict in one pass as a model is built: every layer asks for its own keys with
/// `tensor(_:_:_:)` or `optional(_:_:)`; `finish(model:)` then reports every missing, unexpected (present,
/// never asked for) and mis-shaped key in one `StateDictError`.
///
/// The same declaration serves three more purposes: `recording()` lists the keys and shapes a model asks
/// for (its `[ParameterSpec]`), and `random(seed:)` makes each tensor by its `ParameterKind` (optional
/// buffers left out). Missing or mis-shaped tensors are stood in for by zeros of the expected shape, so a
/// model can always finish building before the report is thrown.
final class ParameterReader {
    private enum Source {
        case stateDict(StateDict)
        case record
        case random(SeededGenerator)
    }

    private var source: Source
    /// Every key asked for, in order, with its shape and whether it may be absent.
    private(set) var specs: [ParameterSpec] = []
    private var missing: [String] = []
    private var misShaped: [(String, [Int], [Int])] = []
    private var nonFinite: [String] = []

    /// Reads the tensors of `stateDict`.
    init(_ stateDict: StateDict) { source = .stateDict(stateDict) }

    private init(_ source: Source) { self.source = source }

    /// Reads nothing: every tensor is a zero placeholder; `specs` lists what was asked for.
    static func recording() -> ParameterReader { ParameterReader(.record) }

    /// Makes every tensor from a seeded generator by its kind; optional tensors are absent.
    static func random(seed: UInt64) -> ParameterReader { ParameterReader(.random(SeededGenerator(seed: seed))) }

    /// The stored tensor at `key`, which must exist with `shape`.
    func tensor(_ key: String, _ shape: [Int], _ kind: ParameterKind) -> Tensor<Float> {
        specs.append(ParameterSpec(key, shape))
        switch source {
        case .record:
            return Tensor(zeros: shape)
        case var .random(rng):
            let t: Tensor<Float>
            switch kind {
            case .heNormal:
                let fanIn = shape.reduce(1, *) / shape[0]
                t = Tensor.randomNormal(shape, using: &rng) * (2 / Float(fanIn)).squareRoot()
            case .standardNormal: t = Tensor.randomNormal(shape, using: &rng)
            case let .normal(std): t = Tensor.randomNormal(shape, using: &rng) * std
            case let .uniform(low, high): t = Tensor.randomUniform(shape, low: low, high: high, using: &rng)
            case let .constant(v): t = Tensor(shape: shape, repeating: v)
            }
            source = .random(rng)
            return t
        case let .stateDict(sd):
            guard let stored = sd.entries[key] else {
                missing.append(key)
                return Tensor(zeros: shape)
            }
            guard stored.shape == shape else {
                misShaped.append((key, shape, stored.shape))
                return Tensor(zeros: shape)
            }
            let t = stored.sharedFloatTensor()
            if !t.buffer.allSatisfy(\.isFinite) { nonFinite.append(key) }
            return t
        }
    }

    /// The stored tensor at `key` if present (buffers that are recomputed when absent); a present tensor
    /// must have `shape`.
    func optional(_ key: String, _ shape: [Int]) -> Tensor<Float>? {
        specs.append(ParameterSpec(key, shape, optional: true))
        guard case let .stateDict(sd) = source, let stored = sd.entries[key] else { return nil }
        guard stored.shape == shape else {
            misShaped.append((key, shape, stored.shape))
            return nil
        }
        return stored.sharedFloatTensor()
    }

    /// Throws one `StateDictError` listing every missing, unexpected and mis-shaped key (in the order asked
    /// for; unexpected keys in file order). Records and random weights never fail.
    func finish(model: String) throws {
        guard case let .stateDict(sd) = source else { return }
        let asked = Set(specs.map(\.key))
        let unexpected = sd.keys.filter { !asked.contains($0) }
        guard missing.isEmpty && unexpected.isEmpty && misShaped.isEmpty && nonFinite.isEmpty else {
            throw StateDictError(model: model, file: sd.file, missing: missing, unexpected: unexpected, misShaped: misShaped, nonFinite: nonFinite)
        }
    }
}

/// A convolution's stored `prefix.weight` [out, in, k, k] and, when it has one, `prefix.bias` [out].
struct Conv2dWeights {
    let weight: Tensor<Float>
    let bias: Tensor<Float>?

    init(_ r: ParameterReader, _ prefix: String, out: Int, in cin: Int, kernel k: Int, bias: Bool = false) {
        weight = r.tensor("\(prefix).weight", [out, cin, k, k], .heNormal)
        self.bias = bias ? r.tensor("\(prefix).bias", [out], .constant(0)) : nil
    }
}

/// A linear layer's stored `prefix.weight` [out, in] and `prefix.bias` [out].
struct Linear {
    let weight: Tensor<Float>
    let bias: Tensor<Float>

    init(_ r: ParameterReader, _ prefix: String, out: Int, in cin: Int) {
        weight = r.tensor("\(prefix).weight", [out, cin], .heNormal)
        bias = r.tensor("\(prefix).bias", [out], .constant(0))
    }
}

/// A PReLU's stored per-channel slopes `prefix.weight` [c] (0.25 when random, as torch initialises them).
struct PReLU {
    let weight: Tensor<Float>

    init(_ r: ParameterReader, _ prefix: String, _ c: Int) {
        weight = r.tensor("\(prefix).weight", [c], .constant(0.25))
    }
}
