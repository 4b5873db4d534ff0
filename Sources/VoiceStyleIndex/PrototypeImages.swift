// No upstream counterpart (cmpc2 reads its prototype faces by path in its dataset class): a prototype's image as
// the index embedded it, for inversion, thumbnails and search results.
import Foundation
import VoiceStyleFaces
import VoiceStyleImaging

extension PrototypeIndex {
    /// The folder relative prototype paths start from.
    public var facesRoot: URL { URL(fileURLWithPath: (try? store.setting("faces_root")) ?? ".") }

    /// A prototype's image as the index embedded it: the file itself, FFHQ-aligned again from its stored
    /// landmarks when the index aligns (nil if that fails), or for an imported memory's video folder its first
    /// readable JPEG/PNG. nil when the file is gone or unreadable.
    public func image(_ path: String, record: PrototypeRecord? = nil) -> RGBImage? {
        guard let photo = file(path) else { return nil }
        guard let json = record?.alignment ?? (try? store.record(path: path))?.alignment else { return photo }
        guard let note = try? JSONDecoder().decode(FaceAlignmentNote.self, from: Data(json.utf8)) else { return nil }
        return try? note.realign(photo)
    }

    /// The prototype's file as stored.
    private func file(_ path: String) -> RGBImage? {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : facesRoot.appendingPathComponent(path)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else { return nil }
        if !isDir.boolValue { return try? ImageFile.read(url) }
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
            .filter { FileTree.isPhoto(URL(fileURLWithPath: $0)) }
        for f in files { if let img = try? ImageFile.read(url.appendingPathComponent(f)) { return img } }
        return nil
    }
}
