// Tests for `ModelDownloader` against a real local HTTP server (Fixtures/download_server.py).
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VoiceStyleCheckpoints
import VoiceStyleHub
import VoiceStylePipeline

/// A running `download_server.py` serving a temporary folder with one deterministic stand-in file.
private final class TestServer {
    let process = Process()
    private let input = Pipe()
    let folder: URL       // what the server serves
    let downloads: URL    // where the tests write
    let port: Int
    let name = "model.bin"
    let contents: Data
    let sha256: String

    init(bytes: Int = 3 << 20) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dltest-\(UUID().uuidString)")
        folder = root.appendingPathComponent("served")
        downloads = root.appendingPathComponent("downloads")
        for dir in [folder, downloads] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        contents = Self.deterministicBytes(count: bytes)
        let file = folder.appendingPathComponent(name)
        try contents.write(to: file)
        sha256 = try SHA256.hex(file: file)

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/download_server.py")
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, folder.path]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let text = String(data: line, encoding: .utf8),
              let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CocoaError(.fileReadCorruptFile)
        }
        self.port = port
    }

    deinit {
        try? input.fileHandleForWriting.close()  // the server exits when its stdin closes
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: folder.deletingLastPathComponent())
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }
    func destination(_ file: String = "model.bin") -> URL { downloads.appendingPathComponent(file) }
    var source: DownloadSource { DownloadSource(url: url("/files/\(name)"), sha256: sha256, size: Int64(contents.count)) }

    /// The server's request log, one "PATH RANGE" line per request.
    func log() throws -> [String] {
        let file = downloads.appendingPathComponent("log.txt")
        try? FileManager.default.removeItem(at: file)
        _ = try ModelDownloader().fetch(DownloadSource(url: url("/log")), to: file)
        return try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func deterministicBytes(count: Int) -> Data {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var words = [UInt64](repeating: 0, count: (count + 7) / 8)
        for i in words.indices {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            words[i] = state
        }
        return words.withUnsafeBytes { Data($0.prefix(count)) }
    }
}

private func exists(_ url: URL) -> Bool { FileManager.default.fileExists(atPath: url.path) }
private func partFile(_ url: URL) -> URL { URL(fileURLWithPath: url.path + ".part") }
private let downloader: ModelDownloader = {
    var downloader = ModelDownloader(timeout: 10)
    downloader.retryDelay = 0.05
    return downloader
}()

