// Follows CPython Lib/pickle.py (the _Unpickler opcode semantics, protocols 0–5) restricted to data: a
// virtual machine that builds values and never imports or calls anything. Python globals are resolved
// against an allow-list of the functions and classes PyTorch checkpoints use; any other name is an error.
import Foundation

/// The pickle machine's values (reference types where pickle shares and mutates them through the memo).
indirect enum PickleObject {
    case none, bool(Bool), int(Int), bigInt(String), float(Double), string(String), bytes(Data)
    case list(PickleList)
    case tuple([PickleObject])
    case dict(PickleDict)
    /// An allow-listed global (a callable or class), by its dotted name.
    case global(String)
    /// An object of an allowed plain-data class; its attributes arrive through BUILD.
    case object(PickleInstance)
    /// Something a container hook resolved (a storage, a tensor, a numpy dtype).
    case opaque(AnyObject)
}

final class PickleList { var items: [PickleObject]; init(_ i: [PickleObject] = []) { items = i } }
final class PickleDict {
    var typeName: String
    var items: [(PickleObject, PickleObject)] = []
    init(_ t: String = "dict") { typeName = t }
}
final class PickleInstance {
    let typeName: String
    var state: PickleObject?
    init(_ t: String) { typeName = t }
}

/// Hooks a container format supplies: persistent ids (storages) and REDUCE of the allowed functions.
protocol PickleResolver {
    /// Resolves a persistent id (PyTorch: a storage reference tuple).
    func persistentLoad(_ pid: PickleObject) throws -> PickleObject
    /// Applies the allowed callable `name` to `args`.
    func reduce(_ name: String, _ args: [PickleObject]) throws -> PickleObject
    /// Applies BUILD `state` to an opaque object (numpy arrays); nil leaves the object unchanged.
    func build(_ object: AnyObject, state: PickleObject) throws -> PickleObject?
}

/// The pickle virtual machine.
struct Unpickler {
    /// Python globals a checkpoint may name. Nothing else is ever accepted.
    static let allowedGlobals: Set<String> = [
        "collections.OrderedDict", "builtins.set", "builtins.frozenset", "builtins.bytearray",
        "__builtin__.set", "argparse.Namespace", "types.SimpleNamespace", "easydict.EasyDict",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2", "torch._utils._rebuild_from_type_v2",
        "torch.Size", "torch.device", "torch.nn.parameter.Parameter", "torch.Tensor",
        "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage",
        "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage",
        "torch.ByteStorage", "torch.BoolStorage", "torch.UntypedStorage",
        "torch.float32", "torch.float64", "torch.float16", "torch.bfloat16", "torch.int64", "torch.int32",
        "torch.int16", "torch.int8", "torch.uint8", "torch.bool",
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray",
    ]
    /// Classes instantiated through NEWOBJ / REDUCE whose attributes are read as a dictionary.
    static let plainDataClasses: Set<String> = ["argparse.Namespace", "types.SimpleNamespace", "easydict.EasyDict"]

