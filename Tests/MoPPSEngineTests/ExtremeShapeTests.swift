import Testing

@testable import MoPPSEngine

/// Shapes at the ends of the accepted range, [Shapes.minimum, Float.greatestFiniteMagnitude]: every
/// sampler path gives finite samples in [0, 1] with the right mean.
@Suite struct ExtremeShapeTests {
  static let huge = Double(Float.greatestFiniteMagnitude)  // 3.4e38
  static let tiny = Double(Shapes.minimum)

  /// n draws of Beta(a, b) from each variant of the vector sampler, alone and with positions interleaved with
  /// Beta(0.5, 3) (so the extreme lanes also share vectors with boosted, log-space lanes), and n / 16
  /// from the scalar sampler.
  func draws(_ a: Double, _ b: Double, n: Int, seed: UInt64) throws -> [(String, [Float])] {
    var out: [(String, [Float])] = []
    for kernel in Kernel.supported {
      var rng = VectorRNG(seed: seed, stream: 0, counter: 0)
      let alone = try BetaSampler.samples(
        alpha: [Float](repeating: Float(a), count: n), beta: [Float](repeating: Float(b), count: n),
        using: &rng,
        kernel: kernel)
      var alpha = [Float](repeating: 0.5, count: 2 * n)
      var beta = [Float](repeating: 3, count: 2 * n)
      for i in 0..<n {
        alpha[2 * i] = Float(a)
        beta[2 * i] = Float(b)
      }
      let mixed = try BetaSampler.samples(alpha: alpha, beta: beta, using: &rng, kernel: kernel)
      out += [
        ("vector (\(kernel))", alone),
        ("vector (\(kernel)), mixed lanes", stride(from: 0, to: 2 * n, by: 2).map { mixed[$0] }),
      ]
    }
    var scalarRNG = Xoshiro256(seed: seed)
    let scalar = (0..<n / 16).map { _ in BetaSampler.sample(alpha: a, beta: b, using: &scalarRNG) }
    return out + [("scalar", scalar)]
  }

  /// Mean within `tolerance` of α / (α + β), no NaN, nothing outside [0, 1].
  @Test(arguments: [
    (huge, huge, 1e-6), (3e38, 3e38, 1e-6), (1e30, 1e30, 1e-6), (huge, 1.0, 1e-6), (1.0, huge, 1e-6),
    (huge, 2e38, 1e-3), (1e20, 3e20, 1e-6),
    // Tiny shapes: samples are ~0 or ~1, so the mean of 2^18 draws is within 5σ = 5·0.5/√n ≈ 0.005.
    (tiny, tiny, 0.005), (tiny, 1.0, 1e-6), (1.0, tiny, 1e-6), (tiny, huge, 1e-6), (huge, tiny, 1e-6),
    (1e-20, 1e-20, 0.005), (0.01, 0.01, 0.005),
  ])
  func extremes(a: Double, b: Double, tolerance: Double) throws {
    let exact = a / (a + b)
    for (kind, x) in try draws(a, b, n: 1 << 18, seed: 99) {
      let bad = x.filter { !($0 >= 0 && $0 <= 1) }.count
      #expect(bad == 0, "\(kind) Beta(\(a), \(b)): \(bad) samples NaN or outside [0, 1]")
      let mean = x.reduce(0.0) { $0 + Double($1) } / Double(x.count)
      let allowed = kind == "scalar" ? tolerance * 4 : tolerance  // 16× fewer scalar draws
      #expect(abs(mean - exact) <= allowed, "\(kind) Beta(\(a), \(b)) mean \(mean), exact \(exact)")
    }
  }

  /// Huge equal shapes used to sample 0 (X + Y overflowed), so topk never chose such prompts.
  @Test func hugeShapesAreChosenByTopK() throws {
    for wholePool in [false, true] {
      let pool = try Engine().createPool("p", config: PoolConfig(seed: 5))
      _ = try pool.register(Array(0..<100))
      _ = try pool.register(
        Array(100..<200),
        priors: ([Double](repeating: 3e38, count: 100), [Double](repeating: 3e38, count: 100)))
      let query = SelectQuery(
        batchSize: 100, candidates: wholePool ? .all : .given(Array(0..<200)), strategy: .topK)
      let result = try pool.select(query)
      #expect(Set(result.ids) == Set(100..<200), "whole pool: \(wholePool)")
      #expect(result.samples.allSatisfy { abs($0 - 0.5) < 1e-6 })
    }
  }

  /// Every path that sets a shape keeps it in [Shapes.minimum, Shapes.maximum].
  @Test func everyPathBoundsTheShapes() throws {
    let engine = Engine()
    for bad in [1e-31, 1e39, 0, -1, Double.nan, Double.infinity] {
      #expect(throws: MoPPSError.self) { try engine.createPool("a", config: PoolConfig(priorAlpha: bad)) }
      #expect(throws: MoPPSError.self) { try engine.createPool("b", config: PoolConfig(priorBeta: bad)) }
    }
    let pool = try engine.createPool("p", config: PoolConfig(priorAlpha: 1e-30, priorBeta: 3.4e38, seed: 1))
    for bad in [1e-31, 1e39] {
      #expect(throws: MoPPSError.self) { try pool.register([1], priors: ([bad], [1])) }
      #expect(throws: MoPPSError.self) { try pool.setPosteriors([1], alpha: [1], beta: [bad]) }
    }
    #expect(pool.info.promptCount == 0)
    _ = try pool.register([1, 2], priors: ([1e-30, 3e38], [3.4e38, 1]))
    // An update past Float's range saturates instead of storing inf.
    _ = try pool.update(Outcomes(ids: [2], successes: [1e38], trials: [1e38]))
    let after = pool.posteriors([2])
    #expect(after.alpha == [Double(Shapes.maximum)] && after.beta == [1])
    // A snapshot holding a shape out of range is refused on install.
    var snapshot = pool.snapshot()
    snapshot.alpha[0] = 1e-31
    #expect(throws: MoPPSError.self) {
      try Pool(restoring: snapshot, windows: Engine.Windows(updates: 16), kernel: .baseline)
    }
  }
}
