// No upstream counterpart (PyTorch reaches oneDNN's convolutions through ATen): forward-only BasicBlock ResNets
// (torchvision layout) on oneDNN 2.6 convolution and pooling primitives, each eval-mode batch norm folded into its
// convolution, ReLU and the residual add fused as post-ops, activations kept in oneDNN's blocked layout throughout.
import CDNNL
import Foundation

/// A bias-free convolution with the eval-mode batch norm after it folded in: weights [out, in, k, k] scaled per
/// output channel (w·γ/√(var + eps)) and a bias (β − mean·γ/√(var + eps)).
public struct FoldedConvolution: Sendable {
    public let weights: [Float]
    public let bias: [Float]
    public let outChannels: Int, inChannels: Int, kernel: Int, stride: Int, padding: Int

    /// Folds the affine map `x·scale[o] + shift[o]` (`Tensor.batchNormAffine`) into `weight` [out, in, k, k].
    public init(weight: Tensor<Float>, stride: Int, padding: Int, scale: [Float], shift: [Float]) {
        precondition(weight.rank == 4 && weight.shape[2] == weight.shape[3] && scale.count == weight.shape[0]
                     && shift.count == weight.shape[0], "folded convolution \(weight.shape) with \(scale.count) channels of batch norm")
        (outChannels, inChannels, kernel) = (weight.shape[0], weight.shape[1], weight.shape[2])
        (self.stride, self.padding, bias) = (stride, padding, shift)
        let per = inChannels * kernel * kernel, w = weight.storage.pointer
        weights = [Float](unsafeUninitializedCapacity: outChannels * per) { out, n in
            for o in 0..<scale.count {
                let s = scale[o]
                for i in (o * per)..<((o + 1) * per) { out[i] = w[i] * s }
            }
            n = scale.count * per
        }
    }

    /// Output extent of an input extent `n`.
    func output(_ n: Int) -> Int { (n + 2 * padding - kernel) / stride + 1 }
}

/// A BasicBlock ResNet for inference: stem convolution + ReLU, max pool 3×3/2 (padding 1), the blocks (conv1 +
/// ReLU, conv2 + shortcut + ReLU, shortcut = the input or its 1×1 downsample), global average pool → [N, C].
public struct FusedResNetLayout: Sendable {
    public struct Block: Sendable {
        public var conv1: FoldedConvolution, conv2: FoldedConvolution, downsample: FoldedConvolution?
        public init(conv1: FoldedConvolution, conv2: FoldedConvolution, downsample: FoldedConvolution?) {
            (self.conv1, self.conv2, self.downsample) = (conv1, conv2, downsample)
        }
    }

    public var stem: FoldedConvolution
    public var blocks: [Block]
    public init(stem: FoldedConvolution, blocks: [Block]) { (self.stem, self.blocks) = (stem, blocks) }
}

/// A `FusedResNetLayout` on oneDNN: one plan of primitives and buffers per input shape (the few most recent kept),
/// the weights reordered once into the layouts the primitives ask for and shared by the plans.
public final class FusedResNet: @unchecked Sendable {
    public let layout: FusedResNetLayout
    /// Plans kept per network (voice inputs vary in length; each plan holds its activation buffers).
    public static let keptPlans = 4
    private let weights = DNNLWeightStore()
    private let lock = NSLock()
    private var plans: [[Int]: FusedResNetPlan] = [:], unavailable: Set<[Int]> = [], recent: [[Int]] = []

    public init(_ layout: FusedResNetLayout) { self.layout = layout }

    /// Whether oneDNN made a CPU engine here (if not, no plan is ever made).
    public static var isAvailable: Bool { DNNL.engine != nil }

    /// The pooled features [N, C] of `x` [N, C_in, H, W]; nil when oneDNN has no fast primitive for a step of this
    /// shape (the caller runs its own path).
    public func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float>? {
        guard let plan = plan(x.shape) else { return nil }
        let y = Tensor<Float>(uninitializedShape: [x.shape[0], plan.outputChannels])
        return plan.run(x.storage.pointer, y.storage.pointer) ? y : nil
    }

    /// The implementations oneDNN chose for the convolutions at input `shape` ("jit:avx2", …), nil if none.
    public func implementation(forInput shape: [Int]) -> String? { plan(shape)?.implementation }

