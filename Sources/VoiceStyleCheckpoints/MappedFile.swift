// Memory-mapped file access for checkpoints: the file's pages are shared with the page cache, read on
// first touch, and never copied unless a tensor needs converting.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum MappedFile {
    /// Maps `url` copy-on-write (MAP_PRIVATE, read-write): in-place writes to tensors that borrow the
    /// mapping stay private to this process and never reach the file.
    static func map(_ url: URL) throws -> Data {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw CheckpointError.unreadable(file: url.path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError.unreadable(file: url.path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError.unreadable(file: url.path, reason: "not a regular file") }
        let size = Int(st.st_size)
        if size == 0 { return Data() }
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw CheckpointError.unreadable(file: url.path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        return Data(bytesNoCopy: p, count: size, deallocator: .custom { ptr, n in munmap(ptr, n) })
    }
}

/// Keeps the bytes of a checkpoint alive while tensors borrow them.
final class DataOwner {
    let data: Data
    init(_ d: Data) { data = d }
}
