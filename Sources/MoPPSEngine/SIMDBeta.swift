import Synchronization

/// Vectorised Beta sampling: 16 lanes at a time, each with its own shapes.
///
/// Beta(α, β) = X / (X + Y) with X, Y Marsaglia–Tsang gamma variates. The two normals of one
/// Box–Muller pair feed the X and Y proposals; rejected gammas are retried in later passes, packed
/// 16 to a vector (`fill`). Shapes below 1 are boosted
/// (Gamma(a) = Gamma(a + 1)·U^(1/a)) and that case is finished in log space,
/// beta = 1 / (1 + exp(log Y − log X)), so tiny shapes cannot underflow Float32; otherwise the
/// ratio is taken directly, on gammas scaled by 1/4 so huge shapes cannot overflow. Shapes must lie
/// in [`Shapes.minimum`, `Shapes.maximum`]: below the minimum, log U / α can overflow to −∞ for
/// both gammas and their difference is NaN.
///
/// The kernel is written on `FloatLanes`/`IntLanes` (Lanes.swift), which map each operation to one
/// LLVM vector instruction; `moppsd bench` guards the speed.
public struct VectorRNG: Sendable {
  var s0: IntLanes, s1: IntLanes, s2: IntLanes, s3: IntLanes

  /// A stream for (seed, stream, counter, chunk): distinct keys give unrelated streams.
  public init(seed: UInt64, stream: UInt64, counter: UInt64, chunk: UInt64 = 0) {
    var scalar = Xoshiro256(seed: seed, stream: stream, counter: counter)
    var mixer = SplitMix64(scalar.next() ^ (chunk &* 0xA076_1D64_78BD_642F))
    // Words go through a plain buffer, loaded as vectors once (setting SIMD lanes one at a time is a
    // chain of store-forwarding stalls).
    (s0, s1, s2, s3) = withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { words in
      for lane in 0..<16 {
        let a = mixer.next()
        let b = mixer.next()
        words[lane] = UInt32(truncatingIfNeeded: a)
        words[16 + lane] = UInt32(truncatingIfNeeded: a >> 32)
        words[32 + lane] = UInt32(truncatingIfNeeded: b)
        // A lane whose state is all zero would stay zero; SplitMix64 output makes that impossible in
        // practice, and this keeps it impossible in principle.
        words[48 + lane] = UInt32(truncatingIfNeeded: b >> 32) | 1
      }
      let raw = UnsafeRawPointer(words.baseAddress!)
      return (
        IntLanes(raw.loadUnaligned(as: SIMD16<UInt32>.self)),
        IntLanes(raw.loadUnaligned(fromByteOffset: 64, as: SIMD16<UInt32>.self)),
        IntLanes(raw.loadUnaligned(fromByteOffset: 128, as: SIMD16<UInt32>.self)),
        IntLanes(raw.loadUnaligned(fromByteOffset: 192, as: SIMD16<UInt32>.self))
      )
    }
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
  /// Positions are sampled in tiles of this many, so the tile's scratch (accepted v values and retry
  /// lists, 16 KiB) stays in L1.
  static let tile = 1024

  /// Marsaglia–Tsang's d = a − 1/3 (a boosted by one below 1) and c = 1/√(9d), per lane.
  @inline(__always)
  static func shapeConstants(_ shape: FloatLanes) -> (d: FloatLanes, c: FloatLanes, boost: LaneMask) {
    let boost = shape < 1
    let d = shape.replacing(with: shape + 1, where: boost) - FloatLanes(1.0 / 3)
    return (d, 1 / (9 * d).squareRoot(), boost)
  }

  /// One Marsaglia–Tsang proposal for each of 32 gammas (an X and a Y per lane): v = (1 + c·z)³ and
  /// whether it is accepted. The two normals of one Box–Muller pair feed the two proposals.
  @inline(__always)
  static func propose(
    dA: FloatLanes, cA: FloatLanes, dB: FloatLanes, cB: FloatLanes, using rng: inout VectorRNG
  ) -> (vA: FloatLanes, okA: LaneMask, vB: FloatLanes, okB: LaneMask) {
    let u1 = rng.nextOpenUnit()
    let u2 = rng.nextOpenUnit()
    let radius = (-2 * VectorMath.log(u1)).squareRoot()
    let (cosT, sinT) = VectorMath.cosSin2Pi(u2)
    let zA = radius * cosT
    let zB = radius * sinT
    let tA = FloatLanes.mulAdd(cA, zA, 1)
    let tB = FloatLanes.mulAdd(cB, zB, 1)
    // Lanes with t ≤ 0 are rejected below; the floor keeps their logs finite meanwhile (t³ itself
    // stays far below Float's range: |z| ≤ √(−2 log 2⁻²⁴) < 6 and c ≤ 1/√6).
    let floor = FloatLanes(1e-30)
    let cubeA = tA * tA * tA
    let cubeB = tB * tB * tB
    let vA = cubeA.replacing(with: floor, where: cubeA < floor)
    let vB = cubeB.replacing(with: floor, where: cubeB < floor)
    let luA = VectorMath.log(rng.nextOpenUnit())
    let luB = VectorMath.log(rng.nextOpenUnit())
    // Accept when log U < z²/2 + d·(1 − v + log v).
    let boundA = FloatLanes.mulAdd(0.5 * zA, zA, dA * (1 - vA + VectorMath.log(vA)))
    let boundB = FloatLanes.mulAdd(0.5 * zB, zB, dB * (1 - vB + VectorMath.log(vB)))
    return (vA, (tA > 0) & (luA < boundA), vB, (tB > 0) & (luB < boundB))
  }

  /// The end of a sample when some lane has a shape below 1: X·U^(1/α) can underflow Float32, so the
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

  /// Fills `out[i]` with a Beta(alpha[i], beta[i]) sample; every shape must be in
  /// [`Shapes.minimum`, `Shapes.maximum`].
  ///
  /// Rejections are retried in later passes rather than in place: the first pass makes one proposal
  /// for every gamma of a tile and lists the rejected ones; each retry pass packs 16 listed X gammas
  /// and 16 listed Y gammas (from any positions) into one vector. Retrying in place would redo all 16
  /// lanes until the last one accepted: about 1.9 passes per vector at shape 1 (acceptance 0.95 per
  /// gamma, 32 gammas) against 1.05 so.
  public static func fill(
    _ out: UnsafeMutableBufferPointer<Float>, alpha: UnsafeBufferPointer<Float>,
    beta: UnsafeBufferPointer<Float>, using rng: inout VectorRNG
  ) {
    precondition(alpha.count == out.count && beta.count == out.count)
    guard !out.isEmpty else { return }
    fill(out, SplitShapes(alpha: alpha.baseAddress!, beta: beta.baseAddress!), using: &rng)
  }

  /// `fill` over the posterior words of a segment, read as the sampler goes: the loads then overlap
  /// the sampling arithmetic instead of stalling a separate unpacking loop on memory (whole-pool
  /// selects stream every posterior of the pool).
  static func fill(
    _ out: UnsafeMutableBufferPointer<Float>, words: UnsafeBufferPointer<Atomic<UInt64>>,
    using rng: inout VectorRNG
  ) {
    precondition(words.count == out.count)
    guard !out.isEmpty else { return }
    fill(out, PackedShapes(words: words.baseAddress!), using: &rng)
  }

  @inline(__always)
  static func fill<Shapes: ShapeSource>(
    _ out: UnsafeMutableBufferPointer<Float>, _ shapes: Shapes, using rng: inout VectorRNG
  ) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * (tile + 16)) { v in
      withUnsafeTemporaryAllocation(of: Int32.self, capacity: 4 * tile) { lists in
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: tile / 8) { rejected in
          let scratch = TileScratch(
            vA: v.baseAddress!, vB: v.baseAddress! + tile + 16, lists: lists.baseAddress!,
            rejected: rejected.baseAddress!)
          var start = 0
          while start < out.count {
            let count = min(tile, out.count - start)
            sampleTile(out.baseAddress! + start, shapes.advanced(by: start), count, scratch, using: &rng)
            start += count
          }
        }
      }
    }
  }

  struct TileScratch {
    /// Accepted v of each position's X and Y gamma (`tile + 16` each: whole-vector stores).
    let vA: UnsafeMutablePointer<Float>
    let vB: UnsafeMutablePointer<Float>
    /// Four lists of `tile` positions: pending X, pending Y, and the next pass's two.
    let lists: UnsafeMutablePointer<Int32>
    /// Per vector of the first pass, the lanes whose X (first `tile / 16`) or Y gamma was rejected.
    let rejected: UnsafeMutablePointer<UInt16>
  }

  @inline(__always)
  static func sampleTile<Shapes: ShapeSource>(
    _ out: UnsafeMutablePointer<Float>, _ shapes: Shapes, _ count: Int, _ s: TileScratch,
    using rng: inout VectorRNG
  ) {
    var pendingA = s.lists
    var pendingB = s.lists + tile
    var nextA = s.lists + 2 * tile
    var nextB = s.lists + 3 * tile
    var nA = 0
    var nB = 0
    // Pass 1: one proposal per gamma, in place.
    var i = 0
    while i < count {
      let (a, b) = shapes.load(i, count)
      let (dA, cA, _) = shapeConstants(a)
      let (dB, cB, _) = shapeConstants(b)
      let p = propose(dA: dA, cA: cA, dB: dB, cB: cB, using: &rng)
      UnsafeMutableRawPointer(s.vA + i).storeBytes(of: p.vA.simd, as: SIMD16<Float>.self)
      UnsafeMutableRawPointer(s.vB + i).storeBytes(of: p.vB.simd, as: SIMD16<Float>.self)
      let live: UInt16 = count - i >= 16 ? 0xFFFF : UInt16((1 << (count - i)) - 1)
      // Only masks here: turning them into lists branches on the data, and a mispredicted branch
      // inside this loop throws away the overlap of the long dependency chains of neighbouring
      // vectors (measured at shape 1, 5 % rejections: 134 → 160 M samples/s).
      s.rejected[i >> 4] = ~p.okA.bits & live
      s.rejected[(i >> 4) + tile / 16] = ~p.okB.bits & live
      i += 16
    }
    for v in 0..<((count + 15) >> 4) {
      append(s.rejected[v], base: v << 4, to: pendingA, &nA)
      append(s.rejected[v + tile / 16], base: v << 4, to: pendingB, &nB)
    }
    // Retry passes over the listed gammas only.
    while nA > 0 || nB > 0 {
      var mA = 0
      var mB = 0
      var k = 0
      while k < max(nA, nB) {
        let (a, usedA) = shapes.gather(alpha: true, pendingA, k, nA)
        let (b, usedB) = shapes.gather(alpha: false, pendingB, k, nB)
        let (dA, cA, _) = shapeConstants(a)
        let (dB, cB, _) = shapeConstants(b)
        let p = propose(dA: dA, cA: cA, dB: dB, cB: cB, using: &rng)
        let (vA, vB) = (p.vA.simd, p.vB.simd)
        let (okA, okB) = (p.okA.bits, p.okB.bits)
        for l in 0..<usedA {
          let position = Int(pendingA[k + l])
          if okA & (1 << l) != 0 { s.vA[position] = vA[l] } else { nextA[mA] = Int32(position); mA += 1 }
        }
        for l in 0..<usedB {
          let position = Int(pendingB[k + l])
          if okB & (1 << l) != 0 { s.vB[position] = vB[l] } else { nextB[mB] = Int32(position); mB += 1 }
        }
        k += 16
      }
      swap(&pendingA, &nextA)
      swap(&pendingB, &nextB)
      (nA, nB) = (mA, mB)
    }
    // Last pass: the ratio of the gammas.
    i = 0
    while i < count {
      let (a, b) = shapes.load(i, count)
      let (dA, _, boostA) = shapeConstants(a)
      let (dB, _, boostB) = shapeConstants(b)
      // X = d·v and Y scaled by a common 1/4 (the ratio does not change): shapes up to Float's
      // maximum then give X + Y ≤ Float.max / 2 instead of overflowing to inf, which made
      // Beta(3e38, 3e38) sample 0. Shapes ≥ 2/3 keep d·v/4 far above the smallest normal float.
      let x = (dA * 0.25) * FloatLanes(UnsafeRawPointer(s.vA + i).loadUnaligned(as: SIMD16<Float>.self))
      let y = (dB * 0.25) * FloatLanes(UnsafeRawPointer(s.vB + i).loadUnaligned(as: SIMD16<Float>.self))
      let r =
        (boostA | boostB).any
        ? boosted(x: x, y: y, alpha: a, beta: b, boostA: boostA, boostB: boostB, using: &rng)
        : x / (x + y)
      if i + 16 <= count {
        UnsafeMutableRawPointer(out + i).storeBytes(of: r.simd, as: SIMD16<Float>.self)
      } else {
        let lanes = r.simd
        for j in i..<count { out[j] = lanes[j - i] }
      }
      i += 16
    }
  }

  /// Appends `base + l` for each set bit l of `mask` (rarely more than one or two).
  @inline(__always)
  static func append(_ mask: UInt16, base: Int, to list: UnsafeMutablePointer<Int32>, _ n: inout Int) {
    var m = mask
    while m != 0 {
      list[n] = Int32(base + m.trailingZeroBitCount)
      n += 1
      m &= m &- 1
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

/// Where `sampleTile` reads shapes: lanes of consecutive positions, or single positions for retries.
protocol ShapeSource {
  /// (α, β) of positions i..<i+16; lanes at or past `count` hold 1.
  func load(_ i: Int, _ count: Int) -> (alpha: FloatLanes, beta: FloatLanes)
  func shapes(at position: Int) -> (alpha: Float, beta: Float)
  func advanced(by n: Int) -> Self
}

extension ShapeSource {
  /// α (or β) of the positions `list[k...]` (at most 16) as lanes, and how many lanes are used; the
  /// rest hold 1.
  @inline(__always)
  func gather(alpha: Bool, _ list: UnsafeMutablePointer<Int32>, _ k: Int, _ n: Int) -> (FloatLanes, Int) {
    let used = max(0, min(16, n - k))
    // Lanes go through a plain buffer and one vector load: setting `SIMD16` lanes one by one makes
    // each a store and a reload of the whole vector, a chain of store-forwarding stalls (that made a
    // retry vector cost 3.4 first-pass vectors).
    return withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { buffer in
      for l in 0..<16 {
        if l < used {
          let p = shapes(at: Int(list[k + l]))
          buffer[l] = alpha ? p.alpha : p.beta
        } else {
          buffer[l] = 1
        }
      }
      return (FloatLanes(UnsafeRawPointer(buffer.baseAddress!).loadUnaligned(as: SIMD16<Float>.self)), used)
    }
  }
}

/// Shapes in two arrays.
struct SplitShapes: ShapeSource {
  let alpha: UnsafePointer<Float>
  let beta: UnsafePointer<Float>

  @inline(__always)
  func load(_ i: Int, _ count: Int) -> (alpha: FloatLanes, beta: FloatLanes) {
    if i + 16 <= count {
      return (
        FloatLanes(UnsafeRawPointer(alpha + i).loadUnaligned(as: SIMD16<Float>.self)),
        FloatLanes(UnsafeRawPointer(beta + i).loadUnaligned(as: SIMD16<Float>.self))
      )
    }
    var a = SIMD16<Float>(repeating: 1)
    var b = SIMD16<Float>(repeating: 1)
    for j in i..<count { (a[j - i], b[j - i]) = (alpha[j], beta[j]) }
    return (FloatLanes(a), FloatLanes(b))
  }

  @inline(__always) func shapes(at position: Int) -> (alpha: Float, beta: Float) {
    (alpha[position], beta[position])
  }

  @inline(__always) func advanced(by n: Int) -> Self { Self(alpha: alpha + n, beta: beta + n) }
}

/// Shapes as the prompt table keeps them: one atomic 64-bit word per posterior.
struct PackedShapes: ShapeSource {
  let words: UnsafePointer<Atomic<UInt64>>

  @inline(__always)
  func load(_ i: Int, _ count: Int) -> (alpha: FloatLanes, beta: FloatLanes) {
    // Each word is read with its own atomic load into a local buffer (a wide load of the shared words
    // would be a data race under the language's rules), then split in vector registers; lanes past
    // `count` get the pair (1, 1).
    withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 16) { buffer in
      let one = PromptTable.pack(1, 1)
      let n = min(16, count - i)
      for l in 0..<16 {
        // Relaxed: each word is self-contained; the caller read the slot count that published it.
        buffer[l] = l < n ? words[i + l].load(ordering: .relaxed) : one
      }
      return unpackPairs(UnsafeRawPointer(buffer.baseAddress!))
    }
  }

  @inline(__always) func shapes(at position: Int) -> (alpha: Float, beta: Float) {
    // Relaxed: each word is self-contained; the caller read the slot count that published it.
    PromptTable.unpack(words[position].load(ordering: .relaxed))
  }

  @inline(__always) func advanced(by n: Int) -> Self { Self(words: words + n) }
}