    private func plan(_ shape: [Int]) -> FusedResNetPlan? {
        guard shape.count == 4, shape.allSatisfy({ $0 > 0 }), shape[1] == layout.stem.inChannels else { return nil }
        return lock.withLock {
            if let p = plans[shape] {
                recent.removeAll { $0 == shape }
                recent.append(shape)
                return p
            }
            if unavailable.contains(shape) { return nil }
            guard let p = FusedResNetPlan(layout, shape: shape, weights: weights) else {
                unavailable.insert(shape)
                return nil
            }
            plans[shape] = p
            recent.append(shape)
            if recent.count > Self.keptPlans { plans[recent.removeFirst()] = nil }
            return p
        }
    }
}

/// oneDNN's argument indices (DNNL_ARG_SRC / FROM, DST / TO, WEIGHTS, BIAS).
private enum Arg {
    static let src: Int32 = 1, dst: Int32 = 17, weights: Int32 = 33, bias: Int32 = 41
}

private struct DNNLFailure: Error {}

@inline(__always)
private func check(_ status: dnnl_status_t) throws { if status != dnnl_success { throw DNNLFailure() } }

/// A plain (`tag`) or to-be-chosen (`dnnl_format_tag_any`) f32 memory descriptor.
private func descriptor(_ dims: [Int], _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    try check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims.map(Int64.init), dnnl_f32, tag))
    return md
}

/// The memory descriptor a primitive descriptor gives for `query` (src, weights, dst) at `index`.
private func queried(_ pd: dnnl_primitive_desc_t, _ query: dnnl_query_t, _ index: Int32 = 0) throws -> dnnl_memory_desc_t {
    guard let md = dnnl_primitive_desc_query_md(pd, query, index) else { throw DNNLFailure() }
    return md.pointee
}

private func same(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
    var (a, b) = (a, b)
    return dnnl_memory_desc_equal(&a, &b) != 0
}

/// Folded weights and biases reordered into the layouts primitives asked for, per convolution, shared by the plans.
final class DNNLWeightStore: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Int: [(md: dnnl_memory_desc_t, data: UnsafeMutableRawPointer)]] = [:]

    deinit { for list in stored.values { for s in list { s.data.deallocate() } } }

    /// `values` (plain layout `plain`) in layout `wanted`, reordered on first request; `key` names the tensor.
    func data(_ key: Int, _ values: [Float], plain: dnnl_memory_desc_t, wanted: dnnl_memory_desc_t) throws -> UnsafeMutableRawPointer {
        try lock.withLock {
            if let hit = stored[key]?.first(where: { same($0.md, wanted) }) { return hit.data }
            guard let engine = DNNL.engine else { throw DNNLFailure() }
            var (from, to) = (plain, wanted)
            let size = dnnl_memory_desc_get_size(&to)
            let data = UnsafeMutableRawPointer.allocate(byteCount: max(size, 64), alignment: 64)
            data.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            var ok = false
            defer { if !ok { data.deallocate() } }
            var pd: dnnl_primitive_desc_t?, prim: dnnl_primitive_t?, src: dnnl_memory_t?, dst: dnnl_memory_t?, stream: dnnl_stream_t?
            defer {
                if let pd { dnnl_primitive_desc_destroy(pd) }
                if let prim { dnnl_primitive_destroy(prim) }
                if let src { dnnl_memory_destroy(src) }
                if let dst { dnnl_memory_destroy(dst) }
                if let stream { dnnl_stream_destroy(stream) }
            }
            try values.withUnsafeBufferPointer { v in
                try check(dnnl_reorder_primitive_desc_create(&pd, &from, engine, &to, engine, nil))
                try check(dnnl_primitive_create(&prim, pd))
                try check(dnnl_memory_create(&src, &from, engine, UnsafeMutableRawPointer(mutating: v.baseAddress)))
                try check(dnnl_memory_create(&dst, &to, engine, data))
                try check(dnnl_stream_create(&stream, engine, UInt32(dnnl_stream_default_flags.rawValue)))
                let args = [dnnl_exec_arg_t(arg: Arg.src, memory: src), dnnl_exec_arg_t(arg: Arg.dst, memory: dst)]
                try check(dnnl_primitive_execute(prim, stream, Int32(args.count), args))
                try check(dnnl_stream_wait(stream))
            }
            ok = true
            stored[key, default: []].append((wanted, data))
            return data
        }
    }
}

