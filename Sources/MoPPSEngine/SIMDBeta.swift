/// Vectorised Beta sampling: 16 lanes at a time, each with its own shapes.
///
/// Beta(α, β) = X / (X + Y) with X, Y Marsaglia–Tsang gamma variates. The two normals of one
/// Box–Muller pair feed the X and Y proposals; lanes that reject retry under a mask until every
/// lane has accepted (about 1.04 passes on average for shapes ≥ 1). Shapes below 1 are boosted
/// (Gamma(a) = Gamma(a + 1)·U^(1/a)) and that case is finished in log space,
/// beta = 1 / (1 + exp(log Y − log X)), so tiny shapes cannot underflow Float32; otherwise the
/// ratio is taken directly.
///
/// The kernel is written on `FloatLanes`/`IntLanes` (Lanes.swift), which map each operation to one
/// LLVM vector instruction; `moppsd bench` guards the speed.
public struct VectorRNG: Sendable {
  var s0: IntLanes, s1: IntLanes, s2: IntLanes, s3: IntLanes

  /// A stream for (seed, stream, counter, chunk): distinct keys give unrelated streams.
  public init(seed: UInt64, stream: UInt64, counter: UInt64, chunk: UInt64 = 0) {
    var scalar = Xoshiro256(seed: seed, stream: stream, counter: counter)
    var mixer = SplitMix64(scalar.next() ^ (chunk &* 0xA076_1D64_78BD_642F))
    var lanes = (SIMD16<UInt32>(), SIMD16<UInt32>(), SIMD16<UInt32>(), SIMD16<UInt32>())
    for lane in 0..<16 {
      let a = mixer.next()
      let b = mixer.next()
      lanes.0[lane] = UInt32(truncatingIfNeeded: a)
      lanes.1[lane] = UInt32(truncatingIfNeeded: a >> 32)
      lanes.2[lane] = UInt32(truncatingIfNeeded: b)
      // A lane whose state is all zero would stay zero; SplitMix64 output makes that impossible in
      // practice, and this keeps it impossible in principle.
      lanes.3[lane] = UInt32(truncatingIfNeeded: b >> 32) | 1
    }
    (s0, s1, s2, s3) = (IntLanes(lanes.0), IntLanes(lanes.1), IntLanes(lanes.2), IntLanes(lanes.3))
  }

  @inline(__always)
  mutating func next() -> IntLanes {
    let result = s0 &+ s3
    let t = s1.shiftedLeft(9)
    s2 = s2 ^ s0
    s3 = s3 ^ s1
    s1 = s1 ^ s2
    s0 = s0 ^ s3
    s2 = s2 ^ t
    s3 = s3.rotatedLeft(11)
    return result
  }

  /// Uniform in the open interval (0, 1): the top 23 bits as the mantissa of a float in [1, 2),
  /// minus 1, shifted by half a cell: three vector instructions, no integer conversion.
  @inline(__always)
  mutating func nextOpenUnit() -> FloatLanes {
    (next().shiftedRightLogical(9) | IntLanes(0x3F80_0000)).asFloat - FloatLanes(1 - 0x1p-24)
  }
}

enum VectorMath {
  static let ln2Hi: Float = 0.693_145_751_953_125
  static let ln2Lo: Float = 1.428_606_765_330_187e-06
  /// 1.5·2^23: adding it rounds a float with |x| < 2^22 to an integer held in the low mantissa bits.
  static let roundingShift: Float = 12_582_912
  static let roundingShiftBits: Int32 = 0x4B40_0000

  /// Round to the nearest integer (|x| < 2^22), returning it as a float and as an integer, by adding
  /// and subtracting 1.5·2^23 (no float ↔ integer conversion instructions needed).
  @inline(__always)
  static func roundToInt(_ x: FloatLanes) -> (FloatLanes, IntLanes) {
    let shifted = x + FloatLanes(roundingShift)
    return (shifted - FloatLanes(roundingShift), shifted.bits &- IntLanes(roundingShiftBits))
  }

