// How every output file of the project is written (no upstream counterpart): through a temporary name in the
// target's folder renamed into place, so that an interrupted job leaves no partial file; and never over anything of
// the user's that is not a regular file (a folder, a device node, a FIFO, a socket). Standard output and error
// (/dev/stdout, /dev/fd/N) and the device files under /dev (/dev/null) are written in place, as a user means them.
import Foundation
import Glibc

/// Why an output file could not be written: "cannot write PATH: REASON".
public struct OutputFileError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) { (self.path, self.reason) = (path, reason) }
    public var description: String { "cannot write \(path): \(reason)" }
    /// The reason alone (for wrappers that name the file themselves).
    public var errorDescription: String? { reason }
}

public enum OutputFile {
    /// Writes `data` to `url`: a new or regular file is replaced atomically (its permissions kept; a symbolic link
    /// to a regular file stays a link and its target is replaced); standard output and error and device files under
    /// /dev are written in place; anything else (a folder, a device node or FIFO elsewhere, a socket) is refused.
    public static func write(_ data: Data, to url: URL) throws {
        let path = url.path
        if let fd = standardStream(path) { return try writeAll(data, fd: fd, path: path) }
        var st = stat()
        guard stat(path, &st) == 0 else {
            let code = errno
            var link = stat()
            if code == ENOENT, lstat(path, &link) != 0 { return try replace(url, with: data, mode: nil) }
            throw OutputFileError(path: path, reason: code == ENOENT ? "it is a broken symbolic link" : String(cString: strerror(code)))
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            try replace(url.resolvingSymlinksInPath(), with: data, mode: st.st_mode & 0o7777)
        case S_IFDIR:
            throw OutputFileError(path: path, reason: "it is a folder; name a file to write")
        case let kind:
            let what = kind == S_IFIFO ? "a FIFO" : kind == S_IFSOCK ? "a socket" : kind == S_IFCHR ? "a character device" : "a block device"
            guard underDev(path) || underDev(url.resolvingSymlinksInPath().path), kind != S_IFSOCK else {
                throw OutputFileError(path: path, reason: "it is \(what), not a regular file; outputs replace regular files only (name a file)")
            }
            let fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK)
            guard fd >= 0 else { throw OutputFileError(path: path, reason: String(cString: strerror(errno))) }
            defer { close(fd) }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            try writeAll(data, fd: fd, path: path)
        }
    }

    /// The descriptor of /dev/stdout, /dev/stderr, /dev/fd/N or /proc/self/fd/N (written as it is, in its own mode).
    static func standardStream(_ path: String) -> Int32? {
        switch path {
        case "/dev/stdout": return STDOUT_FILENO
        case "/dev/stderr": return STDERR_FILENO
        default:
            for prefix in ["/dev/fd/", "/proc/self/fd/"] where path.hasPrefix(prefix) {
                if let n = Int32(path.dropFirst(prefix.count)), n >= 0, fcntl(n, F_GETFD) != -1 { return n }
            }
            return nil
        }
    }

    /// The process's umask, read once (from /proc: calling umask(2) to read it would change it for a moment).
    static let processUmask: mode_t = {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Umask:") }
        return line.flatMap { mode_t($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) } ?? 0o022
    }()

    private static func underDev(_ path: String) -> Bool { path.hasPrefix("/dev/") }

    private static func writeAll(_ data: Data, fd: Int32, path: String) throws {
        try data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw OutputFileError(path: path, reason: String(cString: strerror(errno))) }
                done += n
            }
        }
    }

    /// Writes a temporary file beside `target` and renames it over `target` (created with `mode`, else 0666
    /// less the umask).
    private static func replace(_ target: URL, with data: Data, mode: mode_t?) throws {
        let folder = target.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw OutputFileError(path: target.path, reason: "its folder \(folder) does not exist")
        }
        var template = Array("\(folder)/.\(target.lastPathComponent).part-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw OutputFileError(path: target.path, reason: String(cString: strerror(errno))) }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var renamed = false
        defer {
            close(fd)
            if !renamed { unlink(temporary) }
        }
        _ = fchmod(fd, mode ?? (0o666 & ~processUmask))
        try writeAll(data, fd: fd, path: target.path)
        guard rename(temporary, target.path) == 0 else { throw OutputFileError(path: target.path, reason: String(cString: strerror(errno))) }
        renamed = true
    }
}

extension Data {
    /// Writes these bytes as an output file (`OutputFile.write`): atomically over a new or regular file, in place to
    /// standard output or a device under /dev, never over a folder, FIFO or device node elsewhere.
    public func writeOutput(to url: URL) throws { try OutputFile.write(self, to: url) }
}