/// The primitives and buffers of one input shape, run in order on one stream (one run at a time).
final class FusedResNetPlan: @unchecked Sendable {
    /// An activation: its memory object, layout, extents and the pooled buffer under it (nil: the caller's input).
    private struct Activation {
        var memory: dnnl_memory_t
        var md: dnnl_memory_desc_t
        var dims: [Int]
        var buffer: Int?
    }

    private struct Step {
        var primitive: dnnl_primitive_t
        var args: [dnnl_exec_arg_t]
    }

    let outputChannels: Int
    /// The distinct convolution implementations, "+"-joined.
    private(set) var implementation = ""
    private let weights: DNNLWeightStore
    private let lock = NSLock()
    private var steps: [Step] = []
    private var primitives: [dnnl_primitive_t] = []
    private var memories: [dnnl_memory_t] = []
    private var buffers: [(data: UnsafeMutableRawPointer, capacity: Int, free: Bool)] = []
    private var input: dnnl_memory_t?, output: dnnl_memory_t?, stream: dnnl_stream_t?

    /// The plan of `layout` for inputs of `shape` [N, C, H, W]; nil when a primitive cannot be made or oneDNN
    /// would run a convolution on its reference kernels.
    init?(_ layout: FusedResNetLayout, shape: [Int], weights: DNNLWeightStore) {
        self.weights = weights
        outputChannels = layout.blocks.last?.conv2.outChannels ?? layout.stem.outChannels
        DNNL.matchThreads()
        do { try build(layout, shape) } catch { return nil }
    }

    deinit {
        for p in primitives { dnnl_primitive_destroy(p) }
        for m in memories { dnnl_memory_destroy(m) }
        if let stream { dnnl_stream_destroy(stream) }
        for b in buffers { b.data.deallocate() }
    }

    /// Runs the plan on `x` (plain [N, C, H, W]) into `y` (plain [N, C_out]); false if oneDNN reported an error.
    func run(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) -> Bool {
        lock.withLock {
            DNNL.matchThreads()
            guard let input, let output, let stream,
                  dnnl_memory_set_data_handle(input, UnsafeMutableRawPointer(mutating: x)) == dnnl_success,
                  dnnl_memory_set_data_handle(output, y) == dnnl_success else { return false }
            for s in steps where dnnl_primitive_execute(s.primitive, stream, Int32(s.args.count), s.args) != dnnl_success { return false }
            return dnnl_stream_wait(stream) == dnnl_success
        }
    }

    // MARK: building

    private func build(_ layout: FusedResNetLayout, _ shape: [Int]) throws {
        guard let engine = DNNL.engine else { throw DNNLFailure() }
        var s: dnnl_stream_t?
        try check(dnnl_stream_create(&s, engine, UInt32(dnnl_stream_default_flags.rawValue)))
        stream = s
        let x = try memory(try descriptor(shape, dnnl_nchw), nil)
        input = x
        var index = 0
        func conv(_ c: FoldedConvolution, _ src: Activation, sum: Activation? = nil, relu: Bool, plainSource: Bool = false) throws -> Activation {
            defer { index += 1 }
            return try convolution(c, index, src, sum: sum, relu: relu, plainSource: plainSource)
        }
        let stem = try conv(layout.stem, Activation(memory: x, md: try descriptor(shape, dnnl_nchw), dims: shape, buffer: nil),
                            relu: true, plainSource: true)
        var h = try pooling(stem, max: true, kernel: [3, 3], stride: 2, padding: 1)
        release(stem)
        for b in layout.blocks {
            let t = try conv(b.conv1, h, relu: true)
            var shortcut = h
            if let d = b.downsample {
                shortcut = try conv(d, h, relu: false)
                release(h)
            }
            let out = try conv(b.conv2, t, sum: shortcut, relu: true)
            release(t)
            if out.buffer != shortcut.buffer { release(shortcut) }
            h = out
        }
        let pooled = try pooling(h, max: false, kernel: [h.dims[2], h.dims[3]], stride: 1, padding: 0)
        let plain = try descriptor([shape[0], outputChannels, 1, 1], dnnl_nchw)
        let y = try memory(plain, nil)
        output = y
        try reorder(pooled, into: Activation(memory: y, md: plain, dims: pooled.dims, buffer: nil))
    }

