// Data parallelism over the machine's cores for the engine's own (non-BLAS) kernels.
import Dispatch
import Foundation

/// Splits independent work across the cores. BLAS calls are never made from inside a `parallelFor`
/// body with more than one worker (one threading layer at a time).
public enum Parallel {
    /// Number of worker threads: `$VOICESTYLE_THREADS`, else the active processor count.
    public static let workers: Int = {
        if let s = ProcessInfo.processInfo.environment["VOICESTYLE_THREADS"], let n = Int(s), n >= 1 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Runs `body(range)` over `0..<count` split into contiguous chunks, in parallel when the work is
    /// large enough (`count * costPerItem` ≥ 32k) to pay for the threads.
    @inline(__always)
    public static func forChunks(_ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(workers, count)
        if chunks <= 1 || count * costPerItem < 32_768 {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { work in
            let box = UncheckedSendable(work)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = count * c / chunks, hi = count * (c + 1) / chunks
                if lo < hi { box.value(lo..<hi) }
            }
        }
    }
}

/// Wraps a value the caller guarantees is safe to share (disjoint writes through raw pointers).
public struct UncheckedSendable<V>: @unchecked Sendable {
    public let value: V
    public init(_ value: V) { self.value = value }
}
