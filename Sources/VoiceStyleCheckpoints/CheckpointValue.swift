// The tree of values a checkpoint holds (what torch.load returns): dictionaries, lists, numbers, strings
// and tensors.
import Foundation

/// A value read from a checkpoint. Python objects that only carry data (`argparse.Namespace`, numpy
/// scalars) are read as dictionaries and numbers; tensors are materialised contiguous.
public indirect enum CheckpointValue: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer beyond 64 bits, in decimal.
    case bigInt(String)
    case float(Double)
    case string(String)
    case bytes(Data)
    case list([CheckpointValue])
    case tuple([CheckpointValue])
    case dict(CheckpointDict)
    case tensor(StoredTensor)

    /// A short type name for listings and error messages.
    public var typeName: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int, .bigInt: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .list: "list"
        case .tuple: "tuple"
        case let .dict(d): d.typeName
        case let .tensor(t): "Tensor[\(t.dtype.rawValue) \(t.shape)]"
        }
    }

    /// The children of a container, keyed as paths see them (list and tuple items by index).
    public var children: [(key: String, value: CheckpointValue)] {
        switch self {
        case let .dict(d): d.entries
        case let .list(items), let .tuple(items): items.enumerated().map { ("\($0.offset)", $0.element) }
        default: []
        }
    }

    /// Every tensor below this value, with its path (components joined by `separator`), in order.
    public func tensors(prefix: String = "", separator: String = ".") -> [(path: String, tensor: StoredTensor)] {
        var out: [(String, StoredTensor)] = []
        func walk(_ v: CheckpointValue, _ path: String) {
            if case let .tensor(t) = v { out.append((path, t)); return }
            for (k, c) in v.children { walk(c, path.isEmpty ? k : path + separator + k) }
        }
        walk(self, prefix)
        return out
    }
}

/// An ordered dictionary with string keys (integer keys, as in optimiser states, become their decimal text).
public struct CheckpointDict: Sendable, Equatable {
    /// "dict", "OrderedDict", or the class of a plain object read as a dictionary ("argparse.Namespace").
    public var typeName: String
    public var entries: [(key: String, value: CheckpointValue)]

    public init(typeName: String = "dict", entries: [(key: String, value: CheckpointValue)] = []) {
        self.typeName = typeName
        self.entries = entries
    }

    public subscript(key: String) -> CheckpointValue? { entries.first { $0.key == key }?.value }
    public var keys: [String] { entries.map(\.key) }

    public static func == (a: CheckpointDict, b: CheckpointDict) -> Bool {
        a.typeName == b.typeName && a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}