    /// A memory object over `md` on `data` (nil: set before each run).
    private func memory(_ md: dnnl_memory_desc_t, _ data: UnsafeMutableRawPointer?) throws -> dnnl_memory_t {
        guard let engine = DNNL.engine else { throw DNNLFailure() }
        var md = md, m: dnnl_memory_t?
        try check(dnnl_memory_create(&m, &md, engine, data))
        guard let m else { throw DNNLFailure() }
        memories.append(m)
        return m
    }

    /// An activation of layout `md` and extents `dims` on a free pooled buffer (the smallest that fits) or a new one.
    private func allocate(_ md: dnnl_memory_desc_t, _ dims: [Int]) throws -> Activation {
        var md = md
        let size = dnnl_memory_desc_get_size(&md)
        let fits = buffers.indices.filter { buffers[$0].free && buffers[$0].capacity >= size }
        let i: Int
        if let best = fits.min(by: { buffers[$0].capacity < buffers[$1].capacity }) {
            i = best
        } else {
            let data = UnsafeMutableRawPointer.allocate(byteCount: max(size, 64), alignment: 64)
            data.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            buffers.append((data, size, true))
            i = buffers.count - 1
        }
        buffers[i].free = false
        return Activation(memory: try memory(md, buffers[i].data), md: md, dims: dims, buffer: i)
    }

    private func release(_ a: Activation) { if let b = a.buffer { buffers[b].free = true } }

    private func primitive(_ pd: dnnl_primitive_desc_t) throws -> dnnl_primitive_t {
        var p: dnnl_primitive_t?
        try check(dnnl_primitive_create(&p, pd))
        guard let p else { throw DNNLFailure() }
        primitives.append(p)
        return p
    }

    /// A reorder step from `a` into `b` (same extents, any layouts).
    private func reorder(_ a: Activation, into b: Activation) throws {
        guard let engine = DNNL.engine else { throw DNNLFailure() }
        var (from, to) = (a.md, b.md)
        var pd: dnnl_primitive_desc_t?
        try check(dnnl_reorder_primitive_desc_create(&pd, &from, engine, &to, engine, nil))
        guard let pd else { throw DNNLFailure() }
        defer { dnnl_primitive_desc_destroy(pd) }
        steps.append(Step(primitive: try primitive(pd), args: [dnnl_exec_arg_t(arg: Arg.src, memory: a.memory),
                                                                dnnl_exec_arg_t(arg: Arg.dst, memory: b.memory)]))
    }

    /// `a` in layout `md`: itself, or a reordered copy on a pooled buffer.
    private func conform(_ a: Activation, to md: dnnl_memory_desc_t) throws -> Activation {
        if same(a.md, md) { return a }
        let b = try allocate(md, a.dims)
        try reorder(a, into: b)
        return b
    }

