// Vector versions of the elementary functions the Beta sampler needs: Swift has no SIMD log, exp or
// sin/cos, and libm's are scalar, so a call per lane would undo the vectorisation.

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
