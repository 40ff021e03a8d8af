/// Vectorised Beta sampling: 16 lanes at a time, each with its own shapes.
///
/// Beta(α, β) = X / (X + Y) with X, Y Marsaglia–Tsang gamma variates; shapes below 1 are boosted
/// (Gamma(a) = Gamma(a + 1)·U^(1/a)), and everything is combined in log space,
/// beta = 1 / (1 + exp(log Y − log X)), so tiny shapes cannot underflow Float32.
/// The two normals of one Box–Muller pair feed the X and Y proposals. Lanes that reject retry
/// under a mask until every lane has accepted (about 1.04 passes on average).
///
/// Swift's SIMD types are written as per-lane loops; LLVM's SLP vectoriser turns these small,
/// concrete, always-inlined kernels into vector code. That needs the release flags in the Makefile
/// (`-target-cpu`, `-fno-math-errno`); without them the code is the same, only slower. `moppsd bench`
/// guards the speed.
public typealias FloatLanes = SIMD16<Float>
typealias UIntLanes = SIMD16<UInt32>
typealias IntLanes = SIMD16<Int32>

/// xoshiro128+ in every lane (Blackman & Vigna): its upper 24 bits, all a Float uses, are of full
/// quality. Lanes are seeded independently from one 64-bit key through SplitMix64.
public struct VectorRNG: Sendable {
  var s0: UIntLanes, s1: UIntLanes, s2: UIntLanes, s3: UIntLanes

  /// A stream for (seed, stream, counter, chunk): distinct keys give unrelated streams.
  public init(seed: UInt64, stream: UInt64, counter: UInt64, chunk: UInt64 = 0) {
    var scalar = Xoshiro256(seed: seed, stream: stream, counter: counter)
    var mixer = SplitMix64(scalar.next() ^ (chunk &* 0xA076_1D64_78BD_642F))
    s0 = .zero
    s1 = .zero
    s2 = .zero
    s3 = .zero
    for lane in 0..<UIntLanes.scalarCount {
      let a = mixer.next()
      let b = mixer.next()
      s0[lane] = UInt32(truncatingIfNeeded: a)
      s1[lane] = UInt32(truncatingIfNeeded: a >> 32)
      s2[lane] = UInt32(truncatingIfNeeded: b)
      // A lane whose state is all zero would stay zero; SplitMix64 output makes that impossible in
      // practice, and this keeps it impossible in principle.
      s3[lane] = UInt32(truncatingIfNeeded: b >> 32) | 1
    }
  }

  @inline(__always)
  mutating func next() -> UIntLanes {
    let result = s0 &+ s3
    let t = s1 &<< 9
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 &<< 11) | (s3 &>> 21)
    return result
  }

  /// Uniform in the open interval (0, 1): the top 23 bits as the mantissa of a float in [1, 2),
  /// minus 1, shifted by half a cell. (The generic integer → float SIMD conversion is an outlined
  /// call per vector; the bit trick is three vector instructions.)
  @inline(__always)
  mutating func nextOpenUnit() -> FloatLanes {
    let oneToTwo = unsafeBitCast((next() &>> 9) | 0x3F80_0000, to: FloatLanes.self)
    return oneToTwo - (1 - 0x1p-24)
  }
}

enum VectorMath {
  static let ln2Hi: Float = 0.693_145_751_953_125
  static let ln2Lo: Float = 1.428_606_765_330_187e-06

  /// Round to the nearest integer (|x| < 2^22) by adding and subtracting 1.5·2^23, also returning
  /// the integer. Swift's generic SIMD rounding and conversions are outlined calls; this is not.
  @inline(__always)
  static func roundToInt(_ x: FloatLanes) -> (FloatLanes, IntLanes) {
    let shifted = x + 12_582_912
    let bits = unsafeBitCast(shifted, to: IntLanes.self) &- 0x4B40_0000
    return (shifted - 12_582_912, bits)
  }

  /// Small integers (|k| < 2^22) to float, by the same trick in reverse.
  @inline(__always)
  static func toFloat(_ k: IntLanes) -> FloatLanes {
    unsafeBitCast(k &+ 0x4B40_0000, to: FloatLanes.self) - 12_582_912
  }

  @inline(__always)
  static func clamp(_ x: FloatLanes, _ low: Float, _ high: Float) -> FloatLanes {
    let lo = FloatLanes(repeating: low)
    let hi = FloatLanes(repeating: high)
    return x.replacing(with: lo, where: x .< lo).replacing(with: hi, where: x .> hi)
  }

  /// One Horner step, p·x + c (spelled out so the type checker need not solve long expressions).
  @inline(__always)
  static func step(_ p: FloatLanes, _ x: FloatLanes, _ c: Float) -> FloatLanes {
    FloatLanes(repeating: c).addingProduct(p, x)
  }