    /// A convolution step (folded batch norm as bias; post-ops: + `sum` in place, then ReLU). Returns its output,
    /// which is `sum`'s buffer when there is one.
    private func convolution(_ c: FoldedConvolution, _ index: Int, _ src: Activation, sum: Activation?, relu: Bool,
                             plainSource: Bool) throws -> Activation {
        guard let engine = DNNL.engine, src.dims[1] == c.inChannels else { throw DNNLFailure() }
        let (n, h, w) = (src.dims[0], src.dims[2], src.dims[3])
        let dims = [n, c.outChannels, c.output(h), c.output(w)]
        guard dims[2] > 0, dims[3] > 0 else { throw DNNLFailure() }
        let plainWeights = try descriptor([c.outChannels, c.inChannels, c.kernel, c.kernel], dnnl_oihw)
        let plainBias = try descriptor([c.outChannels], dnnl_x)
        var srcMD = plainSource ? src.md : try descriptor(src.dims, dnnl_format_tag_any)
        var wMD = try descriptor([c.outChannels, c.inChannels, c.kernel, c.kernel], dnnl_format_tag_any)
        var bMD = plainBias, dstMD = try descriptor(dims, dnnl_format_tag_any)
        let padR = [(dims[2] - 1) * c.stride + c.kernel - h - c.padding, (dims[3] - 1) * c.stride + c.kernel - w - c.padding].map(Int64.init)
        let strides = [Int64(c.stride), Int64(c.stride)], padL = [Int64(c.padding), Int64(c.padding)]
        var desc = dnnl_convolution_desc_t()
        try check(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &srcMD, &wMD, &bMD, &dstMD,
                                                     strides, padL, padR))
        var attr: dnnl_primitive_attr_t?, ops: dnnl_post_ops_t?
        try check(dnnl_primitive_attr_create(&attr))
        defer { dnnl_primitive_attr_destroy(attr) }
        try check(dnnl_post_ops_create(&ops))
        defer { dnnl_post_ops_destroy(ops) }
        if sum != nil { try check(dnnl_post_ops_append_sum(ops, 1)) }
        if relu { try check(dnnl_post_ops_append_eltwise(ops, 1, dnnl_eltwise_relu, 0, 0)) }
        try check(dnnl_primitive_attr_set_post_ops(attr, ops))
        var made: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&made, &desc, attr, engine, nil))
        guard let pd = made else { throw DNNLFailure() }
        defer { dnnl_primitive_desc_destroy(pd) }
        // oneDNN's reference convolutions are orders of magnitude slower than the engine's own path.
        let name = DNNL.implementationName(pd)
        guard !name.hasPrefix("ref") else { throw DNNLFailure() }
        if !implementation.split(separator: "+").contains(Substring(name)) {
            implementation += (implementation.isEmpty ? "" : "+") + name
        }
        let prim = try primitive(pd)
        let source = try conform(src, to: try queried(pd, dnnl_query_src_md))
        let wanted = (weights: try queried(pd, dnnl_query_weights_md), bias: try queried(pd, dnnl_query_weights_md, 1))
        let wm = try memory(wanted.weights, try weights.data(2 * index, c.weights, plain: plainWeights, wanted: wanted.weights))
        let bm = try memory(wanted.bias, try weights.data(2 * index + 1, c.bias, plain: plainBias, wanted: wanted.bias))
        let dstWanted = try queried(pd, dnnl_query_dst_md)
        let out = try sum.map { try conform($0, to: dstWanted) } ?? allocate(dstWanted, dims)
        steps.append(Step(primitive: prim, args: [dnnl_exec_arg_t(arg: Arg.src, memory: source.memory),
                                                  dnnl_exec_arg_t(arg: Arg.weights, memory: wm),
                                                  dnnl_exec_arg_t(arg: Arg.bias, memory: bm),
                                                  dnnl_exec_arg_t(arg: Arg.dst, memory: out.memory)]))
        if source.buffer != src.buffer { release(source) }
        return Activation(memory: out.memory, md: out.md, dims: dims, buffer: out.buffer)
    }

    /// A max (or average, padding excluded) pooling step of square `stride` and `padding`.
    private func pooling(_ src: Activation, max: Bool, kernel: [Int], stride: Int, padding: Int) throws -> Activation {
        guard let engine = DNNL.engine else { throw DNNLFailure() }
        let out = (0..<2).map { (src.dims[2 + $0] + 2 * padding - kernel[$0]) / stride + 1 }
        guard out.allSatisfy({ $0 > 0 }) else { throw DNNLFailure() }
        let dims = [src.dims[0], src.dims[1], out[0], out[1]]
        var srcMD = src.md, dstMD = try descriptor(dims, dnnl_format_tag_any)
        let padR = (0..<2).map { Int64((out[$0] - 1) * stride + kernel[$0] - src.dims[2 + $0] - padding) }
        var desc = dnnl_pooling_desc_t()
        try check(dnnl_pooling_forward_desc_init(&desc, dnnl_forward_inference, max ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding,
                                                 &srcMD, &dstMD, [Int64(stride), Int64(stride)], kernel.map(Int64.init),
                                                 [Int64(padding), Int64(padding)], padR))
        var made: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&made, &desc, nil, engine, nil))
        guard let pd = made else { throw DNNLFailure() }
        defer { dnnl_primitive_desc_destroy(pd) }
        let prim = try primitive(pd)
        let source = try conform(src, to: try queried(pd, dnnl_query_src_md))
        let dst = try allocate(try queried(pd, dnnl_query_dst_md), dims)
        steps.append(Step(primitive: prim, args: [dnnl_exec_arg_t(arg: Arg.src, memory: source.memory),
                                                  dnnl_exec_arg_t(arg: Arg.dst, memory: dst.memory)]))
        if source.buffer != src.buffer { release(source) }
        return dst
    }
}
