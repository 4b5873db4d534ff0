// Typed errors of the checkpoint readers and the Checkpoint API, each naming the file and what was wrong.

/// Why a checkpoint file could not be read or did not hold what was asked for.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or read.
    case unreadable(file: String, reason: String)
    /// The file's format is not one of the supported ones (or it is damaged beyond recognition).
    case unknownFormat(file: String, reason: String)
    /// The file is damaged: truncated, inconsistent sizes or offsets, bad structure.
    case corrupt(file: String, reason: String)
    /// The pickle refers to a Python global that is not on the allow-list; nothing was executed.
    case forbiddenGlobal(file: String, name: String)
    /// A requested entry does not exist.
    case missingEntry(file: String, path: String, available: [String])
    /// An entry exists but is not what was expected.
    case wrongType(file: String, path: String, expected: String, found: String)
    /// The file could not be written.
    case unwritable(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(f, r): "cannot read \(f): \(r)"
        case let .unknownFormat(f, r): "\(f) is not a PyTorch, safetensors or NumPy file: \(r)"
        case let .corrupt(f, r): "\(f) is damaged: \(r)"
        case let .forbiddenGlobal(f, n):
            "\(f) refers to the Python global '\(n)', which is not allowed in a checkpoint; nothing was executed. If this is a genuine checkpoint, convert it to safetensors with PyTorch"
        case let .missingEntry(f, p, a):
            "\(f) has no entry '\(p)'" + (a.isEmpty ? "" : " (available: \(a.prefix(20).joined(separator: ", "))\(a.count > 20 ? ", …" : ""))")
        case let .wrongType(f, p, e, found): "\(f): entry '\(p)' should be \(e) but is \(found)"
        case let .unwritable(f, r): "cannot write \(f): \(r)"
        }
    }
}
