// What the front-ends share beyond the jobs: plain-text formatting (tables, durations), the BLAS thread set-up.
import Foundation

/// One table line: negative widths left-align, positive right-align.
public func tableRow(_ cells: [String], widths: [Int]) -> String {
    zip(cells, widths).map { cell, w in
        let pad = String(repeating: " ", count: max(0, abs(w) - cell.count))
        return w < 0 ? cell + pad : pad + cell
    }.joined(separator: " ")
}

/// 42s, 3m07s, 1h05m.
public func formatSeconds(_ s: Double) -> String {
    guard s.isFinite, s >= 0 else { return "?" }
    return s >= 3600 ? String(format: "%dh%02dm", Int(s) / 3600, Int(s) % 3600 / 60)
        : s >= 60 ? String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) : String(format: "%.0fs", s)
}

/// OpenBLAS worker threads spin for about 2²⁸ cycles after each product before sleeping, competing with the
/// engine's own threads between products (measured: 5–7 % of a generator pass). oneDNN's OpenMP team spins at its
/// barriers too, which on a loaded or shared machine made its products 2–4× slower (README "Matrix products");
/// `OMP_WAIT_POLICY=passive` makes it sleep instead. Both settings are read once, when the libraries load, so set
/// them (where the user has not) and restart the process once, before any work.
public func restartWithBLASThreadTimeout() {
    guard getenv("VOICESTYLE_NO_REEXEC") == nil, getenv("OPENBLAS_THREAD_TIMEOUT") == nil || getenv("OMP_WAIT_POLICY") == nil else { return }
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0)
    setenv("OMP_WAIT_POLICY", "passive", 0)
    setenv("VOICESTYLE_NO_REEXEC", "1", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // execv returns only on failure: carry on with the default.
}