    let data: Data
    let file: String
    let resolver: PickleResolver
    private var pos: Int
    private var stack: [PickleObject] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleObject] = [:]
    /// Bound on the work one pickle may cause (guards against crafted inputs).
    private let maxStack = 10_000_000

    init(_ data: Data, start: Int = 0, file: String, resolver: PickleResolver) {
        self.data = data
        self.file = file
        self.resolver = resolver
        pos = start
    }

    /// Offset just past the STOP opcode after `load()`.
    var endOffset: Int { pos }

    /// `load()` converted to the public value tree; whatever the machine built is then taken apart without
    /// recursion (`PickleObject.dismantle`), so a pickle nested 50,000 deep is an error, not a stack overflow.
    mutating func loadValue() throws -> CheckpointValue { let name = file; return try withLoaded { try $0.value(file: name) } }

    /// Runs `body` on `load()`'s result, then dismantles everything the machine built (also when either throws).
    /// `body` must not keep the object it is given.
    mutating func withLoaded<T>(_ body: (PickleObject) throws -> T) throws -> T {
        var built: [PickleObject] = []
        defer { releaseAll(&built) }
        built.append(try load())
        return try body(built[0])
    }

    /// Dismantles `extra` (emptied), the stack and the memo, which must hold the only references to what the
    /// machine built (a tuple cannot be emptied, so its chain is freed safely only once nothing else holds it).
    mutating func releaseAll(_ extra: inout [PickleObject]) {
        var work: [PickleObject] = []
        swap(&work, &extra)
        work += stack
        stack = []
        work += memo.values
        memo = [:]
        PickleObject.dismantle(&work)
    }

    private func corrupt(_ r: String) -> CheckpointError { .corrupt(file: file, reason: "pickle: \(r)") }

    private mutating func byte() throws -> UInt8 {
        guard pos < data.count else { throw corrupt("unexpected end of data") }
        defer { pos += 1 }
        return data[data.startIndex + pos]
    }

    private mutating func bytes(_ n: Int) throws -> Data {
        guard n >= 0, n <= data.count - pos else { throw corrupt("length \(n) runs past the end of the data") }
        defer { pos += n }
        return data[(data.startIndex + pos)..<(data.startIndex + pos + n)]
    }

    private mutating func uint(_ n: Int) throws -> UInt64 {
        let b = try bytes(n)
        var v: UInt64 = 0
        for (i, x) in b.enumerated() { v |= UInt64(x) << (8 * UInt64(i)) }
        return v
    }

    private mutating func length(_ n: Int) throws -> Int {
        let v = try uint(n)
        guard v <= UInt64(data.count) else { throw corrupt("length \(v) exceeds the data") }
        return Int(v)
    }

    private mutating func line() throws -> String {
        guard let nl = data[(data.startIndex + pos)...].firstIndex(of: 0x0A) else { throw corrupt("unterminated text argument") }
        let s = String(decoding: data[(data.startIndex + pos)..<nl], as: UTF8.self)
        pos = nl - data.startIndex + 1
        return s
    }

    private mutating func pop() throws -> PickleObject {
        guard let v = stack.popLast() else { throw corrupt("stack underflow") }
        if let m = marks.last, stack.count < m { throw corrupt("stack underflow past a mark") }
        return v
    }

    private mutating func popMark() throws -> [PickleObject] {
        guard let m = marks.popLast(), m <= stack.count else { throw corrupt("no mark on the stack") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func push(_ v: PickleObject) throws {
        guard stack.count < maxStack else { throw corrupt("stack too deep") }
        stack.append(v)
    }

    private func global(_ module: String, _ name: String) throws -> PickleObject {
        let full = "\(module).\(name)"
        guard Unpickler.allowedGlobals.contains(full) else { throw CheckpointError.forbiddenGlobal(file: file, name: full) }
        return .global(full)
    }

    private static func key(_ k: PickleObject) -> String? {
        switch k {
        case let .string(s): s
        case let .int(i): String(i)
        case let .bigInt(s): s
        case let .bool(b): b ? "True" : "False"
        case let .float(f): String(f)
        case .none: "None"
        case let .bytes(d): String(decoding: d, as: UTF8.self)
        default: nil
        }
    }

    private func setItem(_ d: PickleDict, _ k: PickleObject, _ v: PickleObject) throws {
        guard let ks = Unpickler.key(k) else { throw corrupt("unsupported dictionary key") }
        if let i = d.items.firstIndex(where: { Unpickler.key($0.0) == ks }) { d.items[i].1 = v } else { d.items.append((k, v)) }
    }

    /// Calls an allowed global.
    private func call(_ callee: PickleObject, _ args: [PickleObject]) throws -> PickleObject {
        guard case let .global(name) = callee else { throw corrupt("REDUCE on a non-callable") }
        switch name {
        case "collections.OrderedDict":
            let d = PickleDict("OrderedDict")
            if case let .list(l)? = args.first {
                for item in l.items {
                    switch item {
                    case let .tuple(kv) where kv.count == 2: try setItem(d, kv[0], kv[1])
                    case let .list(kv) where kv.items.count == 2: try setItem(d, kv.items[0], kv.items[1])
                    default: throw corrupt("OrderedDict items are not pairs")
                    }
                }
            }
            return .dict(d)
        case "builtins.set", "builtins.frozenset", "__builtin__.set":
            if case let .list(l)? = args.first { return .list(PickleList(l.items)) }
            return .list(PickleList())
        case "builtins.bytearray":
            if case let .bytes(b)? = args.first { return .bytes(b) }
            return .bytes(Data())
        case "torch.Size":
            if case let .tuple(t)? = args.first { return .tuple(t) }
            return .tuple([])
        case "torch.device":
            return args.first ?? .none
        case _ where Unpickler.plainDataClasses.contains(name):
            return .object(PickleInstance(name))
        default:
            return try resolver.reduce(name, args)
        }
    }

    /// Runs the machine to STOP and returns the result.
    mutating func load() throws -> PickleObject {
        while true {
            let op = try byte()
            switch op {
            case 0x80: // PROTO
                let p = try byte()
                guard p <= 5 else { throw corrupt("unsupported pickle protocol \(p)") }
            case 0x95: _ = try uint(8) // FRAME
            case 0x2E: // STOP
                guard let v = stack.popLast() else { throw corrupt("STOP with an empty stack") }
                return v
            case 0x28: marks.append(stack.count) // MARK
            case 0x30: _ = try pop() // POP
            case 0x31: _ = try popMark() // POP_MARK
            case 0x32: guard let v = stack.last else { throw corrupt("DUP on an empty stack") }; try push(v)
            case 0x4E: try push(.none) // NONE
            case 0x88: try push(.bool(true))
            case 0x89: try push(.bool(false))
            case 0x4B: try push(.int(Int(try byte()))) // BININT1
            case 0x4D: try push(.int(Int(try uint(2)))) // BININT2
            case 0x4A: try push(.int(Int(Int32(bitPattern: UInt32(try uint(4)))))) // BININT
            case 0x8A, 0x8B: // LONG1, LONG4
                let n = op == 0x8A ? Int(try byte()) : try length(4)
                try push(try Unpickler.decodeLong(try bytes(n)))
            case 0x49: // INT (text; "00"/"01" are booleans)
                let s = try line()
                if s == "00" { try push(.bool(false)) } else if s == "01" { try push(.bool(true)) }
                else if let v = Int(s) { try push(.int(v)) } else { throw corrupt("bad INT \(s)") }
            case 0x4C: // LONG (text)
                var s = try line()
                if s.hasSuffix("L") { s.removeLast() }
                if let v = Int(s) { try push(.int(v)) } else { try push(.bigInt(s)) }
            case 0x47: // BINFLOAT (big-endian)
                let b = try bytes(8)
                var v: UInt64 = 0
                for x in b { v = v << 8 | UInt64(x) }
                try push(.float(Double(bitPattern: v)))
            case 0x46: // FLOAT (text)
                let s = try line()
                guard let v = Double(s) else { throw corrupt("bad FLOAT \(s)") }
                try push(.float(v))
            case 0x58: try push(.string(String(decoding: try bytes(try length(4)), as: UTF8.self))) // BINUNICODE
            case 0x8C: try push(.string(String(decoding: try bytes(Int(try byte())), as: UTF8.self))) // SHORT_BINUNICODE
            case 0x8D: try push(.string(String(decoding: try bytes(try length(8)), as: UTF8.self))) // BINUNICODE8
            case 0x56: try push(.string(try line())) // UNICODE (raw-unicode-escape; plain text here)
            // Python 2 str opcodes: decoded as text, as torch.load(encoding="utf-8") does.
            case 0x54: try push(.string(Unpickler.text(try bytes(try length(4))))) // BINSTRING
            case 0x55: try push(.string(Unpickler.text(try bytes(Int(try byte()))))) // SHORT_BINSTRING
            case 0x53: // STRING (quoted text)
                var s = try line()
                if s.count >= 2, let f = s.first, f == "'" || f == "\"", s.last == f { s = String(s.dropFirst().dropLast()) }
                try push(.string(s))
            case 0x42: try push(.bytes(try bytes(try length(4)))) // BINBYTES
            case 0x43: try push(.bytes(try bytes(Int(try byte())))) // SHORT_BINBYTES
            case 0x8E, 0x96: try push(.bytes(try bytes(try length(8)))) // BINBYTES8, BYTEARRAY8
            case 0x98: break // READONLY_BUFFER
            case 0x97: throw corrupt("out-of-band buffers are not supported") // NEXT_BUFFER
            case 0x29: try push(.tuple([])) // EMPTY_TUPLE
            case 0x85: try push(.tuple([try pop()])) // TUPLE1
            case 0x86: let b = try pop(); let a = try pop(); try push(.tuple([a, b])) // TUPLE2
            case 0x87: let c = try pop(); let b = try pop(); let a = try pop(); try push(.tuple([a, b, c])) // TUPLE3
            case 0x74: try push(.tuple(try popMark())) // TUPLE
            case 0x5D: try push(.list(PickleList())) // EMPTY_LIST
            case 0x6C: try push(.list(PickleList(try popMark()))) // LIST
            case 0x7D: try push(.dict(PickleDict())) // EMPTY_DICT
            case 0x8F: try push(.list(PickleList())) // EMPTY_SET
            case 0x64: // DICT
                let items = try popMark()
                guard items.count % 2 == 0 else { throw corrupt("DICT with an odd item count") }
                let d = PickleDict()
                for i in stride(from: 0, to: items.count, by: 2) { try setItem(d, items[i], items[i + 1]) }
                try push(.dict(d))
            case 0x91: try push(.list(PickleList(try popMark()))) // FROZENSET
            case 0x61: // APPEND
                let v = try pop()
                guard case let .list(l)? = stack.last else { throw corrupt("APPEND to a non-list") }
                l.items.append(v)
            case 0x65, 0x90: // APPENDS, ADDITEMS
                let items = try popMark()
                guard case let .list(l)? = stack.last else { throw corrupt("APPENDS to a non-list") }
                l.items.append(contentsOf: items)
            case 0x73: // SETITEM
                let v = try pop(), k = try pop()
                guard case let .dict(d)? = stack.last else { throw corrupt("SETITEM on a non-dict") }
                try setItem(d, k, v)
            case 0x75: // SETITEMS
                let items = try popMark()
                guard items.count % 2 == 0, case let .dict(d)? = stack.last else { throw corrupt("bad SETITEMS") }
                for i in stride(from: 0, to: items.count, by: 2) { try setItem(d, items[i], items[i + 1]) }
            case 0x63: // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                try push(try global(module, name))
            case 0x93: // STACK_GLOBAL
                let n = try pop(), m = try pop()
                guard case let .string(name) = n, case let .string(module) = m else { throw corrupt("STACK_GLOBAL needs two strings") }
                try push(try global(module, name))
            case 0x52: // REDUCE
                let args = try pop(), f = try pop()
                guard case let .tuple(a) = args else { throw corrupt("REDUCE arguments are not a tuple") }
                try push(try call(f, a))
            case 0x81: // NEWOBJ
                let args = try pop(), cls = try pop()
                guard case let .tuple(a) = args else { throw corrupt("NEWOBJ arguments are not a tuple") }
                try push(try call(cls, a))
            case 0x92: // NEWOBJ_EX
                _ = try pop()
                let args = try pop(), cls = try pop()
                guard case let .tuple(a) = args else { throw corrupt("NEWOBJ_EX arguments are not a tuple") }
                try push(try call(cls, a))
            case 0x62: // BUILD
                let state = try pop()
                guard let target = stack.last else { throw corrupt("BUILD on an empty stack") }
                switch target {
                case let .object(o): o.state = state
                case let .dict(d):
                    if case let .dict(s) = state { for (k, v) in s.items { try setItem(d, k, v) } }
                case let .opaque(obj):
                    if let replaced = try resolver.build(obj, state: state) { stack[stack.count - 1] = replaced }
                default: break // e.g. tensor/parameter state: nothing to keep
                }
            case 0x50: // PERSID (text)
                try push(try resolver.persistentLoad(.string(try line())))
            case 0x51: try push(try resolver.persistentLoad(try pop())) // BINPERSID
            case 0x70: memo[try Int(line()) ?? -1] = stack.last // PUT
            case 0x71: memo[Int(try byte())] = stack.last // BINPUT
            case 0x72: memo[Int(try uint(4))] = stack.last // LONG_BINPUT
            case 0x94: memo[memo.count] = stack.last // MEMOIZE
            case 0x67, 0x68, 0x6A: // GET, BINGET, LONG_BINGET
                let i = op == 0x67 ? (Int(try line()) ?? -1) : (op == 0x68 ? Int(try byte()) : Int(try uint(4)))
                guard let v = memo[i] else { throw corrupt("memo entry \(i) is missing") }
                try push(v)
            case 0x69, 0x6F, 0x82, 0x83, 0x84: // INST, OBJ, EXT1/2/4
                throw corrupt("opcode 0x\(String(op, radix: 16)) (class instantiation or extension registry) is not allowed")
            default:
                throw corrupt("unknown opcode 0x\(String(op, radix: 16)) at offset \(pos - 1)")
            }
        }
    }

    /// UTF-8 text, or Latin-1 when the bytes are not valid UTF-8.
    static func text(_ b: Data) -> String {
        String(data: b, encoding: .utf8) ?? String(b.map { Character(Unicode.Scalar($0)) })
    }

    /// Two's-complement little-endian integer of any length.
    static func decodeLong(_ b: Data) throws -> PickleObject {
        if b.isEmpty { return .int(0) }
        if b.count <= 8 {
            var v: UInt64 = 0
            for (i, x) in b.enumerated() { v |= UInt64(x) << (8 * UInt64(i)) }
            let bits = 8 * b.count
            if bits < 64, b.last! & 0x80 != 0 { v |= ~((1 << UInt64(bits)) - 1) }
            return .int(Int(Int64(bitPattern: v)))
        }
        // Beyond 64 bits: decimal text by repeated division (rare: Python longs in metadata).
        let negative = b.last! & 0x80 != 0
        var mag = Array(b)
        if negative {  // magnitude of a negative two's-complement number
            var carry = 1
            for i in mag.indices { let x = Int(~mag[i]) + carry; mag[i] = UInt8(x & 0xFF); carry = x >> 8 }
        }
        var digits: [Character] = []
        while mag.contains(where: { $0 != 0 }) {
            var rem = 0
            for i in mag.indices.reversed() { let cur = rem << 8 | Int(mag[i]); mag[i] = UInt8(cur / 10); rem = cur % 10 }
            digits.append(Character(String(rem)))
        }
        return .bigInt((negative ? "-" : "") + String(digits.reversed()))
    }
}

extension PickleObject {
    /// Takes a tree apart with an explicit work list (children are held by the list before their parent is
    /// emptied or freed), so that freeing it never recurses however deep it is nested; shared and cyclic parts
    /// are fine. The list should hold the only references to the tree.
    static func dismantle(_ work: inout [PickleObject]) {
        while let v = work.popLast() {
            switch v {
            case let .list(l): work += l.items; l.items = []
            case let .tuple(t): work += t
            case let .dict(d): for (k, x) in d.items { work.append(k); work.append(x) }; d.items = []
            case let .object(o): if let st = o.state { work.append(st) }; o.state = nil
            default: break
            }
        }
    }

    /// Converts the machine's result into the public value tree (depth-limited: cycles are an error).
    func value(file: String, depth: Int = 0) throws -> CheckpointValue {
        guard depth < 256 else { throw CheckpointError.corrupt(file: file, reason: "pickle: nesting deeper than 256 (a cycle?)") }
        switch self {
        case .none: return .none
        case let .bool(b): return .bool(b)
        case let .int(i): return .int(i)
        case let .bigInt(s): return .bigInt(s)
        case let .float(f): return .float(f)
        case let .string(s): return .string(s)
        case let .bytes(d): return .bytes(d)
        case let .list(l): return .list(try l.items.map { try $0.value(file: file, depth: depth + 1) })
        case let .tuple(t): return .tuple(try t.map { try $0.value(file: file, depth: depth + 1) })
        case let .dict(d):
            var out = CheckpointDict(typeName: d.typeName)
            for (k, v) in d.items {
                let key: String
                switch k {
                case let .string(s): key = s
                case let .int(i): key = String(i)
                case let .bigInt(s): key = s
                case let .bool(b): key = b ? "True" : "False"
                case let .float(f): key = String(f)
                case .none: key = "None"
                case let .bytes(b): key = String(decoding: b, as: UTF8.self)
                default: key = "?"
                }
                out.entries.append((key, try v.value(file: file, depth: depth + 1)))
            }
            return .dict(out)
        case let .global(name): return .string(name)
        case let .object(o):
            var out = CheckpointDict(typeName: o.typeName)
            switch o.state {
            case let .dict(d)?:
                if case let .dict(inner) = try PickleObject.dict(d).value(file: file, depth: depth + 1) { out.entries = inner.entries }
            case let .tuple(t)? where t.count == 2:  // (state, slotstate)
                for part in t { if case let .dict(d) = part, case let .dict(inner) = try PickleObject.dict(d).value(file: file, depth: depth + 1) { out.entries += inner.entries } }
            default: break
            }
            return .dict(out)
        case let .opaque(o):
            if let t = o as? TensorBox { return .tensor(try t.materialize()) }
            if let n = o as? NumberBox { return n.value }
            return .string(String(describing: type(of: o)))
        }
    }
}

/// A tensor travelling through the pickle machine; its bytes are read when the tree is converted (legacy
/// files store the data after the pickle).
final class TensorBox {
    let materialize: () throws -> StoredTensor
    init(_ m: @escaping () throws -> StoredTensor) { materialize = m }
}
/// A scalar produced by a resolver (numpy scalars).
final class NumberBox { let value: CheckpointValue; init(_ v: CheckpointValue) { value = v } }