  /// Small integers (|k| < 2^22) to float, by the same trick in reverse.
  @inline(__always)
  static func toFloat(_ k: IntLanes) -> FloatLanes {
    (k &+ IntLanes(roundingShiftBits)).asFloat - FloatLanes(roundingShift)
  }

  @inline(__always)
  static func clamp(_ x: FloatLanes, _ low: Float, _ high: Float) -> FloatLanes {
    let lo = FloatLanes(low)
    let hi = FloatLanes(high)
    return x.replacing(with: lo, where: x < lo).replacing(with: hi, where: x > hi)
  }

  /// Natural log for positive normal inputs, about 1 ulp, branch- and division-free (Cephes logf's
  /// polynomial): x = m·2^k with m in [√½, √2), f = m − 1,
  /// log x = k·ln2 + f − f²/2 + f³·P(f).
  @inline(__always)
  static func log(_ x: FloatLanes) -> FloatLanes {
    let ix = x.bits
    let k = (ix &- IntLanes(0x3F35_04F3)).shiftedRightArithmetic(23)
    let f = (ix &- k.shiftedLeft(23)).asFloat - 1
    let f2 = f * f
    // P(f) = c0 + c1·f + … + c8·f^8 by Estrin's scheme: a dependency chain of 4 multiply-adds
    // instead of Horner's 8, which is what bounds this latency-bound kernel.
    let f4 = f2 * f2
    let p01 = FloatLanes.mulAdd(f, -2.499_999_399_3e-1, 3.333_333_117_4e-1)
    let p23 = FloatLanes.mulAdd(f, -1.666_805_766_5e-1, 2.000_071_476_5e-1)
    let p45 = FloatLanes.mulAdd(f, -1.242_014_084_6e-1, 1.424_932_278_7e-1)
    let p67 = FloatLanes.mulAdd(f, -1.151_461_031_0e-1, 1.167_699_874_0e-1)
    let low = FloatLanes.mulAdd(p23, f2, p01)
    let high = FloatLanes.mulAdd(p67, f2, p45)
    let p = FloatLanes.mulAdd(FloatLanes.mulAdd(f4, 7.037_683_629_2e-2, high), f4, low)
    let kf = toFloat(k)
    let tail = FloatLanes.mulAdd(p * f, f2, FloatLanes.mulAdd(kf, FloatLanes(ln2Lo), -0.5 * f2))
    return FloatLanes.mulAdd(kf, FloatLanes(ln2Hi), f + tail)
  }

  /// e^x, inputs clamped to [−87, 88] (results stay normal): x = n·ln2 + r, |r| ≤ ln2/2, Taylor to r^7.
  @inline(__always)
  static func exp(_ x: FloatLanes) -> FloatLanes {
    let xc = clamp(x, -87, 88)
    let (n, ni) = roundToInt(xc * 1.442_695_040_888_963_4)
    let r = FloatLanes.mulAdd(n, FloatLanes(-ln2Lo), FloatLanes.mulAdd(n, FloatLanes(-ln2Hi), xc))
    let r2 = r * r
    let r4 = r2 * r2
    let p01 = FloatLanes.mulAdd(r, 1, 1)
    let p23 = FloatLanes.mulAdd(r, FloatLanes(1.0 / 6), 0.5)
    let p45 = FloatLanes.mulAdd(r, FloatLanes(1.0 / 120), FloatLanes(1.0 / 24))
    let p67 = FloatLanes.mulAdd(r, FloatLanes(1.0 / 5040), FloatLanes(1.0 / 720))
    let p = FloatLanes.mulAdd(FloatLanes.mulAdd(p67, r2, p45), r4, FloatLanes.mulAdd(p23, r2, p01))
    return p * (ni &+ IntLanes(127)).shiftedLeft(23).asFloat
  }

