// The files of a folder tree as jobs read them (index builds, alignment batches): sorted, hidden names skipped,
// symbolic links to folders and files followed, each real folder visited once so link cycles end.
import Foundation

public enum FileTree {
    /// Every file under `root` as its path components relative to `root` and its URL, in sorted order.
    /// Broken links are left out.
    public static func files(under root: URL) -> [(parts: [String], url: URL)] {
        var out: [(parts: [String], url: URL)] = []
        var visited: Set<String> = [root.resolvingSymlinksInPath().path]
        func walk(_ dir: URL, _ rel: [String]) {
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted() where !name.hasPrefix(".") {
                let url = dir.appendingPathComponent(name), real = url.resolvingSymlinksInPath()
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: real.path, isDirectory: &isDir) else { continue }  // a broken link
                if isDir.boolValue {
                    if visited.insert(real.path).inserted { walk(url, rel + [name]) }
                } else {
                    out.append((rel + [name], url))
                }
            }
        }
        walk(root, [])
        return out.sorted { $0.parts.joined(separator: "/") < $1.parts.joined(separator: "/") }
    }

    /// Whether a file name says JPEG or PNG (.jpg, .jpeg, .png, any case): what folder walks pick up as photos.
    public static func isPhoto(_ url: URL) -> Bool { ["jpg", "jpeg", "png"].contains(url.pathExtension.lowercased()) }

    /// Whether a file name says a sound file libsndfile reads (.wav, .flac, .ogg, .opus, .mp3, .aiff, .aif, any
    /// case): what folder walks pick up as voice clips.
    public static func isAudio(_ url: URL) -> Bool { ["wav", "flac", "ogg", "opus", "mp3", "aiff", "aif"].contains(url.pathExtension.lowercased()) }
}
