// `voicestyle serve`: the local web page and its JSON API (no upstream counterpart; README "Web page").
import ArgumentParser
import Foundation
import VoiceStyle
import VoiceStyleServer

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a web page: record or upload a voice, watch its face appear (also invert and search).",
        discussion: """
            Open the address printed at start. Jobs run one at a time (others wait in a queue); results are kept \
            under --data for a few hours. Bound to loopback no login is needed; bound to any other address the \
            page and API require an access token (--token, or one generated and printed at start). --demo uses \
            the bundled faces and voices with untrained models, so it works on a fresh clone. API: README "Web page".
            """)

    @Option(help: "Prototype index name or path (not with --demo).")
    var index: String?
    @OptionGroup var location: IndexLocation
    @Flag(help: "Use the bundled demo faces and voices with untrained models.")
    var demo = false
    @Option(help: "Address to bind (loopback by default; other addresses require the token).")
    var host = "127.0.0.1"
    @Option(help: "Port (0: any free one).")
    var port = 8080
    @Option(help: "Access token (default: generated when --host is not loopback).")
    var token: String?
    @Option(help: "Data folder for uploads and results (default ~/.cache/voicestyle/serve).", completion: .directory)
    var data: String?
    @Option(help: "Largest upload in MiB.")
    var maxUploadMb = 20
    @Option(help: "Longest voice clip in seconds.")
    var maxSeconds = 60.0
    @Option(help: "CMPC (default: the checkpoint the index was built with).", completion: .file())
    var cmpc: String?
    @OptionGroup var modelFiles: InversionModelOptions

    func validate() throws {
        guard demo != (index != nil) else { throw ValidationError("give exactly one of --index NAME or --demo") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535 (got \(port))") }
        guard (1...1024).contains(maxUploadMb) else { throw ValidationError("--max-upload-mb must be between 1 and 1024 (got \(maxUploadMb))") }
        guard maxSeconds.isFinite, maxSeconds > 0, maxSeconds <= 600 else { throw ValidationError("--max-seconds must be between 0 and 600 (got \(maxSeconds))") }
    }

    func run() throws {
        var options = ServerOptions(data: data.map { URL(fileURLWithPath: $0) } ?? ServerOptions.defaultData)
        (options.host, options.port, options.token, options.demo) = (host, port, token, demo)
        options.index = index.map { location.directory($0).path }
        options.models = modelFiles.paths(cmpc: cmpc)
        options.limits.maxUploadBytes = maxUploadMb << 20
        options.limits.maxVoiceSeconds = maxSeconds
        try WebServer.checkHost(host)
        if demo { FileHandle.standardError.write(Data("preparing the demo index in \(options.data.path)/demo-index …\n".utf8)) }
        let server = try WebServer(options)
        let (token, folder) = (server.token, options.data.path)
        let failure = ServeFailure()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await server.run { port in
                    let shown = host.contains(":") ? "[\(host)]" : host
                    let line = "voicestyle serve: http://\(shown):\(port)/\(token.map { "?token=\($0)" } ?? "")  (index \(server.indexName), data \(folder); Ctrl-C stops)\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                }
            } catch { failure.error = error }
            done.signal()
        }
        done.wait()
        if let error = failure.error {
            let why = plainMessage(error).contains("Address already in use") ? "the port is in use (choose another with --port)" : plainMessage(error)
            throw JobError("cannot serve on \(host):\(port): \(why)")
        }
    }
}

/// The server task's error, handed to the waiting command.
private final class ServeFailure: @unchecked Sendable { var error: Error? }