  /// (cos 2πu, sin 2πu) for u in (0, 1): reduce to w = u − q/4 with |w| ≤ 1/8 (angle ≤ π/4), evaluate
  /// Taylor series to degree 10/9 (error < 1e-8), then rotate by the quadrant q.
  @inline(__always)
  static func cosSin2Pi(_ u: FloatLanes) -> (cos: FloatLanes, sin: FloatLanes) {
    let (q, qi) = roundToInt(u * 4)
    let a = FloatLanes.mulAdd(q, -0.25, u) * FloatLanes(2 * Float.pi)
    let a2 = a * a
    let a4 = a2 * a2
    // Taylor coefficients in a² (cos: (−1)^k/(2k)!, sin: (−1)^k/(2k+1)!), by Estrin's scheme.
    let c01 = FloatLanes.mulAdd(a2, -0.5, 1)
    let c23 = FloatLanes.mulAdd(a2, FloatLanes(-1.0 / 720), FloatLanes(1.0 / 24))
    let c45 = FloatLanes.mulAdd(a2, FloatLanes(-1.0 / 3_628_800), FloatLanes(1.0 / 40320))
    let c = FloatLanes.mulAdd(FloatLanes.mulAdd(c45, a4, c23), a4, c01)
    let s01 = FloatLanes.mulAdd(a2, FloatLanes(-1.0 / 6), 1)
    let s23 = FloatLanes.mulAdd(a2, FloatLanes(-1.0 / 5040), FloatLanes(1.0 / 120))
    let s = FloatLanes.mulAdd(FloatLanes.mulAdd(a4, FloatLanes(1.0 / 362_880), s23), a4, s01) * a
    // Rotate by the quadrant with bit operations.
    let odd = IntLanes(0) &- (qi & IntLanes(1))  // all ones in odd quadrants: swap cos and sin
    let cosBase = (c.bits & ~odd) | (s.bits & odd)
    let sinBase = (s.bits & ~odd) | (c.bits & odd)
    // cos is negative in quadrants 1 and 2, sin in quadrants 2 and 3: flip the sign bit.
    let cosSign = ((qi &+ IntLanes(1)) & IntLanes(2)).shiftedLeft(30)
    let sinSign = (qi & IntLanes(2)).shiftedLeft(30)
    return ((cosBase ^ cosSign).asFloat, (sinBase ^ sinSign).asFloat)
  }
}

extension BetaSampler {
  /// One vector of Beta(alpha, beta) samples; every lane's shapes must be positive and finite.
  @inline(__always)
  static func sample(alpha: FloatLanes, beta: FloatLanes, using rng: inout VectorRNG) -> FloatLanes {
    let boostA = alpha < 1
    let boostB = beta < 1
    let third = FloatLanes(1.0 / 3)
    let dA = alpha.replacing(with: alpha + 1, where: boostA) - third
    let dB = beta.replacing(with: beta + 1, where: boostB) - third
    let cA = 1 / (9 * dA).squareRoot()
    let cB = 1 / (9 * dB).squareRoot()
    var vAccepted: (FloatLanes, FloatLanes) = (1, 1)
    var doneA = LaneMask.none
    var doneB = LaneMask.none
    repeat {
      let u1 = rng.nextOpenUnit()
      let u2 = rng.nextOpenUnit()
      let radius = (-2 * VectorMath.log(u1)).squareRoot()
      let (cosT, sinT) = VectorMath.cosSin2Pi(u2)
      let zA = radius * cosT
      let zB = radius * sinT
      let tA = FloatLanes.mulAdd(cA, zA, 1)
      let tB = FloatLanes.mulAdd(cB, zB, 1)
      // Lanes with t ≤ 0 are rejected below; the floor keeps their logs finite meanwhile.
      let vA = VectorMath.clamp(tA * tA * tA, 1e-30, .greatestFiniteMagnitude)
      let vB = VectorMath.clamp(tB * tB * tB, 1e-30, .greatestFiniteMagnitude)
      let luA = VectorMath.log(rng.nextOpenUnit())
      let luB = VectorMath.log(rng.nextOpenUnit())
      // Accept when log U < z²/2 + d·(1 − v + log v).
      let boundA = FloatLanes.mulAdd(0.5 * zA, zA, dA * (1 - vA + VectorMath.log(vA)))
      let boundB = FloatLanes.mulAdd(0.5 * zB, zB, dB * (1 - vB + VectorMath.log(vB)))
      let okA = (tA > 0) & (luA < boundA) & !doneA
      let okB = (tB > 0) & (luB < boundB) & !doneB
      vAccepted.0 = vAccepted.0.replacing(with: vA, where: okA)
      vAccepted.1 = vAccepted.1.replacing(with: vB, where: okB)
      doneA = doneA | okA
      doneB = doneB | okB
    } while !(doneA & doneB).all
    let x = dA * vAccepted.0
    let y = dB * vAccepted.1
    if (boostA | boostB).any {
      return boosted(x: x, y: y, alpha: alpha, beta: beta, boostA: boostA, boostB: boostB, using: &rng)
    }
    return x / (x + y)
  }

