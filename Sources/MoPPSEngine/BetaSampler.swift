#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Beta(α, β) sampling as a ratio of gammas, X / (X + Y), with Marsaglia–Tsang gamma variates.
///
/// When both shapes are ≥ 1 the ratio is taken directly. When either is below 1, the boost
/// Gamma(a) = Gamma(a + 1)·U^(1/a) can underflow a Double (α = β = 0.01 gives values like 1e-300),
/// so that case runs in log space: X / (X + Y) = 1 / (1 + exp(log Y − log X)).
public enum BetaSampler {
  /// One Beta(alpha, beta) sample. Both shapes must be positive and finite (the engine validates
  /// them before they are stored).
  @inlinable
  public static func sample(alpha: Double, beta: Double, using rng: inout Xoshiro256) -> Float {
    if alpha >= 1 && beta >= 1 {
      let x = gamma(shape: alpha, using: &rng)
      let y = gamma(shape: beta, using: &rng)
      return Float(x / (x + y))
    }
    let logX = logGamma(shape: alpha, using: &rng)
    let logY = logGamma(shape: beta, using: &rng)
    return Float(1 / (1 + exp(logY - logX)))
  }

  /// log of a Gamma(shape, 1) variate, any shape > 0.
  @inlinable
  public static func logGamma(shape: Double, using rng: inout Xoshiro256) -> Double {
    if shape < 1 {
      return log(gamma(shape: shape + 1, using: &rng)) + log(rng.nextOpenUnit()) / shape
    }
    return log(gamma(shape: shape, using: &rng))
  }

  /// A Gamma(shape, 1) variate for shape ≥ 1 (Marsaglia & Tsang 2000, with their squeeze, which
  /// accepts about 98% of proposals without a logarithm).
  @inlinable
  public static func gamma(shape: Double, using rng: inout Xoshiro256) -> Double {
    let d = shape - 1.0 / 3.0
    let c = 1 / (9 * d).squareRoot()
    while true {
      let x = standardNormal(using: &rng)
      let t = 1 + c * x
      if t <= 0 { continue }
      let v = t * t * t
      let u = rng.nextOpenUnit()
      let x2 = x * x
      if u < 1 - 0.0331 * x2 * x2 { return d * v }
      if log(u) < 0.5 * x2 + d * (1 - v + log(v)) { return d * v }
    }
  }

  /// Marsaglia's polar method; the second variate of the pair is dropped so that the sampler keeps
  /// no state besides the generator.
  @inlinable
  static func standardNormal(using rng: inout Xoshiro256) -> Double {
    while true {
      let u = 2 * rng.nextOpenUnit() - 1
      let v = 2 * rng.nextOpenUnit() - 1
      let s = u * u + v * v
      if s < 1 && s > 0 {
        return u * (-2 * log(s) / s).squareRoot()
      }
    }
  }
}

extension BetaSampler {
  /// Fills `out[i]` with a Beta(alpha[i], beta[i]) sample with the vectorised sampler of `kernel`;
  /// every shape must be in [`Shapes.minimum`, `Shapes.maximum`]. Buffers of different lengths are
  /// INVALID_ARGUMENT, and nothing is written.
  public static func fill(
    _ out: UnsafeMutableBufferPointer<Float>, alpha: UnsafeBufferPointer<Float>,
    beta: UnsafeBufferPointer<Float>, using rng: inout VectorRNG, kernel: Kernel = .best
  ) throws(MoPPSError) {
    try sameLength(out.count, alpha.count, beta.count)
    kernel.sample(out, alpha: alpha, beta: beta, using: &rng)
  }

  /// `fill` for arrays: one sample per (alpha[i], beta[i]); arrays of different lengths are
  /// INVALID_ARGUMENT.
  public static func samples(
    alpha: [Float], beta: [Float], using rng: inout VectorRNG, kernel: Kernel = .best
  ) throws(MoPPSError) -> [Float] {
    try sameLength(alpha.count, alpha.count, beta.count)
    return [Float](unsafeUninitializedCapacity: alpha.count) { out, initialized in
      alpha.withUnsafeBufferPointer { a in
        beta.withUnsafeBufferPointer { b in kernel.sample(out, alpha: a, beta: b, using: &rng) }
      }
      initialized = alpha.count
    }
  }

  private static func sameLength(_ out: Int, _ alpha: Int, _ beta: Int) throws(MoPPSError) {
    guard alpha == out, beta == out else {
      throw .invalid("alpha/beta: need one shape pair per sample (\(out)), got \(alpha)/\(beta)")
    }
  }
}
