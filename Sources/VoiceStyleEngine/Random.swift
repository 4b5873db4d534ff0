// Seeded pseudo-random numbers for reproducible noise, latents and tests (xoshiro256**, Box–Muller).
import RealModule

/// A seedable generator (xoshiro256**; the seed is expanded with SplitMix64). Same seed, same sequence,
/// on every machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    private var spareNormal: Double?

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// A uniform double in [0, 1).
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A standard normal sample (Box–Muller, both values used).
    public mutating func nextNormal() -> Double {
        if let v = spareNormal { spareNormal = nil; return v }
        var u1 = nextUniform()
        while u1 <= 0 { u1 = nextUniform() }
        let u2 = nextUniform()
        let r = (-2 * Double.log(u1)).squareRoot()
        spareNormal = r * Double.sin(2 * .pi * u2)
        return r * Double.cos(2 * .pi * u2)
    }
}

extension Tensor {
    /// Standard-normal samples of the given shape.
    public static func randomNormal(_ shape: [Int], using rng: inout SeededGenerator,
                                    requiresGrad: Bool = false) -> Tensor<T> {
        let t = Tensor(uninitializedShape: shape)
        let p = t.storage.pointer
        for i in 0..<t.count { p[i] = T(rng.nextNormal()) }
        t.requiresGrad = requiresGrad
        return t
    }

    /// Uniform samples in [low, high).
    public static func randomUniform(_ shape: [Int], low: T = 0, high: T = 1, using rng: inout SeededGenerator,
                                     requiresGrad: Bool = false) -> Tensor<T> {
        let t = Tensor(uninitializedShape: shape)
        let p = t.storage.pointer
        for i in 0..<t.count { p[i] = low + (high - low) * T(rng.nextUniform()) }
        t.requiresGrad = requiresGrad
        return t
    }
}
