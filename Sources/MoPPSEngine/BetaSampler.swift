#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Beta(α, β) sampling as a ratio of gammas, X / (X + Y), with Marsaglia–Tsang gamma variates.
///
/// Everything runs in log space: for shapes below 1 the boost Gamma(a) = Gamma(a + 1)·U^(1/a) can
/// underflow a Double (α = β = 0.01 gives values like 1e-300), while log X − log Y stays finite, and
/// X / (X + Y) = 1 / (1 + exp(log Y − log X)).
public enum BetaSampler {
  /// One Beta(alpha, beta) sample. Both shapes must be positive and finite (the engine validates
  /// them before they are stored).
  @inlinable
  public static func sample(alpha: Double, beta: Double, using rng: inout Xoshiro256) -> Float {
    let logX = logGamma(shape: alpha, using: &rng)
    let logY = logGamma(shape: beta, using: &rng)
    return Float(1 / (1 + exp(logY - logX)))
  }

  /// log of a Gamma(shape, 1) variate.
  @inlinable
  public static func logGamma(shape: Double, using rng: inout Xoshiro256) -> Double {
    if shape < 1 {
      // Boost: Gamma(a) = Gamma(a + 1) · U^(1/a), taken in logs.
      return logGamma(shape: shape + 1, using: &rng) + log(rng.nextOpenUnit()) / shape
    }
    let d = shape - 1.0 / 3.0
    let c = 1 / (9 * d).squareRoot()
    while true {
      let x = standardNormal(using: &rng)
      let t = 1 + c * x
      if t <= 0 { continue }
      let v = t * t * t
      let logU = log(rng.nextOpenUnit())
      let logV = log(v)
      if logU < 0.5 * x * x + d - d * v + d * logV {
        return log(d) + logV
      }
    }
  }

  /// Box–Muller; one of the pair is enough here and keeps the generator stateless.
  @inlinable
  static func standardNormal(using rng: inout Xoshiro256) -> Double {
    let u1 = rng.nextOpenUnit()
    let u2 = rng.nextOpenUnit()
    return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
  }
}
