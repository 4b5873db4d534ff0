// Follows rosinality/stylegan2-pytorch model.py `EqualLinear` (equalised learning rate linear layer).
import RealModule
import VoiceStyleEngine

/// Linear layer with equalised learning rate, as stored in rosinality checkpoints.
///
/// Stored parameters are raw: `weight` [out, in] (initialised N(0,1)/lrMul upstream) and `bias` [out].
/// Forward: `y = x · (weight · lrMul/√in)ᵀ + bias · lrMul`; with `activation`, `fused_leaky_relu(x·W'ᵀ,
/// bias·lrMul)` = leaky_relu(·, 0.2)·√2 instead. Input [N, in] → output [N, out].
public final class EqualLinear {
    public let weight: Tensor<Float>
    public let bias: Tensor<Float>
    /// Learning-rate multiplier (0.01 in the mapping network, 1 in modulations).
    public let lrMul: Float
    /// Fused leaky-ReLU activation (mapping network) or none.
    public let activation: Bool

    public init(weight: Tensor<Float>, bias: Tensor<Float>, lrMul: Float = 1, activation: Bool = false) {
        precondition(weight.rank == 2 && bias.count == weight.shape[0],
                     "EqualLinear: weight \(weight.shape) and bias \(bias.shape) disagree")
        self.weight = weight
        self.bias = bias
        self.lrMul = lrMul
        self.activation = activation
    }

    /// Reads `prefix.weight` [out, in] (random: N(0, 1)) and `prefix.bias` [out] (random: `biasInit`).
    convenience init(_ r: ParameterReader, _ prefix: String, out: Int, in cin: Int, biasInit: Float = 0, lrMul: Float = 1,
                     activation: Bool = false) {
        self.init(weight: r.tensor("\(prefix).weight", [out, cin], .standardNormal), bias: r.tensor("\(prefix).bias", [out], .constant(biasInit)),
                  lrMul: lrMul, activation: activation)
    }

    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }
    /// The weight multiplier lrMul/√in.
    public var scale: Float { lrMul / Float(inFeatures).squareRoot() }

    public func callAsFunction(_ x: Tensor<Float>) -> Tensor<Float> {
        let w = weight * scale, b = bias * lrMul
        if activation { return x.linear(weight: w).fusedLeakyRelu(bias: b) }
        return x.linear(weight: w, bias: b)
    }
}
