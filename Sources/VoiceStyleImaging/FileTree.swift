// The files of a folder tree as jobs read them (index builds, alignment batches): sorted, hidden names skipped,
// symbolic links to folders and files followed, each real folder visited once so link cycles end, and each real file
// listed once, under the folders it really lives in.
import Foundation

public enum FileTree {
    /// Every file under `root` as its path components relative to `root` and its URL, in sorted order; broken links
    /// are left out. A file reached through symbolic links is listed once: when it really lives inside the tree, by
    /// its real path there (so the identity folder of an index build is the one it is in, whatever link leads to it);
    /// a file outside the tree by the first path that leads to it.
    public static func files(under root: URL) -> [(parts: [String], url: URL)] {
        let realRoot = root.resolvingSymlinksInPath().path
        var found: [(parts: [String], url: URL, real: String)] = []
        var visited: Set<String> = [realRoot]
        func walk(_ dir: URL, _ rel: [String]) {
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted() where !name.hasPrefix(".") {
                let url = dir.appendingPathComponent(name), real = url.resolvingSymlinksInPath()
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: real.path, isDirectory: &isDir) else { continue }  // a broken link
                if isDir.boolValue {
                    if visited.insert(real.path).inserted { walk(url, rel + [name]) }
                } else {
                    found.append((rel + [name], url, real.path))
                }
            }
        }
        walk(root, [])
        var out: [String: (parts: [String], url: URL)] = [:]
        for f in found.sorted(by: { $0.parts.joined(separator: "/") < $1.parts.joined(separator: "/") }) {
            var parts = f.parts, url = f.url
            if f.real.hasPrefix(realRoot + "/") {
                let inside = f.real.dropFirst(realRoot.count + 1).split(separator: "/").map(String.init)
                if !inside.contains(where: { $0.hasPrefix(".") }) { (parts, url) = (inside, root.appendingPathComponent(inside.joined(separator: "/"))) }
            }
            if out[f.real] == nil { out[f.real] = (parts, url) }
        }
        return out.values.sorted { $0.parts.joined(separator: "/") < $1.parts.joined(separator: "/") }
    }

    /// Whether a file name says JPEG or PNG (.jpg, .jpeg, .png, any case): what folder walks pick up as photos.
    public static func isPhoto(_ url: URL) -> Bool { ["jpg", "jpeg", "png"].contains(url.pathExtension.lowercased()) }

    /// Whether a file name says a sound file libsndfile reads (.wav, .flac, .ogg, .opus, .mp3, .aiff, .aif, any
    /// case): what folder walks pick up as voice clips.
    public static func isAudio(_ url: URL) -> Bool { ["wav", "flac", "ogg", "opus", "mp3", "aiff", "aif"].contains(url.pathExtension.lowercased()) }
}