  /// The end of `sample` when some lane has a shape below 1: X·U^(1/α) can underflow Float32, so the
  /// ratio is formed in log space. Kept out of line so the common path stays small.
  @inline(never)
  static func boosted(
    x: FloatLanes, y: FloatLanes, alpha: FloatLanes, beta: FloatLanes, boostA: LaneMask, boostB: LaneMask,
    using rng: inout VectorRNG
  ) -> FloatLanes {
    var logX = VectorMath.log(x)
    var logY = VectorMath.log(y)
    logX = logX.replacing(with: logX + VectorMath.log(rng.nextOpenUnit()) / alpha, where: boostA)
    logY = logY.replacing(with: logY + VectorMath.log(rng.nextOpenUnit()) / beta, where: boostB)
    return 1 / (1 + VectorMath.exp(logY - logX))
  }

  /// Fills `out[i]` with a Beta(alpha[i], beta[i]) sample, 16 lanes at a time (the tail is padded
  /// with Beta(1, 1) lanes that are computed and dropped).
  public static func fill(
    _ out: UnsafeMutableBufferPointer<Float>, alpha: UnsafeBufferPointer<Float>,
    beta: UnsafeBufferPointer<Float>, using rng: inout VectorRNG
  ) {
    precondition(alpha.count == out.count && beta.count == out.count)
    let n = out.count
    var i = 0
    while i + 16 <= n {
      let a = UnsafeRawPointer(alpha.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self)
      let b = UnsafeRawPointer(beta.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self)
      let s = sample(alpha: FloatLanes(a), beta: FloatLanes(b), using: &rng)
      UnsafeMutableRawPointer(out.baseAddress! + i).storeBytes(of: s.simd, as: SIMD16<Float>.self)
      i += 16
    }
    if i < n {
      var a = SIMD16<Float>(repeating: 1)
      var b = SIMD16<Float>(repeating: 1)
      for j in i..<n {
        a[j - i] = alpha[j]
        b[j - i] = beta[j]
      }
      let s = sample(alpha: FloatLanes(a), beta: FloatLanes(b), using: &rng).simd
      for j in i..<n { out[j] = s[j - i] }
    }
  }

  /// Convenience for arrays.
  public static func samples(alpha: [Float], beta: [Float], using rng: inout VectorRNG) -> [Float] {
    [Float](unsafeUninitializedCapacity: alpha.count) { out, initialized in
      alpha.withUnsafeBufferPointer { a in
        beta.withUnsafeBufferPointer { b in fill(out, alpha: a, beta: b, using: &rng) }
      }
      initialized = alpha.count
    }
  }
}