  /// Natural log for positive normal inputs, about 1 ulp, branch- and division-free (Cephes logf's
  /// polynomial): x = m·2^k with m in [√½, √2), f = m − 1,
  /// log x = k·ln2 + f − f²/2 + f³·P(f).
  @inline(__always)
  static func log(_ x: FloatLanes) -> FloatLanes {
    let ix = unsafeBitCast(x, to: IntLanes.self)
    let k = (ix &- 0x3F35_04F3) &>> 23
    let m = unsafeBitCast(ix &- (k &<< 23), to: FloatLanes.self)
    let f = m - 1
    let f2 = f * f
    // P(f) = c0 + c1·f + … + c8·f^8 by Estrin's scheme: a dependency chain of 4 FMAs instead of
    // Horner's 8, which is what bounds this latency-bound kernel.
    let f4 = f2 * f2
    let p01 = step(FloatLanes(repeating: -2.499_999_399_3e-1), f, 3.333_333_117_4e-1)
    let p23 = step(FloatLanes(repeating: -1.666_805_766_5e-1), f, 2.000_071_476_5e-1)
    let p45 = step(FloatLanes(repeating: -1.242_014_084_6e-1), f, 1.424_932_278_7e-1)
    let p67 = step(FloatLanes(repeating: -1.151_461_031_0e-1), f, 1.167_699_874_0e-1)
    let low = p01.addingProduct(p23, f2)
    let high = p45.addingProduct(p67, f2)
    let p = low.addingProduct(high.addingProduct(f4, FloatLanes(repeating: 7.037_683_629_2e-2)), f4)
    let kf = toFloat(k)
    let tail: FloatLanes = p * f * f2 - 0.5 * f2 + kf * ln2Lo
    return kf * ln2Hi + (f + tail)
  }

  /// e^x, inputs clamped to [−87, 88] (results stay normal): x = n·ln2 + r, |r| ≤ ln2/2, Taylor to r^7.
  @inline(__always)
  static func exp(_ x: FloatLanes) -> FloatLanes {
    let xc = clamp(x, -87, 88)
    let (n, ni) = roundToInt(xc * 1.442_695_040_888_963_4)
    let r = xc - n * ln2Hi - n * ln2Lo
    let r2 = r * r
    let r4 = r2 * r2
    let p01 = step(FloatLanes(repeating: 1), r, 1)
    let p23 = step(FloatLanes(repeating: 1.0 / 6), r, 0.5)
    let p45 = step(FloatLanes(repeating: 1.0 / 120), r, 1.0 / 24)
    let p67 = step(FloatLanes(repeating: 1.0 / 5040), r, 1.0 / 720)
    let p = p01.addingProduct(p23, r2).addingProduct(p45.addingProduct(p67, r2), r4)
    let scale = unsafeBitCast((ni &+ 127) &<< 23, to: FloatLanes.self)
    return p * scale
  }

  /// (cos 2πu, sin 2πu) for u in (0, 1): reduce to w = u − q/4 with |w| ≤ 1/8 (angle ≤ π/4), evaluate
  /// Taylor series to degree 10/9 (error < 1e-8), then rotate by the quadrant q.
  @inline(__always)
  static func cosSin2Pi(_ u: FloatLanes) -> (cos: FloatLanes, sin: FloatLanes) {
    let (q, qi) = roundToInt(u * 4)
    let a = (u - q * 0.25) * (2 * Float.pi)
    let a2 = a * a
    // Taylor coefficients in a² (cos: (−1)^k/(2k)!, sin: (−1)^k/(2k+1)!).
    let a4 = a2 * a2
    // Estrin's scheme again: short dependency chains.
    let c01 = step(FloatLanes(repeating: -0.5), a2, 1)
    let c23 = step(FloatLanes(repeating: -1.0 / 720), a2, 1.0 / 24)
    let c45 = step(FloatLanes(repeating: -1.0 / 3_628_800), a2, 1.0 / 40320)
    let c = c01.addingProduct(c23.addingProduct(c45, a4), a4)
    let s01 = step(FloatLanes(repeating: -1.0 / 6), a2, 1)
    let s23 = step(FloatLanes(repeating: -1.0 / 5040), a2, 1.0 / 120)
    let s = s01.addingProduct(s23.addingProduct(FloatLanes(repeating: 1.0 / 362_880), a4), a4) * a
    // Rotate by the quadrant with bit operations: integer SIMD comparisons become per-lane loops in
    // Swift, float ones do not, and these need neither.
    let odd = IntLanes.zero &- (qi & 1)  // all ones in odd quadrants: swap cos and sin
    let cBits = unsafeBitCast(c, to: IntLanes.self)
    let sBits = unsafeBitCast(s, to: IntLanes.self)
    let cosBase = (cBits & ~odd) | (sBits & odd)
    let sinBase = (sBits & ~odd) | (cBits & odd)
    // cos is negative in quadrants 1 and 2, sin in quadrants 2 and 3: flip the sign bit.
    let cosSign = ((qi &+ 1) & 2) &<< 30
    let sinSign = (qi & 2) &<< 30
    return (
      unsafeBitCast(cosBase ^ cosSign, to: FloatLanes.self),
      unsafeBitCast(sinBase ^ sinSign, to: FloatLanes.self)
    )
  }
}

