// Follows RFC 4180 as Python's csv module reads it (upstream reads cmpc2's training.csv with pandas): the one
// CSV reader of the project, over SwiftCSV.
import Foundation
import SwiftCSV

/// A CSV file as a header and rows: quoted fields with embedded commas, quotes and newlines, a UTF-8 byte-order
/// mark, CRLF line ends; blank lines are skipped; header names are trimmed of spaces.
public struct CSVTable: Sendable {
    public var header: [String]
    public var rows: [[String]]

    public static func read(_ url: URL) throws -> CSVTable {
        guard var text = try? String(contentsOf: url, encoding: .utf8) else {
            throw IndexError.badSource("cannot read the CSV \(url.path) (missing, unreadable or not UTF-8 text)")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        if let line = unclosedQuote(text) {
            throw IndexError.badSource("\(url.path): the quoted field opened on line \(line) is never closed (a field that starts with \" must end with \")")
        }
        let csv: EnumeratedCSV
        do { csv = try EnumeratedCSV(string: text, delimiter: .comma, loadColumns: false) } catch {
            throw IndexError.badSource("\(url.path) is not valid CSV (\(error))")
        }
        guard !csv.header.isEmpty else { throw IndexError.badSource("\(url.path) is empty") }
        return CSVTable(header: csv.header.map { $0.trimmingCharacters(in: .whitespaces) },
                        rows: csv.rows.filter { !$0.allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty } })
    }

    /// The line on which a quoted field opens that no quote closes (a reader would take the rest of the file into
    /// that field), or nil. Quotes inside an unquoted field are plain characters, as Python's csv reads them.
    static func unclosedQuote(_ text: String) -> Int? {
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
        var line = 1, opened = 0, quoted = false, quoteSeen = false, fieldStart = true
        for c in text.utf8 {
            if quoted {
                if quoteSeen {
                    quoteSeen = false
                    if c == quote { continue }  // "" inside a quoted field
                    quoted = false              // the quote before closed the field: read c outside quotes
                } else {
                    if c == quote { quoteSeen = true } else if c == newline { line += 1 }
                    continue
                }
            }
            if c == quote && fieldStart { (quoted, opened) = (true, line) }
            fieldStart = c == comma || c == newline || c == cr
            if c == newline { line += 1 }
        }
        return quoted && !quoteSeen ? opened : nil
    }

    /// A path as a list file writes it: absolute as is, else relative to `root` (usually the list's own folder).
    public static func resolve(_ path: String, root: URL) -> String {
        path.hasPrefix("/") ? path : root.appendingPathComponent(path).path
    }
}
