import Foundation
import Testing

@testable import MoPPSEngine

@Suite struct BetaSamplerTests {
  static let n = 200_000

  func draw(_ a: Double, _ b: Double, seed: UInt64) -> [Double] {
    var rng = Xoshiro256(seed: seed)
    return (0..<Self.n).map { _ in Double(BetaSampler.sample(alpha: a, beta: b, using: &rng)) }
  }

  /// Mean and variance within 5 standard errors of the exact moments (fixed seeds, so this is a
  /// regression check; 5 σ keeps a correct sampler from ever failing by chance on a new seed).
  @Test(arguments: [
    (0.05, 0.05), (0.3, 0.7), (0.5, 0.5), (1.0, 1.0), (2.0, 5.0), (30.0, 40.0), (8.0, 1000.0), (1000.0, 50.0),
  ])
  func moments(a: Double, b: Double) {
    let x = draw(a, b, seed: 17)
    let mean = x.reduce(0, +) / Double(x.count)
    let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(x.count - 1)
    let m = a / (a + b)
    let v = a * b / ((a + b) * (a + b) * (a + b + 1))
    #expect(abs(mean - m) < 5 * (v / Double(Self.n)).squareRoot(), "mean \(mean) vs \(m)")
    // The variance of the sample variance is at most E[(X-m)^4] ≤ v (X in [0, 1]) over n.
    #expect(abs(variance - v) < 5 * (v / Double(Self.n)).squareRoot(), "variance \(variance) vs \(v)")
  }

  /// Kolmogorov–Smirnov against exact CDFs where Beta has one in closed form: Beta(a, 1) has
  /// F(x) = x^a and Beta(1, b) has F(x) = 1 − (1 − x)^b. Covers the boosted (shape < 1) branch.
  /// Threshold 1.95/√n is the 0.001 critical value of the KS statistic.
  @Test(arguments: [(0.3, 1.0), (0.5, 1.0), (1.0, 1.0), (3.0, 1.0), (1.0, 0.7), (1.0, 4.0), (1.0, 50.0)])
  func kolmogorovSmirnov(a: Double, b: Double) {
    let x = draw(a, b, seed: 23).sorted()
    let cdf: (Double) -> Double = b == 1 ? { pow($0, a) } : { 1 - pow(1 - $0, b) }
    var d = 0.0
    for (i, v) in x.enumerated() {
      let f = cdf(v)
      d = max(d, abs(f - Double(i) / Double(x.count)), abs(Double(i + 1) / Double(x.count) - f))
    }
    #expect(d < 1.95 / Double(x.count).squareRoot(), "KS D = \(d) for Beta(\(a), \(b))")
  }

  @Test func samplesStayInTheUnitInterval() {
    for (a, b) in [(0.01, 0.01), (1e-3, 5.0), (5.0, 1e-3), (1e5, 1e5)] {
      let x = draw(a, b, seed: 1).prefix(20_000)
      #expect(x.allSatisfy { $0 >= 0 && $0 <= 1 && $0.isFinite }, "Beta(\(a), \(b))")
    }
  }
}