extension BetaSampler {
  /// One vector of Beta(alpha, beta) samples; every lane's shapes must be positive and finite.
  @inline(__always)
  static func sample(alpha: FloatLanes, beta: FloatLanes, using rng: inout VectorRNG) -> FloatLanes {
    let boostA = alpha .< 1
    let boostB = beta .< 1
    let dA = alpha.replacing(with: alpha + 1, where: boostA) - 1.0 / 3
    let dB = beta.replacing(with: beta + 1, where: boostB) - 1.0 / 3
    let cA = 1 / (9 * dA).squareRoot()
    let cB = 1 / (9 * dB).squareRoot()
    var logVA = FloatLanes.zero
    var logVB = FloatLanes.zero
    var doneA = SIMDMask<IntLanes>(repeating: false)
    var doneB = SIMDMask<IntLanes>(repeating: false)
    repeat {
      let u1 = rng.nextOpenUnit()
      let u2 = rng.nextOpenUnit()
      let radius = (-2 * VectorMath.log(u1)).squareRoot()
      let (cosT, sinT) = VectorMath.cosSin2Pi(u2)
      let zA = radius * cosT
      let zB = radius * sinT
      let tA = 1 + cA * zA
      let tB = 1 + cB * zB
      // Lanes with t ≤ 0 are rejected below; clamping keeps their logs finite meanwhile.
      let vA = VectorMath.clamp(tA * tA * tA, 1e-30, .greatestFiniteMagnitude)
      let vB = VectorMath.clamp(tB * tB * tB, 1e-30, .greatestFiniteMagnitude)
      let lvA = VectorMath.log(vA)
      let lvB = VectorMath.log(vB)
      let luA = VectorMath.log(rng.nextOpenUnit())
      let luB = VectorMath.log(rng.nextOpenUnit())
      let boundA: FloatLanes = 0.5 * zA * zA + dA * (1 - vA + lvA)
      let boundB: FloatLanes = 0.5 * zB * zB + dB * (1 - vB + lvB)
      let okA = (tA .> 0) .& (luA .< boundA) .& .!doneA
      let okB = (tB .> 0) .& (luB .< boundB) .& .!doneB
      logVA.replace(with: lvA, where: okA)
      logVB.replace(with: lvB, where: okB)
      doneA = doneA .| okA
      doneB = doneB .| okB
    } while !all(doneA .& doneB)
    var logX = VectorMath.log(dA) + logVA
    var logY = VectorMath.log(dB) + logVB
    if any(boostA .| boostB) {
      logX.replace(with: logX + VectorMath.log(rng.nextOpenUnit()) / alpha, where: boostA)
      logY.replace(with: logY + VectorMath.log(rng.nextOpenUnit()) / beta, where: boostB)
    }
    return 1 / (1 + VectorMath.exp(logY - logX))
  }

  /// Fills `out[i]` with a Beta(alpha[i], beta[i]) sample, 16 lanes at a time (the tail is padded
  /// with Beta(1, 1) lanes that are computed and dropped).
  public static func fill(
    _ out: UnsafeMutableBufferPointer<Float>, alpha: UnsafeBufferPointer<Float>,
    beta: UnsafeBufferPointer<Float>, using rng: inout VectorRNG
  ) {
    precondition(alpha.count == out.count && beta.count == out.count)
    let width = FloatLanes.scalarCount
    let n = out.count
    var i = 0
    while i + width <= n {
      let a = UnsafeRawPointer(alpha.baseAddress! + i).loadUnaligned(as: FloatLanes.self)
      let b = UnsafeRawPointer(beta.baseAddress! + i).loadUnaligned(as: FloatLanes.self)
      UnsafeMutableRawPointer(out.baseAddress! + i).storeBytes(
        of: sample(alpha: a, beta: b, using: &rng), as: FloatLanes.self)
      i += width
    }
    if i < n {
      var a = FloatLanes(repeating: 1)
      var b = FloatLanes(repeating: 1)
      for j in i..<n {
        a[j - i] = alpha[j]
        b[j - i] = beta[j]
      }
      let s = sample(alpha: a, beta: b, using: &rng)
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
