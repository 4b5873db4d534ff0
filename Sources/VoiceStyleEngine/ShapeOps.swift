// Shape and layout ops: reshape, permute, slice, crop, concat, repeat, pad, roll
// (torch view/permute/narrow/cat/repeat/F.pad/roll).

/// Copies a box of `extents` elements between two strided layouts.
@inline(__always)
func copyBox<T>(_ extents: [Int], from src: UnsafePointer<T>, _ srcStrides: [Int], _ srcOffset: Int,
                to dst: UnsafeMutablePointer<T>, _ dstStrides: [Int], _ dstOffset: Int, accumulate: Bool = false)
where T: TensorScalar {
    if extents.isEmpty { if accumulate { dst[dstOffset] += src[srcOffset] } else { dst[dstOffset] = src[srcOffset] }; return }
    if extents.contains(where: { $0 <= 0 }) { return }
    let (sh, st) = Broadcast.coalesce(extents, [dstStrides, srcStrides])
    Broadcast.forEachRun(sh, st) { off, n, inner in
        var pd = dstOffset + off[0], ps = srcOffset + off[1]
        let sd = inner[0], ss = inner[1]
        if accumulate {
            for _ in 0..<n { dst[pd] += src[ps]; pd += sd; ps += ss }
        } else if sd == 1 && ss == 1 {
            (dst + pd).update(from: src + ps, count: n)
        } else {
            for _ in 0..<n { dst[pd] = src[ps]; pd += sd; ps += ss }
        }
    }
}

extension Tensor {
    /// The same elements with another shape (shares storage). One extent may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor<T> {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.reduce(1) { $0 * $1.element }
            precondition(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            s[i] = count / known
        }
        precondition(s.reduce(1, *) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        if s == shape { return self }
        return Tensor.record("reshape", Tensor(shape: s, storage: storage), [self]) { [shape] g in [g.reshaped(shape)] }
    }

    /// Axes reordered: output axis k is input axis `dims[k]` (torch.permute; copies).
    public func permuted(_ dims: [Int]) -> Tensor<T> {
        precondition(dims.count == rank && Set(dims.map { axis($0) }).count == rank, "bad permutation \(dims) for \(shape)")
        let d = dims.map { axis($0) }
        let outShape = d.map { shape[$0] }
        let out = Tensor<T>(uninitializedShape: outShape)
        let st = strides
        copyBox(outShape, from: storage.pointer, d.map { st[$0] }, 0, to: out.storage.pointer, out.strides, 0)
        var inverse = [Int](repeating: 0, count: rank)
        for (k, a) in d.enumerated() { inverse[a] = k }
        return Tensor.record("permute", out, [self]) { g in [g.permuted(inverse)] }
    }

    /// Elements `start..<end` (every `step`-th) along `axis` (torch narrow / basic slicing; copies).
    public func slice(axis a: Int, _ start: Int, _ end: Int, step: Int = 1) -> Tensor<T> {
        let ax = axis(a)
        precondition(step >= 1 && 0 <= start && start <= end && end <= shape[ax],
                     "slice \(start)..<\(end) step \(step) out of range for axis \(ax) of \(shape)")
        var outShape = shape
        outShape[ax] = (end - start + step - 1) / step
        let out = Tensor<T>(uninitializedShape: outShape)
        var st = strides
        let base = start * st[ax]
        st[ax] *= step
        copyBox(outShape, from: storage.pointer, st, base, to: out.storage.pointer, out.strides, 0)
        return Tensor.record("slice", out, [self]) { [shape] g in
            let gi = Tensor<T>(zeros: shape)
            copyBox(outShape, from: g.storage.pointer, g.strides, 0, to: gi.storage.pointer, st, base)
            return [gi]
        }
    }

    /// Spatial crop of an NCHW tensor: rows `top..<top+height`, columns `left..<left+width`.
    public func crop(top: Int, left: Int, height: Int, width: Int) -> Tensor<T> {
        precondition(rank == 4, "crop needs NCHW, got \(shape)")
        return slice(axis: 2, top, top + height).slice(axis: 3, left, left + width)
    }

