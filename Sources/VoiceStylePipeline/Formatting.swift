// Plain-text formatting shared by the front-ends (tables, durations).
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
