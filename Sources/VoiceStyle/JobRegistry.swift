// The registry of the library's jobs (no upstream counterpart): the one list the command line, the web server and
// the benchmarks dispatch from. It lives in the umbrella module, above every module that defines jobs.
import VoiceStyleEvaluation
import VoiceStylePipeline

/// Every job, in the order `voicestyle --help` lists their commands.
public enum JobRegistry {
    public static let all: [any JobRequest.Type] = [
        DemoRequest.self, InferRequest.self, InferManyRequest.self, BuildIndexRequest.self, InvertPrototypesRequest.self,
        MergeLatentsRequest.self, MergeIndexesRequest.self, ImportMemoryRequest.self, SearchRequest.self, InvertRequest.self,
        GenerateRequest.self, FeaturesRequest.self, EmbedRequest.self, AlignRequest.self, EvalFacesRequest.self,
        EvalInversionRequest.self, EvalGenerationRequest.self, EvalAssociationRequest.self, FetchModelsRequest.self,
        DoctorRequest.self, ConvertCheckpointRequest.self,
    ]

    /// The job called `name`, or nil.
    public static func named(_ name: String) -> (any JobRequest.Type)? { all.first { $0.job == name } }
}
