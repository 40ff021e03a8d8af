/// Vectorised Beta sampling: 16 lanes at a time, each with its own shapes.
///
/// Beta(α, β) = X / (X + Y) with X, Y Marsaglia–Tsang gamma variates. The two normals of one
/// Box–Muller pair feed the X and Y proposals; rejected gammas are retried in later passes, packed
/// 16 to a vector (`fill`). Shapes below 1 are boosted
/// (Gamma(a) = Gamma(a + 1)·U^(1/a)) and that case is finished in log space,
/// beta = 1 / (1 + exp(log Y − log X)), so tiny shapes cannot underflow Float32; otherwise the
/// ratio is taken directly, on gammas scaled by 1/4 so huge shapes cannot overflow. Shapes must lie
/// in [1e-30, Float.greatestFiniteMagnitude] (the engine's `Shapes` bounds): below that, log U / α can
/// overflow to −∞ for both gammas and their difference is NaN.
///
/// The kernel is written on `FloatLanes`/`IntLanes` (Lanes.swift), which map each operation to one
/// LLVM vector instruction; `moppsd bench` guards the speed.
enum BetaKernel {
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
    dA: FloatLanes, cA: FloatLanes, dB: FloatLanes, cB: FloatLanes, using rng: inout LaneRNG
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
    using rng: inout LaneRNG
  ) -> FloatLanes {
    var logX = VectorMath.log(x)
    var logY = VectorMath.log(y)
    logX = logX.replacing(with: logX + VectorMath.log(rng.nextOpenUnit()) / alpha, where: boostA)
    logY = logY.replacing(with: logY + VectorMath.log(rng.nextOpenUnit()) / beta, where: boostB)
    return 1 / (1 + VectorMath.exp(logY - logX))
  }

  /// Fills `out[0..<count]` with Beta samples of the shapes `shapes` holds, tile by tile.
  ///
  /// Rejections are retried in later passes rather than in place: the first pass makes one proposal
  /// for every gamma of a tile and lists the rejected ones; each retry pass packs 16 listed X gammas
  /// and 16 listed Y gammas (from any positions) into one vector. Retrying in place would redo all 16
  /// lanes until the last one accepted: about 1.9 passes per vector at shape 1 (acceptance 0.95 per
  /// gamma, 32 gammas) against 1.05 so.
  @inline(__always)
  static func fill<Shapes: ShapeSource>(
    _ out: UnsafeMutablePointer<Float>, count: Int, _ shapes: Shapes, using rng: inout LaneRNG
  ) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * (tile + 16)) { v in
      withUnsafeTemporaryAllocation(of: Int32.self, capacity: 4 * tile) { lists in
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: tile / 8) { rejected in
          let scratch = TileScratch(
            vA: v.baseAddress!, vB: v.baseAddress! + tile + 16, lists: lists.baseAddress!,
            rejected: rejected.baseAddress!)
          var start = 0
          while start < count {
            let n = min(tile, count - start)
            sampleTile(out + start, shapes.advanced(by: start), n, scratch, using: &rng)
            start += n
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
    using rng: inout LaneRNG
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
      // vectors, which is where this loop's throughput comes from.
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
      // maximum then give X + Y ≤ Float.max / 2 instead of overflowing to inf, which would make
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
}
