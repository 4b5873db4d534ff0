// Reverse-mode automatic differentiation on a dynamic tape, as torch.autograd: every op that sees an input
// needing a gradient records a GradFn; `backward()` walks them in reverse topological order.

/// Where a gradient goes: the recorded op that produced an input, a leaf that accumulates it, or nowhere.
/// Edges reference nodes, not tensors, so an intermediate tensor's data is freed as soon as no op's
/// backward closure needs it (as torch.autograd's graph does).
enum GradEdge<T: TensorScalar> {
    case node(GradFn<T>)
    case leaf(Tensor<T>)
    case none
}

/// A recorded operation: where its inputs' gradients go, their shapes, and the vector-Jacobian product
/// mapping the output gradient to one gradient per input (nil where that input needs none).
public final class GradFn<T: TensorScalar> {
    public let name: String
    let edges: [GradEdge<T>]
    let inputShapes: [[Int]]
    let vjp: (Tensor<T>) -> [Tensor<T>?]

    init(_ name: String, inputs: [Tensor<T>], vjp: @escaping (Tensor<T>) -> [Tensor<T>?]) {
        self.name = name
        edges = inputs.map { t in
            if let fn = t.gradFn { return .node(fn) }
            return t.requiresGrad ? .leaf(t) : .none
        }
        inputShapes = inputs.map(\.shape)
        self.vjp = vjp
    }
}

/// Whether ops record history (torch.is_grad_enabled).
public enum GradientMode {
    @TaskLocal public static var isEnabled = true
}

/// Runs `body` without recording autodiff history (torch.no_grad).
@discardableResult
public func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
    try GradientMode.$isEnabled.withValue(false) { try body() }
}

extension Tensor {
    /// Defines a custom differentiable op (torch.autograd.Function): attaches history to a freshly computed
    /// `result` when any of `inputs` needs a gradient and gradients are enabled. `vjp` receives dL/d(result)
    /// and returns one gradient per input, shaped like it (nil where `needsGrad` is false). It runs with
    /// gradient recording off.
    public static func custom(_ name: String, _ result: Tensor<T>, inputs: [Tensor<T>],
                              vjp: @escaping (Tensor<T>) -> [Tensor<T>?]) -> Tensor<T> {
        record(name, result, inputs, vjp)
    }

    /// Attaches history to a freshly computed `result` when any input needs a gradient.
    /// `vjp` receives the output gradient and returns one gradient per input (nil = none needed).
    @inline(__always)
    static func record(_ name: String, _ result: Tensor<T>, _ inputs: [Tensor<T>],
                       _ vjp: @escaping (Tensor<T>) -> [Tensor<T>?]) -> Tensor<T> {
        guard GradientMode.isEnabled, inputs.contains(where: { $0.needsGrad }) else { return result }
        result.gradFn = GradFn(name, inputs: inputs, vjp: vjp)
        return result
    }

    /// Back-propagates from this tensor. `gradient` is dL/d(self); it defaults to ones, as for a scalar loss.
    /// Gradients accumulate into `grad` of every reachable leaf with `requiresGrad` (as PyTorch, they add up
    /// across calls until reset with `zeroGrad`). Intermediate gradients are freed as soon as they are used.
    public func backward(_ gradient: Tensor<T>? = nil) {
        let seed = gradient ?? Tensor(shape: shape, repeating: 1)
        precondition(seed.shape == shape, "gradient shape \(seed.shape) differs from tensor shape \(shape)")
        guard let root = gradFn else {
            if requiresGrad { accumulate(seed) }
            return
        }
        // Topological order of the nodes (iterative DFS, so deep graphs do not overflow the stack).
        var order: [GradFn<T>] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(GradFn<T>, Bool)] = [(root, false)]
        while let (fn, expanded) = stack.popLast() {
            if expanded { order.append(fn); continue }
            if visited.contains(ObjectIdentifier(fn)) { continue }
            visited.insert(ObjectIdentifier(fn))
            stack.append((fn, true))
            for case let .node(next) in fn.edges where !visited.contains(ObjectIdentifier(next)) { stack.append((next, false)) }
        }
        var grads: [ObjectIdentifier: Tensor<T>] = [ObjectIdentifier(root): seed]
        withoutGradients {
            for fn in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(fn)) else { continue }
                let inputGrads = fn.vjp(g)
                for (k, edge) in fn.edges.enumerated() {
                    guard k < inputGrads.count, let ig = inputGrads[k] else { continue }
                    precondition(ig.shape == fn.inputShapes[k],
                                 "\(fn.name): gradient shape \(ig.shape) != input shape \(fn.inputShapes[k])")
                    switch edge {
                    case let .node(next):
                        let key = ObjectIdentifier(next)
                        // A new tensor: gradients may alias one another (add returns g for both inputs).
                        if let acc = grads[key] { grads[key] = acc + ig } else { grads[key] = ig }
                    case let .leaf(t):
                        t.accumulate(ig)
                    case .none:
                        break
                    }
                }
            }
        }
    }

    /// Adds a gradient into `grad` (a private copy the first time).
    private func accumulate(_ g: Tensor<T>) {
        if let old = grad { old.addInPlace(g) } else { grad = g.detached() }
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// Overwrites this tensor's elements with `other`'s (same element count), in place; no history.
    /// (Prefer this to copying through `buffer`: a temporary tensor may be freed before its buffer is read.)
    public func assign(_ other: Tensor<T>) {
        precondition(other.count == count, "assign: \(other.shape) into \(shape)")
        withExtendedLifetime(other) { storage.pointer.update(from: other.storage.pointer, count: count) }
    }

    /// Adds `other` (same shape) into this tensor's storage in place; no history.
    public func addInPlace(_ other: Tensor<T>) {
        precondition(other.shape == shape, "addInPlace: \(other.shape) vs \(shape)")
        let d = storage.pointer, s = other.storage.pointer
        for i in 0..<count { d[i] += s[i] }
    }
}
