// Shared helpers of the test targets: fixture lookup, tolerance checks, finite-difference gradient checks.
import Foundation
import Testing
import VoiceStyleCheckpoints
import VoiceStyleEngine

/// Where fixtures live.
public enum Fixtures {
    /// The repository root (this file is Tests/VoiceStyleTestSupport/TestSupport.swift).
    public static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared` beside the checkout, or `$VOICESTYLE_SHARED`.
    public static let shared: URL = {
        if let env = ProcessInfo.processInfo.environment["VOICESTYLE_SHARED"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    /// A file committed under `Tests/<target>/Fixtures/`.
    public static func local(_ target: String, _ name: String) -> URL {
        repoRoot.appendingPathComponent("Tests/\(target)/Fixtures/\(name)")
    }

    /// A file under `../shared/fixtures/`, or nil (with a note on stderr) when the shared folder is absent.
    public static func sharedFixture(_ relative: String) -> URL? {
        let url = shared.appendingPathComponent("fixtures/\(relative)")
        if FileManager.default.fileExists(atPath: url.path) { return url }
        FileHandle.standardError.write(Data("note: shared fixture \(url.path) is absent; set VOICESTYLE_SHARED to the shared/ folder to run this test\n".utf8))
        return nil
    }

    /// Reads a safetensors fixture.
    public static func load(_ url: URL) throws -> FixtureFile { FixtureFile(file: try SafeTensorsFile.read(url), name: url.lastPathComponent) }
}

/// A fixture file with typed accessors that fail the test on a missing tensor.
public struct FixtureFile {
    public let file: SafeTensorsFile
    public let name: String

    public func tensor<T: TensorScalar>(_ key: String, _ type: T.Type = Float.self) throws -> Tensor<T> {
        guard let t = file[key] else { throw FixtureError.missing(name, key) }
        return t.tensor(T.self)
    }

    public func scalar(_ key: String) throws -> Double {
        guard let t = file[key] else { throw FixtureError.missing(name, key) }
        return t.doubles()[0]
    }

    public var metadata: [String: String] { file.metadata }
}

public enum FixtureError: Error, CustomStringConvertible {
    case missing(String, String)
    public var description: String {
        switch self { case let .missing(f, k): "fixture \(f) has no tensor \(k)" }
    }
}

/// Largest element-wise violation of |a − r| ≤ atol·max(1, |r|), as a ratio (≤ 1 passes).
public func elementwiseViolation<T: TensorScalar>(_ a: Tensor<T>, _ r: Tensor<T>, atol: Double) -> Double {
    precondition(a.count == r.count, "shape \(a.shape) vs reference \(r.shape)")
    var worst = 0.0
    for (x, y) in zip(a.buffer, r.buffer) {
        let d = Swift.abs(Double(x) - Double(y)) / (atol * Swift.max(1, Swift.abs(Double(y))))
        if !(d <= worst) { worst = d.isNaN ? .infinity : d }
    }
    return worst
}

/// Norm-wise relative error max|a − r| / max|r|.
public func relativeError<T: TensorScalar>(_ a: Tensor<T>, _ r: Tensor<T>) -> Double {
    precondition(a.count == r.count, "shape \(a.shape) vs reference \(r.shape)")
    var num = 0.0, den = 0.0
    for (x, y) in zip(a.buffer, r.buffer) {
        let d = Swift.abs(Double(x) - Double(y))
        if !(d <= num) { num = d.isNaN ? .infinity : d }
        den = Swift.max(den, Swift.abs(Double(y)))
    }
    return num / Swift.max(den, 1e-30)
}

/// Expects a forward output within |Δ| ≤ 1e-4·max(1, |ref|) per element (the issues' op tolerance).
public func expectForward<T: TensorScalar>(_ a: Tensor<T>, _ r: Tensor<T>, atol: Double = 1e-4, _ what: String,
                                           sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.shape == r.shape, "\(what): shape \(a.shape) vs \(r.shape)", sourceLocation: sourceLocation)
    guard a.count == r.count else { return }
    let v = elementwiseViolation(a, r, atol: atol)
    #expect(v <= 1, "\(what): worst element error is \(v)× the tolerance \(atol)", sourceLocation: sourceLocation)
}

/// Expects a gradient within 1e-3 relative error (norm-wise).
public func expectGradient<T: TensorScalar>(_ a: Tensor<T>?, _ r: Tensor<T>, rtol: Double = 1e-3, _ what: String,
                                            sourceLocation: SourceLocation = #_sourceLocation) {
    guard let a else { Issue.record("\(what): no gradient", sourceLocation: sourceLocation); return }
    #expect(a.shape == r.shape, "\(what): shape \(a.shape) vs \(r.shape)", sourceLocation: sourceLocation)
    guard a.count == r.count else { return }
    let e = relativeError(a, r)
    #expect(e <= rtol, "\(what): relative error \(e) > \(rtol)", sourceLocation: sourceLocation)
}

/// Compares the autodiff gradients of L = Σ f(inputs) · R (R random) with central finite differences, all in
/// float64. Returns the worst relative error over all inputs (norm-wise per input).
public func finiteDifferenceError(_ inputs: [Tensor<Double>], seed: UInt64 = 7, step: Double = 1e-6,
                                  _ f: ([Tensor<Double>]) -> Tensor<Double>) -> Double {
    for x in inputs { x.requiresGrad = true; x.grad = nil }
    let out = f(inputs)
    var rng = SeededGenerator(seed: seed)
    let r = Tensor<Double>.randomNormal(out.shape, using: &rng)
    (out * r).sum().backward()
    func loss() -> Double {
        withoutGradients {
            let o = f(inputs)
            var acc = 0.0
            for (a, b) in zip(o.buffer, r.buffer) { acc += a * b }
            return acc
        }
    }
    var worst = 0.0
    for x in inputs {
        let numeric = Tensor<Double>(zeros: x.shape)
        let p = x.mutableBuffer
        for i in 0..<x.count {
            let v = p[i]
            p[i] = v + step; let lp = loss()
            p[i] = v - step; let lm = loss()
            p[i] = v
            numeric.mutableBuffer[i] = (lp - lm) / (2 * step)
        }
        let analytic = x.grad ?? Tensor<Double>(zeros: x.shape)
        var num = 0.0, den = 0.0
        for (a, n) in zip(analytic.buffer, numeric.buffer) {
            num = Swift.max(num, Swift.abs(a - n)); den = Swift.max(den, Swift.abs(n))
        }
        worst = Swift.max(worst, num / Swift.max(den, 1e-8))
    }
    return worst
}

/// For gradients of networks with kinks (ReLU, PReLU, max-pool) on inputs where float32 rounding decides a
/// few kinks: expects the gradient within 1e-3 relative of the reference, or, where the gradient is
/// ill-conditioned, no farther from it than the gradient itself moves when the input is perturbed by
/// 1e-6 (`perturbed`: the same gradient at a seeded, 1e-6-perturbed input). PyTorch's float32 result can
/// be matched no better than that.
public func expectGradientWithinConditioning(_ a: Tensor<Float>?, _ r: Tensor<Float>, perturbed: Tensor<Float>?, _ what: String,
                                             sourceLocation: SourceLocation = #_sourceLocation) {
    guard let a, let perturbed else { Issue.record("\(what): no gradient", sourceLocation: sourceLocation); return }
    let e = relativeError(a, r)
    if e <= 1e-3 { return }
    let sensitivity = relativeError(perturbed, a)
    #expect(e <= 1.5 * sensitivity,
            "\(what): relative error \(e) exceeds 1e-3 and 1.5× the gradient's own sensitivity to a 1e-6 input change (\(sensitivity))",
            sourceLocation: sourceLocation)
}

/// A copy of `x` with seeded N(0, 1)·1e-6 added, requiring a gradient.
public func perturbedCopy(_ x: Tensor<Float>, seed: UInt64 = 1) -> Tensor<Float> {
    let c = x.detached()
    var rng = SeededGenerator(seed: seed)
    for i in 0..<c.count { c.mutableBuffer[i] += Float(rng.nextNormal()) * 1e-6 }
    c.requiresGrad = true
    return c
}
