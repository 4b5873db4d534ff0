// Reductions over axes: sum, mean, sum of squares (torch.sum / mean with dim and keepdim).

extension Tensor {
    /// Sum over `axes` (negative axes count from the end); all axes when `axes` is nil.
    /// With `keepDims`, reduced axes stay with extent 1. Accumulates in double precision.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor<T> {
        let ax = Set((axes ?? Array(0..<rank)).map { axis($0) })
        var kept = shape
        for a in ax { kept[a] = 1 }
        let r = sum(toShape: kept)
        if keepDims { return r }
        return r.reshaped(shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element))
    }

    /// Mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor<T> {
        let ax = (axes ?? Array(0..<rank)).map { axis($0) }
        let n = Set(ax).reduce(1) { $0 * shape[$1] }
        return sum(axes: ax, keepDims: keepDims) / T(n)
    }

    /// Sum of squares over `axes` (all when nil).
    public func sumOfSquares(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor<T> {
        square().sum(axes: axes, keepDims: keepDims)
    }
}
