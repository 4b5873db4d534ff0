// No upstream counterpart (upstream reads its files from the working directory): where model files and prototype
// indexes are found, from any folder, in one documented order (README "Where files are found").
import Foundation
import VoiceStyleFiles

/// The folders model files are looked for in, in order:
/// 1. the explicit folder (`--checkpoints`),
/// 2. `$VOICESTYLE_CHECKPOINTS`,
/// 3. `./checkpoints` (the working directory),
/// 4. the `checkpoints/` of the clone the running binary was built in (`CLONE/.build/release/voicestyle`),
/// 5. the user cache, `$XDG_CACHE_HOME/voicestyle/checkpoints` (default `~/.cache/voicestyle/checkpoints`), where
///    `models fetch` writes when it is not run inside a clone.
/// A folder appears once (the first reason wins); folders that do not exist stay in the list, so that an error
/// names every place looked in.
public struct ModelLocator: Sendable, Equatable {
    /// One folder and why it is searched.
    public struct Place: Codable, Sendable, Equatable {
        public var folder: String
        /// "--checkpoints", "VOICESTYLE_CHECKPOINTS", "working directory", "clone of the binary", "user cache".
        public var reason: String
        public init(folder: String, reason: String) { self.folder = folder; self.reason = reason }
    }

    public let places: [Place]
    /// Where `models fetch` writes by default.
    public let downloadFolder: URL

    /// The standard order for this process; `explicit` is the folder given with `--checkpoints`.
    public init(explicit: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                executable: URL? = Bundle.main.executableURL) {
        var places: [Place] = []
        func add(_ url: URL?, _ reason: String) {
            guard let url else { return }
            let path = url.standardizedFileURL.path
            if !places.contains(where: { $0.folder == path }) { places.append(Place(folder: path, reason: reason)) }
        }
        let env = environment["VOICESTYLE_CHECKPOINTS"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0, relativeTo: workingDirectory) }
        add(explicit.map { URL(fileURLWithPath: $0, relativeTo: workingDirectory) }, "--checkpoints")
        add(env, "VOICESTYLE_CHECKPOINTS")
        let local = workingDirectory.appendingPathComponent("checkpoints")
        add(local, "working directory")
        let clone = executable.flatMap(Clone.root(containing:))
        add(clone?.appendingPathComponent("checkpoints"), "clone of the binary")
        let cache = UserCache.folder(environment).appendingPathComponent("checkpoints")
        add(cache, "user cache")
        self.places = places
        // Downloads go to the folder the user named, else into the clone the user works in, else the user cache.
        if let first = explicit.map({ URL(fileURLWithPath: $0, relativeTo: workingDirectory) }) ?? env {
            downloadFolder = first.standardizedFileURL
        } else if Clone.isClone(workingDirectory) {
            downloadFolder = local.standardizedFileURL
        } else if let clone {
            downloadFolder = clone.appendingPathComponent("checkpoints").standardizedFileURL
        } else {
            downloadFolder = cache.standardizedFileURL
        }
    }

    /// Only `folder` (tests, and jobs told to use one folder).
    public init(only folder: URL) {
        places = [Place(folder: folder.standardizedFileURL.path, reason: "--checkpoints")]
        downloadFolder = folder.standardizedFileURL
    }

    /// The first `name` in the places, or nil.
    public func find(_ name: String) -> URL? {
        for p in places {
            let url = URL(fileURLWithPath: p.folder).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        return nil
    }
}

/// Where `--index NAME` is found: a name with a `/` (or `.`/`..`) is a path, as is; otherwise `FOLDER/NAME` for
/// the explicit folder (`--prototypes`), else `./prototypes/NAME`, then `$VOICESTYLE_PROTOTYPES/NAME`. A name found in
/// none of them is created in the explicit folder, else in `$VOICESTYLE_PROTOTYPES` when set, else in `./prototypes`.
public struct IndexLocator: Sendable, Equatable {
    public let folders: [URL]
    /// Where a new index is made.
    public let newFolder: URL

    public init(explicit: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) {
        let env = environment["VOICESTYLE_PROTOTYPES"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0, relativeTo: workingDirectory) }
        if let explicit {
            let e = URL(fileURLWithPath: explicit, relativeTo: workingDirectory)
            folders = [e]
            newFolder = e
        } else {
            let local = workingDirectory.appendingPathComponent("prototypes")
            folders = [local] + (env.map { [$0] } ?? [])
            newFolder = env ?? local
        }
    }

    /// The folder of index `name`: a path as is; else the first folder that holds it; else where it would be made.
    public func directory(_ name: String) -> URL {
        if name.contains("/") || name == "." || name == ".." { return URL(fileURLWithPath: name).standardizedFileURL }
        for f in folders {
            let d = f.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: d.path) { return d.standardizedFileURL }
        }
        return newFolder.appendingPathComponent(name).standardizedFileURL
    }
}

/// The voicestyle clone (source checkout) a binary was built in.
public enum Clone {
    /// A folder is a clone when it holds the package manifest of voicestyle and a `checkpoints/` folder.
    public static func isClone(_ folder: URL) -> Bool {
        let manifest = folder.appendingPathComponent("Package.swift")
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("checkpoints").path),
              let text = try? String(contentsOf: manifest, encoding: .utf8) else { return false }
        return text.contains("name: \"voicestyle\"")
    }

    /// The clone above `executable` (symbolic links resolved: an installed link finds its clone), else the clone
    /// this source file was compiled in when it still exists; nil when neither is one.
    public static func root(containing executable: URL) -> URL? {
        var folder = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            if isClone(folder) { return folder }
            let up = folder.deletingLastPathComponent()
            if up.path == folder.path { break }
            folder = up
        }
        let built = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return isClone(built) ? built : nil
    }
}
