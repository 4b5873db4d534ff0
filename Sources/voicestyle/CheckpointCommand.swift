// `voicestyle checkpoint inspect|convert`: look inside upstream checkpoint files and convert them.
import ArgumentParser
import Foundation
import VoiceStyle

struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Inspect or convert checkpoint files (PyTorch .pt/.pth/.pth.tar zip or legacy, safetensors, .npy, .npz).",
        discussion: "Files are read directly; nothing in them is executed (pickles may only name an allow-list of PyTorch and container types).",
        subcommands: [InspectCommand.self, ConvertCommand.self])
}

/// Thousands separators for counts.
func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, ch) in s.reversed().enumerated() {
        if i > 0 && i % 3 == 0 && ch != "-" { out.append(",") }
        out.append(ch)
    }
    return String(out.reversed())
}

/// A one-line rendering of a non-container value.
func leafText(_ v: CheckpointValue) -> String {
    switch v {
    case .none: "None"
    case let .bool(b): b ? "True" : "False"
    case let .int(i): String(i)
    case let .bigInt(s): s
    case let .float(f): String(f)
    case let .string(s): "'" + (s.count > 60 ? String(s.prefix(57)) + "…" : s) + "'"
    case let .bytes(d): "bytes[\(d.count)]"
    case let .tensor(t): "\(t.dtype.rawValue) \(t.shape)"
    default: v.typeName
    }
}

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print the tree of a checkpoint: keys, shapes, dtypes, parameter counts per top-level entry.")

    @Argument(help: "The checkpoint file.", completion: .file())
    var file: String

    @Option(help: "Show only the entry at this path (components separated by '/', e.g. g_ema or centroids/1).")
    var select: String = ""

    @Option(help: "Deepest nesting level to print (0 = only the top level; default: everything).")
    var depth: Int?

    @Option(help: "Most children printed per container (0 = all).")
    var maxItems: Int = 0

    func run() throws {
        let ckpt = try Checkpoint.open(URL(fileURLWithPath: file))
        let root = try ckpt.value(at: select)
        let all = root.tensors()
        let params = all.reduce(0) { $0 + $1.tensor.count }
        let bytes = all.reduce(0) { $0 + $1.tensor.bytes.count }
        print("\(file): \(ckpt.format.rawValue), \(grouped(all.count)) tensors, \(grouped(params)) elements (\(String(format: "%.1f", Double(bytes) / 1e6)) MB)")
        if !ckpt.metadata.isEmpty {
            for (k, v) in ckpt.metadata.sorted(by: { $0.key < $1.key }) {
                print("  metadata \(k): \(v.count > 100 ? String(v.prefix(97)) + "…" : v)")
            }
        }
        printTree(root, indent: "", level: 0)
    }

    private func printTree(_ v: CheckpointValue, indent: String, level: Int) {
        let children = v.children
        let shown = maxItems > 0 ? Array(children.prefix(maxItems)) : children
        for (key, child) in shown {
            switch child {
            case .dict, .list, .tuple:
                let ts = child.tensors()
                let summary = ts.isEmpty ? "\(child.children.count) entries"
                    : "\(child.children.count) entries, \(grouped(ts.count)) tensors, \(grouped(ts.reduce(0) { $0 + $1.tensor.count })) parameters"
                print("\(indent)\(key)  (\(child.typeName), \(summary))")
                if depth.map({ level < $0 }) ?? true { printTree(child, indent: indent + "  ", level: level + 1) }
            default:
                print("\(indent)\(key)  \(leafText(child))")
            }
        }
        if shown.count < children.count { print("\(indent)… \(children.count - shown.count) more") }
    }
}

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Write the tensors of a checkpoint (or of one entry) to safetensors, .npz or a PyTorch zip file.",
        discussion: """
            Tensor names are their paths below --select, nesting levels joined by '.', as in a PyTorch state dict \
            (e.g. --select g_ema gives conv1.conv.weight, …). The output format follows the extension of --to: \
            .safetensors, .npz, or .pt/.pth. In safetensors output, the source file, the selection and every \
            non-tensor value (numbers, strings, argparse options) are kept in __metadata__ as JSON.
            """)

    @Argument(help: "The checkpoint file.", completion: .file())
    var file: String

    @Option(help: "Output file (.safetensors, .npz, .pt or .pth).")
    var to: String

    @Option(help: "Convert only the entry at this path (e.g. g_ema, model, centroids/1).")
    var select: String = ""

    func run() throws {
        var request = ConvertCheckpointRequest(file: file, to: to)
        request.select = select
        let report = try request.run(in: JobContext())
        print("wrote \(report.output): \(grouped(report.tensors)) tensors, \(grouped(report.elements)) elements")
    }
}