    /// Concatenation along `axis` (torch.cat). All other extents must agree.
    public static func concat(_ tensors: [Tensor<T>], axis a: Int) -> Tensor<T> {
        precondition(!tensors.isEmpty, "concat of no tensors")
        let first = tensors[0], ax = first.axis(a)
        for t in tensors {
            precondition(t.rank == first.rank && (0..<t.rank).allSatisfy { $0 == ax || t.shape[$0] == first.shape[$0] },
                         "concat along \(ax): shapes \(tensors.map(\.shape)) differ")
        }
        var outShape = first.shape
        outShape[ax] = tensors.reduce(0) { $0 + $1.shape[ax] }
        let out = Tensor<T>(uninitializedShape: outShape)
        let outer = first.shape[..<ax].reduce(1, *), inner = first.shape[(ax + 1)...].reduce(1, *)
        let rowOut = outShape[ax] * inner
        var offset = 0
        var starts: [Int] = []
        for t in tensors {
            starts.append(offset)
            let row = t.shape[ax] * inner
            for o in 0..<outer {
                (out.storage.pointer + o * rowOut + offset * inner).update(from: t.storage.pointer + o * row, count: row)
            }
            offset += t.shape[ax]
        }
        let parts = zip(tensors, starts).map { (needs: $0.needsGrad, start: $1, extent: $0.shape[ax]) }
        return record("concat", out, tensors) { g in
            parts.map { $0.needs ? g.slice(axis: ax, $0.start, $0.start + $0.extent) : nil }
        }
    }

    /// Tiles the tensor `counts[k]` times along each axis (torch.repeat). `counts` may be longer than
    /// the rank: leading new axes are added.
    public func repeated(_ counts: [Int]) -> Tensor<T> {
        precondition(counts.count >= rank, "repeat needs at least \(rank) counts, got \(counts)")
        let padded = [Int](repeating: 1, count: counts.count - rank) + shape
        var interleaved: [Int] = [], target: [Int] = []
        for (c, s) in zip(counts, padded) { interleaved += [1, s]; target += [c, s] }
        return reshaped(interleaved).broadcast(to: target).reshaped(zip(counts, padded).map { $0 * $1 })
    }

    /// Constant padding: `pads[k] = (before, after)` for each axis k (negative values crop, as F.pad).
    public func padded(_ pads: [(Int, Int)], value: T = 0) -> Tensor<T> {
        precondition(pads.count == rank, "pad needs one (before, after) pair per axis of \(shape)")
        let outShape = zip(shape, pads).map { $0 + $1.0 + $1.1 }
        precondition(outShape.allSatisfy { $0 >= 0 }, "padding \(pads) leaves a negative extent for \(shape)")
        let out = Tensor<T>(shape: outShape, repeating: value)
        // The overlap box: input from max(0, -before), output from max(0, before).
        var ext: [Int] = [], srcOff = 0, dstOff = 0
        let ss = strides, ds = out.strides
        for k in 0..<rank {
            let i0 = Swift.max(0, -pads[k].0), o0 = Swift.max(0, pads[k].0)
            ext.append(Swift.min(shape[k] - i0, outShape[k] - o0))
            srcOff += i0 * ss[k]; dstOff += o0 * ds[k]
        }
        copyBox(ext, from: storage.pointer, ss, srcOff, to: out.storage.pointer, ds, dstOff)
        return Tensor.record("pad", out, [self]) { [shape] g in
            let gi = Tensor<T>(zeros: shape)
            copyBox(ext, from: g.storage.pointer, ds, dstOff, to: gi.storage.pointer, ss, srcOff)
            return [gi]
        }
    }

    /// Circular shift by `shift` along `axis` (torch.roll): out[(i + shift) mod n] = x[i].
    public func rolled(_ shift: Int, axis a: Int) -> Tensor<T> {
        let ax = axis(a), n = shape[ax]
        guard n > 0 else { return self }
        let s = ((shift % n) + n) % n
        let out = Tensor<T>(uninitializedShape: shape)
        let st = strides
        var ext = shape
        // x[0..<n-s] → out[s..<n]; x[n-s..<n] → out[0..<s].
        ext[ax] = n - s
        copyBox(ext, from: storage.pointer, st, 0, to: out.storage.pointer, st, s * st[ax])
        ext[ax] = s
        copyBox(ext, from: storage.pointer, st, (n - s) * st[ax], to: out.storage.pointer, st, 0)
        return Tensor.record("roll", out, [self]) { g in [g.rolled(-shift, axis: ax)] }
    }
}
