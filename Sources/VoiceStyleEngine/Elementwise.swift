// Element-wise arithmetic with broadcasting, scalar arithmetic and the point-wise functions
// (torch add/sub/mul/div, sqrt/rsqrt/pow/exp/log, clamp).
import RealModule

extension Tensor {
    // MARK: kernels (no history)

    /// `f` applied to every element (parallel over large tensors).
    @inline(__always)
    func mapped(_ f: (T) -> T) -> Tensor<T> {
        let out = Tensor<T>(uninitializedShape: shape)
        let x = storage.pointer, o = out.storage.pointer
        Parallel.forChunks(count) { r in for i in r { o[i] = f(x[i]) } }
        return out
    }

    /// `f(self[i], other[i])` for two tensors of the same shape.
    @inline(__always)
    func zipped(_ other: Tensor<T>, _ f: (T, T) -> T) -> Tensor<T> {
        precondition(other.count == count, "zipped: \(shape) vs \(other.shape)")
        let out = Tensor<T>(uninitializedShape: shape)
        let x = storage.pointer, y = other.storage.pointer, o = out.storage.pointer
        Parallel.forChunks(count) { r in for i in r { o[i] = f(x[i], y[i]) } }
        return out
    }

    /// Broadcasting binary kernel.
    @inline(__always)
    static func broadcasting(_ a: Tensor<T>, _ b: Tensor<T>, _ f: (T, T) -> T) -> Tensor<T> {
        if a.shape == b.shape { return a.zipped(b, f) }
        let shape = Broadcast.shape(a.shape, b.shape)
        let out = Tensor<T>(uninitializedShape: shape)
        let (sh, st) = Broadcast.coalesce(shape, [out.strides, Broadcast.strides(a.shape, to: shape),
                                                  Broadcast.strides(b.shape, to: shape)])
        let o = out.storage.pointer, x = a.storage.pointer, y = b.storage.pointer
        Broadcast.forEachRun(sh, st) { off, n, inner in
            var po = off[0], pa = off[1], pb = off[2]
            let so = inner[0], sa = inner[1], sb = inner[2]
            for _ in 0..<n { o[po] = f(x[pa], y[pb]); po += so; pa += sa; pb += sb }
        }
        return out
    }

    // MARK: tensor ⊕ tensor (broadcasting)

    public static func + (a: Tensor<T>, b: Tensor<T>) -> Tensor<T> {
        record("add", broadcasting(a, b, +), [a, b]) { [sa = a.shape, sb = b.shape] g in
            [g.sum(toShape: sa), g.sum(toShape: sb)]
        }
    }

    public static func - (a: Tensor<T>, b: Tensor<T>) -> Tensor<T> {
        record("sub", broadcasting(a, b, -), [a, b]) { [sa = a.shape, sb = b.shape] g in
            [g.sum(toShape: sa), (-g).sum(toShape: sb)]
        }
    }

    public static func * (a: Tensor<T>, b: Tensor<T>) -> Tensor<T> {
        record("mul", broadcasting(a, b, *), [a, b]) { g in
            [a.needsGrad ? (g * b).sum(toShape: a.shape) : nil,
             b.needsGrad ? (g * a).sum(toShape: b.shape) : nil]
        }
    }

    public static func / (a: Tensor<T>, b: Tensor<T>) -> Tensor<T> {
        record("div", broadcasting(a, b, /), [a, b]) { g in
            [a.needsGrad ? (g / b).sum(toShape: a.shape) : nil,
             b.needsGrad ? (-(g * a) / (b * b)).sum(toShape: b.shape) : nil]
        }
    }

    // MARK: scalar arithmetic

    public static prefix func - (a: Tensor<T>) -> Tensor<T> {
        record("neg", a.mapped { -$0 }, [a]) { g in [-g] }
    }
    public static func + (a: Tensor<T>, s: T) -> Tensor<T> {
        record("addScalar", a.mapped { $0 + s }, [a]) { g in [g] }
    }
    public static func + (s: T, a: Tensor<T>) -> Tensor<T> { a + s }
    public static func - (a: Tensor<T>, s: T) -> Tensor<T> { a + (-s) }
    public static func - (s: T, a: Tensor<T>) -> Tensor<T> {
        record("rsubScalar", a.mapped { s - $0 }, [a]) { g in [-g] }
    }
    public static func * (a: Tensor<T>, s: T) -> Tensor<T> {
        record("mulScalar", a.mapped { $0 * s }, [a]) { g in [g * s] }
    }
    public static func * (s: T, a: Tensor<T>) -> Tensor<T> { a * s }
    public static func / (a: Tensor<T>, s: T) -> Tensor<T> {
        record("divScalar", a.mapped { $0 / s }, [a]) { g in [g / s] }
    }
    public static func / (s: T, a: Tensor<T>) -> Tensor<T> {
        record("rdivScalar", a.mapped { s / $0 }, [a]) { g in [g.zipped(a) { gi, x in -gi * s / (x * x) }] }
    }

    // MARK: point-wise functions

    /// Element-wise √x.
    public func sqrt() -> Tensor<T> {
        let y = mapped { $0.squareRoot() }
        let yv = y.detachedView()  // the output's data, not the output: capturing `y` would be a reference cycle
        return Tensor.record("sqrt", y, [self]) { g in [g.zipped(yv) { gi, yi in gi / (2 * yi) }] }
    }

    /// Element-wise 1/√x (torch.rsqrt).
    public func rsqrt() -> Tensor<T> {
        let y = mapped { 1 / $0.squareRoot() }
        let yv = y.detachedView()
        return Tensor.record("rsqrt", y, [self]) { g in [g.zipped(yv) { gi, yi in -gi * yi * yi * yi / 2 }] }
    }

    /// Element-wise x^p for a scalar exponent.
    public func pow(_ p: T) -> Tensor<T> {
        if p == 2 { return square() }
        let y = mapped { T.pow($0, p) }
        return Tensor.record("pow", y, [self]) { g in
            [g.zipped(self) { gi, x in gi * p * T.pow(x, p - 1) }]
        }
    }

    /// Element-wise x².
    public func square() -> Tensor<T> {
        Tensor.record("square", mapped { $0 * $0 }, [self]) { g in [g.zipped(self) { gi, x in 2 * gi * x }] }
    }

    /// Element-wise eˣ.
    public func exp() -> Tensor<T> {
        let y = mapped { T.exp($0) }
        let yv = y.detachedView()
        return Tensor.record("exp", y, [self]) { g in [g.zipped(yv, *)] }
    }

    /// Element-wise natural logarithm.
    public func log() -> Tensor<T> {
        Tensor.record("log", mapped { T.log($0) }, [self]) { g in [g.zipped(self, /)] }
    }

    /// Element-wise |x| (gradient sign(x), 0 at 0).
    public func abs() -> Tensor<T> {
        Tensor.record("abs", mapped { Swift.abs($0) }, [self]) { g in
            [g.zipped(self) { gi, x in x > 0 ? gi : (x < 0 ? -gi : 0) }]
        }
    }

    /// Clamps to [low, high] (torch.clamp): the gradient passes where low ≤ x ≤ high, else 0.
    /// Either bound may be nil.
    public func clamp(min low: T? = nil, max high: T? = nil) -> Tensor<T> {
        let lo = low ?? -T.infinity, hi = high ?? T.infinity
        let y = mapped { Swift.min(Swift.max($0, lo), hi) }
        return Tensor.record("clamp", y, [self]) { g in
            [g.zipped(self) { gi, x in (x >= lo && x <= hi) ? gi : 0 }]
        }
    }
}