@Suite struct ModelDownloadTests {
    @Test func plainDownloadVerifiesSHA256() throws {
        let server = try TestServer()
        let outcome = try downloader.fetch(server.source, to: server.destination())
        #expect(outcome == DownloadOutcome(bytes: Int64(server.contents.count), sha256: server.sha256,
                                           resumed: false, alreadyPresent: false))
        #expect(try Data(contentsOf: server.destination()) == server.contents)
        #expect(!exists(partFile(server.destination())))
    }

    @Test func presentFileIsVerifiedAndNotFetchedAgain() throws {
        let server = try TestServer()
        try server.contents.write(to: server.destination())
        let outcome = try downloader.fetch(server.source, to: server.destination())
        #expect(outcome.alreadyPresent)
        #expect(outcome.sha256 == server.sha256)
        #expect(try server.log().filter { $0.hasPrefix("/files/") }.isEmpty)
    }

    @Test func droppedConnectionResumes() throws {
        let server = try TestServer()
        var source = server.source
        source.url = server.url("/drop/\(server.name)")
        let outcome = try downloader.fetch(source, to: server.destination())
        #expect(outcome.resumed)
        #expect(outcome.bytes == Int64(server.contents.count))
        #expect(try Data(contentsOf: server.destination()) == server.contents)
        let requests = try server.log()
        #expect(requests.count == 2)
        #expect(requests.last?.hasSuffix("bytes=\(server.contents.count / 2)-") == true)
    }

    @Test func leftoverPartIsResumedWithRange() throws {
        let server = try TestServer()
        let kept = 1_000_000
        try server.contents.prefix(kept).write(to: partFile(server.destination()))
        let outcome = try downloader.fetch(server.source, to: server.destination())
        #expect(outcome.resumed)
        #expect(outcome.bytes == Int64(server.contents.count))
        #expect(try Data(contentsOf: server.destination()) == server.contents)
        #expect(try server.log() == ["/files/\(server.name) bytes=\(kept)-"])
    }

    @Test func completePartNeedsNoTransfer() throws {
        let server = try TestServer()
        try server.contents.write(to: partFile(server.destination()))
        let outcome = try downloader.fetch(server.source, to: server.destination())
        #expect(outcome.resumed && !outcome.alreadyPresent)
        #expect(try server.log().isEmpty)
    }

    @Test func corruptFileIsRefusedAndDeleted() throws {
        let server = try TestServer()
        var source = server.source
        source.url = server.url("/corrupt/\(server.name)")
        #expect {
            try downloader.fetch(source, to: server.destination())
        } throws: { error in
            guard case .checksumMismatch = error as? DownloadError else { return false }
            return true
        }
        #expect(!exists(server.destination()))
        #expect(!exists(partFile(server.destination())))
    }

    @Test(arguments: ["/drive?id=", "/drive-old?id="])
    func driveConfirmPageIsFollowed(route: String) throws {
        let server = try TestServer()
        var source = server.source
        source.url = server.url(route + server.name)
        let outcome = try downloader.fetch(source, to: server.destination())
        #expect(outcome.sha256 == server.sha256)
        #expect(try Data(contentsOf: server.destination()) == server.contents)
        let download = try #require(try server.log().last)
        #expect(download.hasPrefix("/drive-download?"))
        if route == "/drive?id=" {
            for item in ["id=\(server.name)", "export=download", "confirm=t", "uuid=0b7c-uuid-1234"] {
                #expect(download.contains(item))
            }
        } else {
            #expect(download.contains("confirm=Zx9q"))
        }
    }

    @Test func redirectIsFollowed() throws {
        let server = try TestServer(bytes: 200_000)
        var source = server.source
        source.url = server.url("/redirect/\(server.name)")
        #expect(try downloader.fetch(source, to: server.destination()).sha256 == server.sha256)
    }

    @Test(arguments: ["/refuse/", "/html/"])
    func refusalNamesTheURL(route: String) throws {
        let server = try TestServer(bytes: 1000)
        var source = server.source
        source.url = server.url(route + server.name)
        let destination = server.destination()
        do {
            _ = try downloader.fetch(source, to: destination)
            Issue.record("expected a refusal")
        } catch let error as DownloadError {
            guard case .refused = error else { Issue.record("unexpected \(error)"); return }
            let message = error.description
            #expect(message.contains("open \(source.url) in a browser"))
            #expect(message.contains(destination.path))
            #expect(message.filter { $0 == "." }.count >= 1 && !message.dropLast().contains(". "))
        }
        #expect(!exists(destination) && !exists(partFile(destination)))
    }

    @Test func progressIncreases() throws {
        let server = try TestServer()
        var reports: [(Int64, Int64?)] = []
        _ = try downloader.fetch(server.source, to: server.destination()) { reports.append(($0, $1)) }
        #expect(!reports.isEmpty)
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.0 < $1.0 })
        #expect(reports.last?.0 == Int64(server.contents.count))
        #expect(reports.allSatisfy { $0.1 == Int64(server.contents.count) })
    }

    @Test func driveShareLinksBecomeDirect() {
        let file = ModelDownloader.directURL("https://drive.google.com/file/d/1KW7bjndL3QG3sxBbZxreGHigcCCpsDgn/view?usp=sharing")
        #expect(file?.absoluteString == "https://drive.google.com/uc?export=download&id=1KW7bjndL3QG3sxBbZxreGHigcCCpsDgn")
        let open = ModelDownloader.directURL("https://drive.google.com/open?id=1PQutd-JboOCOZqmd95XWxWrO8gGEvRcO")
        #expect(open?.absoluteString == "https://drive.google.com/uc?export=download&id=1PQutd-JboOCOZqmd95XWxWrO8gGEvRcO")
        #expect(ModelDownloader.directURL("ftp://example.com/x") == nil)
        #expect(throws: DownloadError.self) {
            try ModelDownloader().fetch(DownloadSource(url: "https://drive.google.com/drive/folders/1U77L9kx95HrpMPBnJGMVb4ShUr3iTR26"),
                                        to: FileManager.default.temporaryDirectory.appendingPathComponent("never-written-\(UUID().uuidString)"))
        }
    }
}
