// NumPy/PyTorch broadcasting: shape rules, strided iteration over up to three operands, and the
// sum-to-shape reduction that is the backward pass of every broadcast.

enum Broadcast {
    /// The broadcast shape of `a` and `b` (right-aligned; extents equal or 1).
    static func shape(_ a: [Int], _ b: [Int]) -> [Int] {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            precondition(da == db || da == 1 || db == 1, "shapes \(a) and \(b) do not broadcast")
            out[i] = da == 1 ? db : da
        }
        return out
    }

    /// Strides for reading a contiguous tensor of `shape` broadcast to `out` (0 along broadcast axes).
    static func strides(_ shape: [Int], to out: [Int]) -> [Int] {
        let s = Tensor<Float>.contiguousStrides(shape)
        let off = out.count - shape.count
        precondition(off >= 0, "cannot broadcast \(shape) to \(out)")
        var r = [Int](repeating: 0, count: out.count)
        for i in 0..<shape.count {
            precondition(shape[i] == out[i + off] || shape[i] == 1, "cannot broadcast \(shape) to \(out)")
            r[i + off] = shape[i] == 1 ? 0 : s[i]
        }
        return r
    }

    /// Merges adjacent axes that every operand walks contiguously, dropping extent-1 axes, so the inner
    /// loop is as long as possible. Returns the coalesced shape and strides (at least one axis).
    static func coalesce(_ shape: [Int], _ strides: [[Int]]) -> ([Int], [[Int]]) {
        var sh: [Int] = []
        var st: [[Int]] = Array(repeating: [], count: strides.count)
        for i in 0..<shape.count where shape[i] != 1 {
            if let last = sh.last,
               (0..<strides.count).allSatisfy({ st[$0].last! == strides[$0][i] * shape[i] }) {
                sh[sh.count - 1] = last * shape[i]
                for k in 0..<strides.count { st[k][st[k].count - 1] = strides[k][i] }
            } else {
                sh.append(shape[i])
                for k in 0..<strides.count { st[k].append(strides[k][i]) }
            }
        }
        if sh.isEmpty { return ([1], strides.map { _ in [0] }) }
        return (sh, st)
    }

    /// Calls `body(offsets, n, innerStrides)` for every innermost run of a (coalesced) iteration space:
    /// `offsets[k]` is operand k's element offset at the run start; the run has `n` elements.
    @inline(__always)
    static func forEachRun(_ shape: [Int], _ strides: [[Int]],
                           _ body: (_ offsets: UnsafeMutableBufferPointer<Int>, _ n: Int,
                                    _ inner: UnsafeMutableBufferPointer<Int>) -> Void) {
        let r = shape.count, k = strides.count
        let offsets = UnsafeMutableBufferPointer<Int>.allocate(capacity: k)
        let inner = UnsafeMutableBufferPointer<Int>.allocate(capacity: k)
        let index = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(r, 1))
        defer { offsets.deallocate(); inner.deallocate(); index.deallocate() }
        for j in 0..<k { offsets[j] = 0; inner[j] = strides[j][r - 1] }
        for d in 0..<r { index[d] = 0 }
        let n = shape[r - 1]
        if shape.contains(0) { return }
        while true {
            body(offsets, n, inner)
            // Advance the odometer over the outer axes.
            var d = r - 2
            while d >= 0 {
                index[d] += 1
                for j in 0..<k { offsets[j] += strides[j][d] }
                if index[d] < shape[d] { break }
                for j in 0..<k { offsets[j] -= strides[j][d] * shape[d] }
                index[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }
}

extension Tensor {
    /// Sums this tensor down to `target`, a shape that broadcasts to `shape` (the backward of a broadcast).
    /// Runs are accumulated in double precision.
    public func sum(toShape target: [Int]) -> Tensor<T> {
        if target == shape { return self }
        let out = Tensor<T>(zeros: target)
        let (sh, st) = Broadcast.coalesce(shape, [Broadcast.strides(target, to: shape), strides])
        let o = out.storage.pointer, x = storage.pointer
        Broadcast.forEachRun(sh, st) { off, n, inner in
            let os = inner[0], xs = inner[1]
            var po = off[0], px = off[1]
            if os == 0 {
                var acc = 0.0
                for _ in 0..<n { acc += Double(x[px]); px += xs }
                o[po] += T(acc)
            } else {
                for _ in 0..<n { o[po] += x[px]; po += os; px += xs }
            }
        }
        return Tensor.record("sumToShape", out, [self]) { [shape] g in [g.broadcast(to: shape)] }
    }

    /// Materialises this tensor broadcast to `target` (copy).
    public func broadcast(to target: [Int]) -> Tensor<T> {
        if target == shape { return self }
        let out = Tensor<T>(uninitializedShape: target)
        let (sh, st) = Broadcast.coalesce(target, [out.strides, Broadcast.strides(shape, to: target)])
        let o = out.storage.pointer, x = storage.pointer
        Broadcast.forEachRun(sh, st) { off, n, inner in
            var po = off[0], px = off[1]
            let os = inner[0], xs = inner[1]
            for _ in 0..<n { o[po] = x[px]; po += os; px += xs }
        }
        return Tensor.record("broadcast", out, [self]) { [shape] g in [g.sum(toShape: shape)] }
    }
}
