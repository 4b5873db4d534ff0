// Matrix products through BLAS: matmul and the affine layer (torch.matmul for 2-D, F.linear).

extension Tensor {
    /// Matrix product of [m, k] and [k, n] → [m, n].
    public func matmul(_ other: Tensor<T>) -> Tensor<T> {
        precondition(rank == 2 && other.rank == 2 && shape[1] == other.shape[0],
                     "matmul needs [m,k]·[k,n], got \(shape)·\(other.shape)")
        let m = shape[0], k = shape[1], n = other.shape[1]
        let out = Tensor<T>(zeros: [m, n])
        T.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: storage.pointer, lda: k,
               b: other.storage.pointer, ldb: n, beta: 0, c: out.storage.pointer, ldc: n)
        return Tensor.record("matmul", out, [self, other]) { g in
            var ga: Tensor<T>? = nil, gb: Tensor<T>? = nil
            if self.needsGrad {  // g · Bᵀ
                let t = Tensor<T>(zeros: [m, k])
                T.gemm(transA: false, transB: true, m: m, n: k, k: n, alpha: 1, a: g.storage.pointer, lda: n,
                       b: other.storage.pointer, ldb: n, beta: 0, c: t.storage.pointer, ldc: k)
                ga = t
            }
            if other.needsGrad {  // Aᵀ · g
                let t = Tensor<T>(zeros: [k, n])
                T.gemm(transA: true, transB: false, m: k, n: n, k: m, alpha: 1, a: self.storage.pointer, lda: k,
                       b: g.storage.pointer, ldb: n, beta: 0, c: t.storage.pointer, ldc: n)
                gb = t
            }
            return [ga, gb]
        }
    }

    /// Affine map `x · weightᵀ + bias` (F.linear): x [N, in], weight [out, in], bias [out] → [N, out].
    public func linear(weight: Tensor<T>, bias: Tensor<T>? = nil) -> Tensor<T> {
        precondition(weight.rank == 2 && rank == 2 && shape[1] == weight.shape[1],
                     "linear: input \(shape) does not fit weight \(weight.shape)")
        let y = matmul(weight.transposed())
        guard let bias else { return y }
        precondition(bias.count == weight.shape[0], "linear: bias \(bias.shape) for \(weight.shape[0]) outputs")
        return y + bias.reshaped([1, bias.count])
    }

    /// Transpose of a matrix (copy).
    public func transposed() -> Tensor<T> {
        precondition(rank == 2, "transposed needs a matrix, got \(shape)")
        return permuted([1, 0])
    }
}
