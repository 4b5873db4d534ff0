// The engine's tensor: a dense, row-major (NCHW for images) array with an optional autodiff history,
// modelled on torch.Tensor (requires_grad, .grad, grad_fn).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Owned, 64-byte-aligned element storage. Several tensors (reshaped views) may share one storage.
/// Large blocks come from and return to `BlockPool.shared`, so repeated iterations reuse memory.
public final class TensorStorage<T: TensorScalar>: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<T>
    private let blockBytes: Int
    /// Keeps borrowed memory alive (nil for owned storage).
    private let owner: AnyObject?

    /// Uninitialised storage for `count` elements.
    public init(uninitializedCount count: Int) {
        precondition(count >= 0, "negative element count")
        self.count = count
        let (raw, bytes) = BlockPool.shared.allocate(bytes: max(count, 1) * MemoryLayout<T>.stride)
        blockBytes = bytes
        owner = nil
        pointer = raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    /// Storage over memory another object owns (a memory-mapped checkpoint): no copy, and nothing is freed
    /// here; `owner` is retained for the storage's lifetime. `pointer` must be aligned for `T`.
    public init(borrowing pointer: UnsafeMutablePointer<T>, count: Int, owner: AnyObject) {
        precondition(Int(bitPattern: pointer) % MemoryLayout<T>.alignment == 0, "misaligned borrowed storage")
        self.count = count
        self.pointer = pointer
        self.owner = owner
        blockBytes = 0
    }

    /// Storage filled with `value`.
    public convenience init(count: Int, repeating value: T) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: value, count: count)
    }

    deinit { if owner == nil { BlockPool.shared.release(UnsafeMutableRawPointer(pointer), bytes: blockBytes) } }

    /// Values derived from this storage's contents (transformed convolution kernels of a frozen weight), kept
    /// for the storage's lifetime. Only for storage that is no longer written: nothing invalidates them.
    private var attachments: [String: AnyObject] = [:]

    /// The attachment under `key`, made by `make` the first time.
    func attachment<A: AnyObject>(_ key: String, make: () -> A) -> A {
        storageAttachmentLock.lock()
        defer { storageAttachmentLock.unlock() }
        if let a = attachments[key] as? A { return a }
        let a = make()
        attachments[key] = a
        return a
    }
}

private let storageAttachmentLock = NSLock()

/// Runs `body` with a pooled scratch buffer of `count` uninitialised elements, valid only inside `body`.
@inline(__always)
func withScratch<T: TensorScalar, R>(_ count: Int, of: T.Type = T.self, _ body: (UnsafeMutablePointer<T>) -> R) -> R {
    let s = TensorStorage<T>(uninitializedCount: count)
    return withExtendedLifetime(s) { body(s.pointer) }
}

/// A caching allocator for large blocks (as PyTorch's caching allocators): freed blocks of 64 KiB and more
/// are kept, by rounded size, for the next request of that size (or up to half of it), up to `limitBytes`
/// in total (1 GiB by default; `VOICESTYLE_POOL_MB`). This avoids
/// the page faults of fresh multi-megabyte allocations in every step of an optimisation loop.
public final class BlockPool: @unchecked Sendable {
    public static let shared = BlockPool(limitBytes: {
        if let s = ProcessInfo.processInfo.environment["VOICESTYLE_POOL_MB"], let mb = Int(s) { return mb << 20 }
        return 1 << 30
    }())

    /// Most bytes kept in free blocks.
    public let limitBytes: Int
    private let lock = NSLock()
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var cachedBytes = 0
    private var hits = 0, misses = 0, liveBytes = 0, peakLiveBytes = 0
    private static let minPooled = 1 << 16

    /// Large-block figures: requests served from the cache, requests that allocated, bytes cached now,
    /// bytes in use now and the most ever in use at once.
    public var statistics: (hits: Int, misses: Int, cachedBytes: Int, liveBytes: Int, peakLiveBytes: Int) {
        lock.lock(); defer { lock.unlock() }
        return (hits, misses, cachedBytes, liveBytes, peakLiveBytes)
    }

    /// Restarts the peak-live measurement from the bytes in use now.
    public func resetPeak() { lock.lock(); peakLiveBytes = liveBytes; lock.unlock() }

    init(limitBytes: Int) { self.limitBytes = limitBytes }

    /// Size classes: exact below 64 KiB, else rounded up to an eighth of the next power of two.
    static func rounded(_ bytes: Int) -> Int {
        if bytes < minPooled { return (bytes + 63) & ~63 }
        let p = 1 << (Int.bitWidth - (bytes - 1).leadingZeroBitCount)
        let step = max(p / 8, 4096)
        return (bytes + step - 1) / step * step
    }

