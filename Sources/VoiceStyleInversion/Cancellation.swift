// No upstream counterpart: stopping a long optimisation between steps (the web page's cancel button).
import Foundation

/// A flag a front-end sets to stop a running job between optimisation steps. Bind it around the job with
/// `JobCancellation.$current.withValue(flag) { … }` (also on a plain thread, outside any task); the projector and
/// refinement loops (`optimizeLatent`) call `checkCurrent()` before each step and throw `JobCancelled`.
public final class JobCancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    public init() {}

    /// The flag of the job running on this thread (or task), if any.
    @TaskLocal public static var current: JobCancellation?

    /// Asks the job to stop at its next step.
    public func cancel() { lock.withLock { cancelled = true } }

    /// Whether `cancel()` was called.
    public var isCancelled: Bool { lock.withLock { cancelled } }

    /// Throws `JobCancelled` when the bound flag (if any) is set.
    public static func checkCurrent() throws {
        if let current, current.isCancelled { throw JobCancelled() }
    }
}

/// The error a cancelled job stops with.
public struct JobCancelled: Error, CustomStringConvertible, Equatable {
    public init() {}
    public var description: String { "the job was cancelled" }
}
