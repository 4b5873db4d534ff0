// Reverse-mode automatic differentiation on a dynamic tape, as torch.autograd: every op that sees an input
// needing a gradient records a GradFn; `backward()` walks them in reverse topological order.

/// A recorded operation: its inputs and the vector-Jacobian product mapping the output gradient to one
/// gradient per input (nil where that input needs none).
public final class GradFn<T: TensorScalar> {
    public let name: String
    let inputs: [Tensor<T>]
    let vjp: (Tensor<T>) -> [Tensor<T>?]

    init(_ name: String, inputs: [Tensor<T>], vjp: @escaping (Tensor<T>) -> [Tensor<T>?]) {
        self.name = name
        self.inputs = inputs
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
    /// across calls until reset with `zeroGrad`). The graph is consumed: intermediate gradients are freed.
    public func backward(_ gradient: Tensor<T>? = nil) {
        let seed = gradient ?? Tensor(shape: shape, repeating: 1)
        precondition(seed.shape == shape, "gradient shape \(seed.shape) differs from tensor shape \(shape)")
        // Topological order (iterative DFS, so deep graphs do not overflow the stack).
        var order: [Tensor<T>] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor<T>, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            if visited.contains(ObjectIdentifier(t)) { continue }
            visited.insert(ObjectIdentifier(t))
            stack.append((t, true))
            if let fn = t.gradFn {
                for input in fn.inputs where input.needsGrad && !visited.contains(ObjectIdentifier(input)) {
                    stack.append((input, false))
                }
            }
        }
        var grads: [ObjectIdentifier: Tensor<T>] = [ObjectIdentifier(self): seed]
        withoutGradients {
            for t in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
                if t.requiresGrad && t.gradFn == nil {
                    if let old = t.grad { old.addInPlace(g) } else { t.grad = g.detached() }
                }
                guard let fn = t.gradFn else { continue }
                let inputGrads = fn.vjp(g)
                for (input, ig) in zip(fn.inputs, inputGrads) {
                    guard let ig, input.needsGrad else { continue }
                    precondition(ig.shape == input.shape,
                                 "\(fn.name): gradient shape \(ig.shape) != input shape \(input.shape)")
                    let key = ObjectIdentifier(input)
                    if let acc = grads[key] {
                        // A new tensor: gradients may alias one another (add returns g for both inputs).
                        grads[key] = acc + ig
                    } else {
                        grads[key] = ig
                    }
                }
            }
        }
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// Adds `other` (same shape) into this tensor's storage in place; no history.
    public func addInPlace(_ other: Tensor<T>) {
        precondition(other.shape == shape, "addInPlace: \(other.shape) vs \(shape)")
        let d = storage.pointer, s = other.storage.pointer
        for i in 0..<count { d[i] += s[i] }
    }
}
