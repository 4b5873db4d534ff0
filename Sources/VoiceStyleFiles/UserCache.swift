// No upstream counterpart: the user's cache folder (model downloads, the engine's per-CPU path choices), in the
// smallest module so that the engine and the hub share it.
import Foundation

/// The user's cache folder of voicestyle: `$XDG_CACHE_HOME/voicestyle`, default `~/.cache/voicestyle`.
public enum UserCache {
    public static func folder(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return URL(fileURLWithPath: xdg).appendingPathComponent("voicestyle") }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".cache/voicestyle")
    }
}
