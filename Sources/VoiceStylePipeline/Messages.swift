// How an error reaches a person (no upstream counterpart): one line they can read, whatever the input was. A value
// the user gave (a path, a field) can be megabytes long; repeated in a message it would bury the sentence.

/// `message` with every word longer than `limit` characters cut to its start and end, saying how long it was.
public func shortened(_ message: String, limit: Int = 240) -> String {
    guard message.count > limit else { return message }
    return message.split(separator: " ", omittingEmptySubsequences: false).map { word -> String in
        guard word.count > limit else { return String(word) }
        return "\(word.prefix(limit * 2 / 3))…\(word.suffix(limit / 6)) (\(word.count) characters)"
    }.joined(separator: " ")
}
