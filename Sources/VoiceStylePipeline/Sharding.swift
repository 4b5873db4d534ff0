// No upstream counterpart: the one rule by which jobs split their work into N disjoint slices (index build,
// index invert, infer --voices), given as I/N or read from a batch scheduler's environment (Slurm job arrays,
// Kubernetes Indexed Jobs).
import Foundation

/// Slice `index` of `count`: the items at positions ≡ index (mod count) of a job's list in its fixed order.
public struct Shard: Codable, Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    /// A slice; refuses `index` outside 0..<count.
    public init(index: Int, count: Int) throws {
        guard count >= 1, count <= 1_000_000, index >= 0, index < count else {
            throw JobError("a shard is I/N with N between 1 and 1000000 and 0 ≤ I < N (got \(index)/\(count))")
        }
        self.index = index
        self.count = count
    }

    /// "I/N".
    public var description: String { "\(index)/\(count)" }

    /// The items of this slice, in their order.
    public func slice<T>(_ items: [T]) -> [T] {
        items.enumerated().filter { $0.offset % count == index }.map(\.element)
    }

    /// The text of a `--shard` option: `I/N`, or `auto` (the scheduler's environment: `fromEnvironment`), or
    /// `auto/N` (auto with the count N given, as Kubernetes needs).
    public static func parse(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Shard {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t == "auto" { return try fromEnvironment(environment) }
        if t.hasPrefix("auto/") {
            guard let n = Int(t.dropFirst(5)), n >= 1 else { throw JobError(field: "shard", "\(text): the count after auto/ must be a whole number ≥ 1, e.g. auto/4") }
            return try fromEnvironment(environment, count: n)
        }
        let parts = t.split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2, let i = parts[0], let n = parts[1] else {
            throw JobError(field: "shard", "takes I/N with 0 ≤ I < N (e.g. 0/4), auto or auto/N (got \(text))")
        }
        do { return try Shard(index: i, count: n) } catch { throw JobError(field: "shard", "\(text): I must be between 0 and N - 1, N ≥ 1") }
    }

    /// The slice a batch scheduler gave this task:
    /// - Slurm job arrays: `SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT`, or with `SLURM_ARRAY_TASK_MIN` and
    ///   `SLURM_ARRAY_TASK_MAX` (and `SLURM_ARRAY_TASK_STEP`); the index is (ID − MIN) / STEP, so `--array=1-8` works.
    /// - Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX` with the count given (`count`, from `auto/N`), or in
    ///   `VOICESTYLE_SHARD_COUNT` (set it to the Job's `completions`).
    /// A given `count` must agree with Slurm's. Neither environment: an error naming both.
    public static func fromEnvironment(_ env: [String: String], count: Int? = nil) throws -> Shard {
        func int(_ key: String) throws -> Int? {
            guard let v = env[key]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            guard let n = Int(v) else { throw JobError("\(key)=\(v) is not a whole number") }
            return n
        }
        if let id = try int("SLURM_ARRAY_TASK_ID") {
            let min = try int("SLURM_ARRAY_TASK_MIN") ?? 0, step = max(1, try int("SLURM_ARRAY_TASK_STEP") ?? 1)
            var n = try int("SLURM_ARRAY_TASK_COUNT")
            if n == nil, let max = try int("SLURM_ARRAY_TASK_MAX") { n = (max - min) / step + 1 }
            guard let n else {
                throw JobError("SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX is: give {shard} I/N")
            }
            if let count, count != n { throw JobError(field: "shard", "auto/\(count) disagrees with the Slurm array of \(n) tasks") }
            guard (id - min) % step == 0 else { throw JobError("SLURM_ARRAY_TASK_ID=\(id) is not on the array's steps (min \(min), step \(step))") }
            do { return try Shard(index: (id - min) / step, count: n) } catch {
                throw JobError("the Slurm array task \(id) (min \(min), step \(step), \(n) tasks) is no slice 0…\(n - 1): use --array=0-\(n - 1) or give {shard} I/N")
            }
        }
        if let i = try int("JOB_COMPLETION_INDEX") {
            guard let n = try count ?? int("VOICESTYLE_SHARD_COUNT") else {
                throw JobError("JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but not the number of shards: give {shard} auto/N or set VOICESTYLE_SHARD_COUNT to the Job's completions")
            }
            do { return try Shard(index: i, count: n) } catch {
                throw JobError("JOB_COMPLETION_INDEX=\(i) is no slice of \(n): the count must be the Job's completions")
            }
        }
        throw JobError(field: "shard", "auto found no scheduler: neither SLURM_ARRAY_TASK_ID (a Slurm job array, sbatch --array) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set; give {shard} I/N")
    }
}