    func allocate(bytes: Int) -> (UnsafeMutableRawPointer, Int) {
        let size = Self.rounded(bytes)
        if size >= Self.minPooled {
            lock.lock()
            liveBytes += size
            peakLiveBytes = max(peakLiveBytes, liveBytes)
            // Exact size class first, else the smallest cached block of up to twice the size.
            var key = free[size]?.isEmpty == false ? size : nil
            if key == nil {
                key = free.lazy.filter { $0.key > size && $0.key <= 2 * size && !$0.value.isEmpty }.map(\.key).min()
            }
            if let key, let p = free[key]?.popLast() {
                cachedBytes -= key
                liveBytes += key - size
                peakLiveBytes = max(peakLiveBytes, liveBytes)
                hits += 1
                lock.unlock()
                return (p, key)
            }
            misses += 1
            lock.unlock()
            // Large blocks come straight from the kernel and go back to it (munmap) when not cached, so
            // freed memory is never held twice (here and in malloc's arenas).
            guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
                fatalError("out of memory: could not map \(size) bytes")
            }
            return (p, size)
        }
        return (UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64), size)
    }

    func release(_ p: UnsafeMutableRawPointer, bytes: Int) {
        if bytes >= Self.minPooled {
            lock.lock()
            liveBytes -= bytes
            if cachedBytes + bytes <= limitBytes {
                free[bytes, default: []].append(p)
                cachedBytes += bytes
                lock.unlock()
                return
            }
            lock.unlock()
            munmap(p, bytes)
            return
        }
        p.deallocate()
    }

    /// Returns every cached block to the system.
    public func trim() {
        lock.lock()
        for (size, ps) in free { for p in ps { munmap(p, size) } }
        free = [:]
        cachedBytes = 0
        lock.unlock()
    }
}

/// A dense tensor of `T` in row-major order.
///
/// - Shapes: `shape` lists the extents, outermost first; a scalar has shape `[]` and one element.
///   Images are NCHW. Tensors are always contiguous: shape changes that keep the order share storage
///   (`reshaped`), the others copy.
/// - Autodiff: a tensor with `requiresGrad == true` is a leaf whose gradient `backward()` accumulates into
///   `grad`. Ops on tensors that need gradients record a `GradFn`; with no such input (frozen parameters,
///   or inside `withoutGradients`), nothing is recorded and no backward work is done.
public final class Tensor<T: TensorScalar> {
    public let shape: [Int]
    public let storage: TensorStorage<T>
    /// Leaf flag: accumulate the gradient into `grad` on `backward()`.
    public var requiresGrad: Bool
    /// The accumulated gradient of a leaf (same shape), or nil.
    public var grad: Tensor<T>?
    /// How this tensor was computed, when it needs a gradient.
    public internal(set) var gradFn: GradFn<T>?

    /// Element count (product of `shape`).
    public var count: Int { storage.count }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// True when `backward()` through this tensor reaches something that wants a gradient.
    public var needsGrad: Bool { requiresGrad || gradFn != nil }

    /// Wraps existing storage; `shape` must match its count.
    public init(shape: [Int], storage: TensorStorage<T>, requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        precondition(shape.reduce(1, *) == storage.count,
                     "shape \(shape) does not match \(storage.count) elements")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// Uninitialised tensor (kernels fill it).
    public convenience init(uninitializedShape shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(uninitializedCount: shape.reduce(1, *)))
    }

    /// Tensor of zeros.
    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *), repeating: 0),
                  requiresGrad: requiresGrad)
    }

    /// Tensor filled with `value`.
    public convenience init(shape: [Int], repeating value: T, requiresGrad: Bool = false) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *), repeating: value),
                  requiresGrad: requiresGrad)
    }

    /// Tensor holding `scalars` (row-major); their count must equal the product of `shape`.
    public convenience init(shape: [Int], scalars: [T], requiresGrad: Bool = false) {
        precondition(shape.reduce(1, *) == scalars.count,
                     "\(scalars.count) values do not fill shape \(shape)")
        let s = TensorStorage<T>(uninitializedCount: scalars.count)
        scalars.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { s.pointer.initialize(from: base, count: scalars.count) }
        }
        self.init(shape: shape, storage: s, requiresGrad: requiresGrad)
    }

    /// A 0-d tensor.
    public convenience init(scalar: T, requiresGrad: Bool = false) {
        self.init(shape: [], scalars: [scalar], requiresGrad: requiresGrad)
    }

    /// Read-only view of the elements.
    public var buffer: UnsafeBufferPointer<T> { UnsafeBufferPointer(start: storage.pointer, count: count) }
    /// Mutable view of the elements (in-place updates such as optimiser steps; not recorded by autodiff).
    public var mutableBuffer: UnsafeMutableBufferPointer<T> {
        UnsafeMutableBufferPointer(start: storage.pointer, count: count)
    }
    /// The elements as an array (copy).
    public var scalars: [T] { Array(buffer) }
    /// The only element of a one-element tensor.
    public var item: T {
        precondition(count == 1, "item needs a one-element tensor, shape is \(shape)")
        return storage.pointer[0]
    }

    /// Row-major strides of `shape`.
    public var strides: [Int] { Tensor.contiguousStrides(shape) }

    /// Row-major strides for a shape.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    /// A copy of the data with no autodiff history.
    public func detached() -> Tensor<T> {
        let s = TensorStorage<T>(uninitializedCount: count)
        s.pointer.update(from: storage.pointer, count: count)
        return Tensor(shape: shape, storage: s)
    }

    /// The same data viewed with no autodiff history (shares storage).
    public func detachedView() -> Tensor<T> { Tensor(shape: shape, storage: storage) }

    /// Converts the element type (copy, no history).
    public func converted<U: TensorScalar>(to: U.Type = U.self) -> Tensor<U> {
        let out = Tensor<U>(uninitializedShape: shape)
        let src = storage.pointer, dst = out.storage.pointer
        for i in 0..<count { dst[i] = U(src[i]) }
        return out
    }

    /// Normalises a possibly negative axis.
    @inline(__always)
    func axis(_ a: Int) -> Int {
        let r = a < 0 ? a + rank : a
        precondition(r >= 0 && r < rank, "axis \(a) out of range for shape \(shape)")
        return r
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = buffer.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor<\(T.dtypeName)>\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}
