import Foundation
import Testing

@testable import MoPPSEngine

/// Every sampler: the scalar Double one (reference) and each compiled variant of the SIMD Float32
/// one that this CPU runs (`Kernel.supported`).
@Suite struct BetaSamplerTests {
  static let n = 200_000

  enum Kind: CustomStringConvertible {
    case scalar
    case vector(Kernel)

    static var allCases: [Kind] { [.scalar] + Kernel.supported.map { .vector($0) } }
    var description: String {
      switch self {
      case .scalar: return "scalar"
      case .vector(let k): return "vector (\(k))"
      }
    }
  }

  func draw(_ a: Double, _ b: Double, seed: UInt64, kind: Kind) throws -> [Double] {
    switch kind {
    case .scalar:
      var rng = Xoshiro256(seed: seed)
      return (0..<Self.n).map { _ in Double(BetaSampler.sample(alpha: a, beta: b, using: &rng)) }
    case .vector(let kernel):
      var rng = VectorRNG(seed: seed, stream: 0, counter: 0)
      let s = try BetaSampler.samples(
        alpha: [Float](repeating: Float(a), count: Self.n), beta: [Float](repeating: Float(b), count: Self.n),
        using: &rng, kernel: kernel)
      return s.map(Double.init)
    }
  }

  /// Mean and variance within 5 standard errors of the exact moments (fixed seeds, so this is a
  /// regression check; 5 σ keeps a correct sampler from ever failing by chance on a new seed).
  @Test(arguments: [
    (0.05, 0.05), (0.3, 0.7), (0.5, 0.5), (1.0, 1.0), (2.0, 5.0), (30.0, 40.0), (8.0, 1000.0), (1000.0, 50.0),
  ])
  func moments(a: Double, b: Double) throws {
    for kind in Kind.allCases { try momentsCheck(a, b, kind) }
  }

  func momentsCheck(_ a: Double, _ b: Double, _ kind: Kind) throws {
    let x = try draw(a, b, seed: 17, kind: kind)
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
  func kolmogorovSmirnov(a: Double, b: Double) throws {
    for kind in Kind.allCases { try ksCheck(a, b, kind) }
  }

  func ksCheck(_ a: Double, _ b: Double, _ kind: Kind) throws {
    let x = try draw(a, b, seed: 23, kind: kind).sorted()
    let cdf: (Double) -> Double = b == 1 ? { pow($0, a) } : { 1 - pow(1 - $0, b) }
    var d = 0.0
    for (i, v) in x.enumerated() {
      let f = cdf(v)
      d = max(d, abs(f - Double(i) / Double(x.count)), abs(Double(i + 1) / Double(x.count) - f))
    }
    #expect(d < 1.95 / Double(x.count).squareRoot(), "\(kind) KS D = \(d) for Beta(\(a), \(b))")
  }

  @Test func samplesStayInTheUnitInterval() throws {
    for kind in Kind.allCases {
      for (a, b) in [(0.01, 0.01), (1e-3, 5.0), (5.0, 1e-3), (1e5, 1e5), (1e7, 1.0)] {
        let x = try draw(a, b, seed: 1, kind: kind).prefix(20_000)
        #expect(x.allSatisfy { $0 >= 0 && $0 <= 1 && $0.isFinite }, "\(kind) Beta(\(a), \(b))")
      }
    }
  }

  /// The kernels read the generator state as 4 × 16 words in field order (`LaneRNG(loading:)`).
  @Test func vectorRNGStateIsLaidOutAsTheKernelsReadIt() {
    #expect(MemoryLayout<VectorRNG>.size == 256)
    #expect(MemoryLayout<VectorRNG>.offset(of: \VectorRNG.s0) == 0)
    #expect(MemoryLayout<VectorRNG>.offset(of: \VectorRNG.s1) == 64)
    #expect(MemoryLayout<VectorRNG>.offset(of: \VectorRNG.s2) == 128)
    #expect(MemoryLayout<VectorRNG>.offset(of: \VectorRNG.s3) == 192)
  }

  /// The vector math the SIMD sampler is built on, in every compiled variant, against libm over
  /// wide ranges.
  @Test(arguments: Kernel.supported)
  func vectorMathAgainstLibm(kernel: Kernel) {
    var rng = Xoshiro256(seed: 4)
    let n = 4000 * 16
    var x = [Float](repeating: 0, count: n)
    var y = x
    var u = x
    for i in 0..<n {
      x[i] = Float(exp(rng.nextOpenUnit() * 160 - 80))  // 1.8e-35 ... 5.5e34
      y[i] = Float(rng.nextOpenUnit() * 170 - 85)
      u[i] = Float(rng.nextOpenUnit())
    }
    let (l, e, c, s) = kernel.elementary(x, y, u)
    var worstLog = 0.0
    var worstExp = 0.0
    var worstTrig = 0.0
    for i in 0..<n {
      worstLog = max(
        worstLog,
        abs(Double(l[i]) - Foundation.log(Double(x[i]))) / max(1, abs(Foundation.log(Double(x[i])))))
      worstExp = max(worstExp, abs(Double(e[i]) / Foundation.exp(Double(y[i])) - 1))
      worstTrig = max(
        worstTrig, abs(Double(c[i]) - cos(2 * .pi * Double(u[i]))),
        abs(Double(s[i]) - sin(2 * .pi * Double(u[i]))))
    }
    #expect(worstLog < 3e-7, "\(kernel) log relative error \(worstLog)")
    #expect(worstExp < 1e-6, "\(kernel) exp relative error \(worstExp)")
    #expect(worstTrig < 1e-6, "\(kernel) cos/sin absolute error \(worstTrig)")
  }
}
