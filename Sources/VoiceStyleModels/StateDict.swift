// Checkpoint key checking shared by every model (torch load_state_dict(strict)): models read their keys
// through ParameterReader, which reports every missing, unexpected and mis-shaped key at once.
import Foundation
import VoiceStyleCheckpoints
import VoiceStyleEngine

/// One expected state-dict entry.
public struct ParameterSpec: Sendable, Equatable {
    public var key: String
    public var shape: [Int]
    /// May be absent (buffers such as `noises.noise_*` and blur kernels that are recomputed).
    public var optional: Bool

    public init(_ key: String, _ shape: [Int], optional: Bool = false) {
        self.key = key
        self.shape = shape
        self.optional = optional
    }
}

/// Why a state dict does not fit a model.
public struct StateDictError: Error, CustomStringConvertible, Equatable {
    public var model: String
    public var file: String
    public var missing: [String]
    public var unexpected: [String]
    /// (key, expected shape, found shape)
    public var misShaped: [(String, [Int], [Int])]
    /// Keys whose tensors hold NaN or infinite values.
    public var nonFinite: [String] = []

    public var description: String {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing keys (\(missing.count)): " + missing.joined(separator: ", ")) }
        if !unexpected.isEmpty { parts.append("unexpected keys (\(unexpected.count)): " + unexpected.joined(separator: ", ")) }
        if !nonFinite.isEmpty { parts.append("NaN or infinite values in (\(nonFinite.count)): " + nonFinite.joined(separator: ", ")) }
        if !misShaped.isEmpty {
            parts.append("mis-shaped keys (\(misShaped.count)): " + misShaped.map { "\($0.0) expected \($0.1), found \($0.2)" }.joined(separator: ", "))
        }
        return "\(file) does not hold a \(model) state dict: " + parts.joined(separator: "; ")
    }

    public static func == (a: StateDictError, b: StateDictError) -> Bool {
        a.model == b.model && a.file == b.file && a.missing == b.missing && a.unexpected == b.unexpected
            && a.misShaped.map { "\($0)" } == b.misShaped.map { "\($0)" } && a.nonFinite == b.nonFinite
    }
}

/// A flat state dict: parameter name → stored tensor.
public struct StateDict: Sendable {
    public var file: String
    public var entries: [String: StoredTensor]
    /// Key order as stored.
    public var keys: [String]

    public init(file: String, tensors: [(name: String, tensor: StoredTensor)]) {
        self.file = file
        keys = tensors.map(\.name)
        entries = Dictionary(tensors, uniquingKeysWith: { a, _ in a })
    }

    /// The tensors under `path` of a checkpoint.
    public init(_ checkpoint: Checkpoint, path: String = "") throws {
        self.init(file: checkpoint.path, tensors: try checkpoint.tensors(under: path))
    }

    /// Shapes by key (for architecture inference).
    public var shapes: [String: [Int]] { entries.mapValues(\.shape) }

    /// Checks the state dict against `specs` and returns the float32 tensors by key (optional keys that are
    /// absent are left out). Every problem is reported in one `StateDictError`.
    public func load(_ specs: [ParameterSpec], model: String) throws -> [String: Tensor<Float>] {
        let r = ParameterReader(self)
        var out: [String: Tensor<Float>] = [:]
        for s in specs {
            if s.optional { out[s.key] = r.optional(s.key, s.shape) } else { out[s.key] = r.tensor(s.key, s.shape, .constant(0)) }
        }
        try r.finish(model: model)
        return out
    }
}
