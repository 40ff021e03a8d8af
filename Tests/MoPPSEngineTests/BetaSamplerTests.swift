import Foundation
import Testing

@testable import MoPPSEngine

/// Both samplers: the scalar Double one (reference) and the SIMD Float32 one the engine uses.
@Suite struct BetaSamplerTests {
  static let n = 200_000

  enum Kind: CaseIterable { case scalar, vector }

  func draw(_ a: Double, _ b: Double, seed: UInt64, kind: Kind = .vector) -> [Double] {
    switch kind {
    case .scalar:
      var rng = Xoshiro256(seed: seed)
      return (0..<Self.n).map { _ in Double(BetaSampler.sample(alpha: a, beta: b, using: &rng)) }
    case .vector:
      var rng = VectorRNG(seed: seed, stream: 0, counter: 0)
      let s = BetaSampler.samples(
        alpha: [Float](repeating: Float(a), count: Self.n), beta: [Float](repeating: Float(b), count: Self.n),
        using: &rng)
      return s.map(Double.init)
    }
  }

  /// Mean and variance within 5 standard errors of the exact moments (fixed seeds, so this is a
  /// regression check; 5 σ keeps a correct sampler from ever failing by chance on a new seed).
  @Test(arguments: [
    (0.05, 0.05), (0.3, 0.7), (0.5, 0.5), (1.0, 1.0), (2.0, 5.0), (30.0, 40.0), (8.0, 1000.0), (1000.0, 50.0),
  ])
  func moments(a: Double, b: Double) {
    for kind in Kind.allCases { momentsCheck(a, b, kind) }
  }

  func momentsCheck(_ a: Double, _ b: Double, _ kind: Kind) {
    let x = draw(a, b, seed: 17, kind: kind)
    let mean = x.reduce(0, +) / Double(x.count)
    let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count - 1)
    let m = a / (a + b)
    let v = a * b / ((a + b) * (a + b) * (a + b + 1))
    #expect(abs(mean - m) < 5 * (v / Double(Self.n)).squareRoot(), "\(kind) mean \(mean) vs \(m)")
    // The variance of the sample variance is at most E[(X-m)^4] ≤ v (X in [0, 1]) over n.
    #expect(abs(variance - v) < 5 * (v / Double(Self.n)).squareRoot(), "\(kind) variance \(variance) vs \(v)")
  }

  /// Kolmogorov–Smirnov against exact CDFs where Beta has one in closed form: Beta(a, 1) has
  /// F(x) = x^a and Beta(1, b) has F(x) = 1 − (1 − x)^b. Covers the boosted (shape < 1) branch.
  /// Threshold 1.95/√n is the 0.001 critical value of the KS statistic.
  @Test(arguments: [(0.3, 1.0), (0.5, 1.0), (1.0, 1.0), (3.0, 1.0), (1.0, 0.7), (1.0, 4.0), (1.0, 50.0)])
  func kolmogorovSmirnov(a: Double, b: Double) {
    for kind in Kind.allCases { ksCheck(a, b, kind) }
  }

  func ksCheck(_ a: Double, _ b: Double, _ kind: Kind) {
    let x = draw(a, b, seed: 23, kind: kind).sorted()
    let cdf: (Double) -> Double = b == 1 ? { pow($0, a) } : { 1 - pow(1 - $0, b) }
    var d = 0.0
    for (i, v) in x.enumerated() {
      let f = cdf(v)
      d = max(d, abs(f - Double(i) / Double(x.count)), abs(Double(i + 1) / Double(x.count) - f))
    }
    #expect(d < 1.95 / Double(x.count).squareRoot(), "\(kind) KS D = \(d) for Beta(\(a), \(b))")
  }

  @Test func samplesStayInTheUnitInterval() {
    for kind in Kind.allCases {
      for (a, b) in [(0.01, 0.01), (1e-3, 5.0), (5.0, 1e-3), (1e5, 1e5), (1e7, 1.0)] {
        let x = draw(a, b, seed: 1, kind: kind).prefix(20_000)
        #expect(x.allSatisfy { $0 >= 0 && $0 <= 1 && $0.isFinite }, "\(kind) Beta(\(a), \(b))")
      }
    }
  }

  /// The vector math the SIMD sampler is built on, against libm over wide ranges.
  @Test func vectorMathAgainstLibm() {
    var rng = Xoshiro256(seed: 4)
    var worstLog = 0.0
    var worstExp = 0.0
    var worstTrig = 0.0
    for _ in 0..<4000 {
      var x = SIMD16<Float>()
      var y = SIMD16<Float>()
      var u = SIMD16<Float>()
      for i in 0..<16 {
        x[i] = Float(exp(rng.nextOpenUnit() * 160 - 80))  // 1.8e-35 ... 5.5e34
        y[i] = Float(rng.nextOpenUnit() * 170 - 85)
        u[i] = Float(rng.nextOpenUnit())
      }
      let l = VectorMath.log(FloatLanes(x)).simd
      let e = VectorMath.exp(FloatLanes(y)).simd
      let (cv, sv) = VectorMath.cosSin2Pi(FloatLanes(u))
      let (c, s) = (cv.simd, sv.simd)
      for i in 0..<16 {
        worstLog = max(
          worstLog,
          abs(Double(l[i]) - Foundation.log(Double(x[i]))) / max(1, abs(Foundation.log(Double(x[i])))))
        worstExp = max(worstExp, abs(Double(e[i]) / Foundation.exp(Double(y[i])) - 1))
        worstTrig = max(
          worstTrig, abs(Double(c[i]) - cos(2 * .pi * Double(u[i]))),
          abs(Double(s[i]) - sin(2 * .pi * Double(u[i]))))
      }
    }
    #expect(worstLog < 3e-7, "log relative error \(worstLog)")
    #expect(worstExp < 1e-6, "exp relative error \(worstExp)")
    #expect(worstTrig < 1e-6, "cos/sin absolute error \(worstTrig)")
  }
}
