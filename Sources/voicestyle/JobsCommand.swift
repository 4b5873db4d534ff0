// `voicestyle jobs`: which library job (JobRegistry) each subcommand runs — the check that the command line reaches
// every registered job, and a map for people writing their own front-end.
import ArgumentParser
import Foundation
import VoiceStyle
import VoiceStyleServer

/// A subcommand that runs library jobs.
protocol JobCommand {
    static var jobs: [any JobRequest.Type] { get }
}

extension DemoCommand: JobCommand { static var jobs: [any JobRequest.Type] { [DemoRequest.self] } }
extension InferCommand: JobCommand { static var jobs: [any JobRequest.Type] { [InferRequest.self, InferManyRequest.self] } }
extension IndexBuildCommand: JobCommand { static var jobs: [any JobRequest.Type] { [BuildIndexRequest.self] } }
extension IndexInvertCommand: JobCommand { static var jobs: [any JobRequest.Type] { [InvertPrototypesRequest.self] } }
extension IndexMergeLatentsCommand: JobCommand { static var jobs: [any JobRequest.Type] { [MergeLatentsRequest.self] } }
extension IndexMergeCommand: JobCommand { static var jobs: [any JobRequest.Type] { [MergeIndexesRequest.self] } }
extension IndexImportCommand: JobCommand { static var jobs: [any JobRequest.Type] { [ImportMemoryRequest.self] } }
extension SearchCommand: JobCommand { static var jobs: [any JobRequest.Type] { [SearchRequest.self] } }
extension InvertCommand: JobCommand { static var jobs: [any JobRequest.Type] { [InvertRequest.self] } }
extension GenerateCommand: JobCommand { static var jobs: [any JobRequest.Type] { [GenerateRequest.self] } }
extension FeaturesCommand: JobCommand { static var jobs: [any JobRequest.Type] { [FeaturesRequest.self] } }
extension EmbedCommand: JobCommand { static var jobs: [any JobRequest.Type] { [EmbedRequest.self] } }
extension AlignCommand: JobCommand { static var jobs: [any JobRequest.Type] { [AlignRequest.self] } }
extension EvalFacesCommand: JobCommand { static var jobs: [any JobRequest.Type] { [EvalFacesRequest.self] } }
extension EvalInversionCommand: JobCommand { static var jobs: [any JobRequest.Type] { [EvalInversionRequest.self] } }
extension EvalGenerationCommand: JobCommand { static var jobs: [any JobRequest.Type] { [EvalGenerationRequest.self] } }
extension EvalAssociationCommand: JobCommand { static var jobs: [any JobRequest.Type] { [EvalAssociationRequest.self] } }
extension ModelsFetchCommand: JobCommand { static var jobs: [any JobRequest.Type] { [FetchModelsRequest.self] } }
extension DoctorCommand: JobCommand { static var jobs: [any JobRequest.Type] { [DoctorRequest.self] } }
extension ConvertCommand: JobCommand { static var jobs: [any JobRequest.Type] { [ConvertCheckpointRequest.self] } }
extension ServeCommand: JobCommand { static var jobs: [any JobRequest.Type] { WebServer.jobs } }

struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List the library's jobs and the subcommand that runs each (the same jobs the web page and benchmarks run).")

    @Flag(help: "Print JSON: {\"jobs\": [names], \"commands\": {\"index build\": [\"index build\"], …}}.") var json = false

    func run() throws {
        var commands: [String: [String]] = [:]
        func walk(_ type: ParsableCommand.Type, _ path: [String]) {
            let name = type.configuration.commandName ?? ""
            let here = path + (type == VoiceStyleCommand.self ? [] : [name])
            if let c = type as? JobCommand.Type { commands[here.joined(separator: " ")] = c.jobs.map { $0.job } }
            for sub in type.configuration.subcommands { walk(sub, here) }
        }
        walk(VoiceStyleCommand.self, [])
        let names = JobRegistry.all.map { $0.job }
        if json {
            let data = try JSONSerialization.data(withJSONObject: ["jobs": names, "commands": commands], options: [.prettyPrinted, .sortedKeys])
            return print(String(decoding: data, as: UTF8.self))
        }
        let reached = Set(commands.values.joined())
        for job in JobRegistry.all {
            let by = commands.filter { $0.value.contains(job.job) }.keys.sorted()
            print(tableRow([job.job, by.isEmpty ? "(no command)" : "voicestyle " + by.joined(separator: ", voicestyle "), job.summary], widths: [-26, -34, -50]))
        }
        if names.contains(where: { !reached.contains($0) }) { throw ExitCode(1) }
    }
}
