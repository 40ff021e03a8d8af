import MoPPSKernelABI
import Synchronization

/// The entry points of the vectorised kernels: Beta sampling, the selection of the keys nearest a
/// target, and the per-segment filters of whole-pool selects.
///
/// This module's sources are compiled three times, once per instruction set (baseline x86-64,
/// AVX2 + FMA, AVX-512; `Package.swift`), into modules with the same API; the engine picks one at
/// run time from what the CPU supports. So the engine must reach these only through its kernel
/// table, never inline them: each entry point is `@inline(never)`, and everything it uses is
/// internal, so no code built for one instruction set runs under another's name.
public enum Kernels {
  /// Fills `out[0..<count]` with Beta(alpha[i], beta[i]) samples. `rng` is 256 bytes of generator
  /// state (16 lanes × 4 words), read at the start and written back at the end.
  @inline(never)
  public static func sampleBeta(
    into out: UnsafeMutablePointer<Float>, count: Int, alpha: UnsafePointer<Float>,
    beta: UnsafePointer<Float>, rng: UnsafeMutableRawPointer
  ) {
    sample(out, count, SplitShapes(alpha: alpha, beta: beta), rng)
  }

  /// The same from the prompt table's packed posterior words (α in the high half), read as the
  /// sampler goes, so the loads overlap the arithmetic.
  @inline(never)
  public static func sampleBeta(
    into out: UnsafeMutablePointer<Float>, count: Int, packed: UnsafePointer<Atomic<UInt64>>,
    rng: UnsafeMutableRawPointer
  ) {
    sample(out, count, PackedShapes(words: packed), rng)
  }

  /// The same from packed posterior words in plain memory (a select's gathered candidates), loaded
  /// 16 at a time and split in vector registers.
  @inline(never)
  public static func sampleBeta(
    into out: UnsafeMutablePointer<Float>, count: Int, words: UnsafePointer<UInt64>,
    rng: UnsafeMutableRawPointer
  ) {
    sample(out, count, WordShapes(words: words), rng)
  }

  @inline(__always)
  private static func sample<S: ShapeSource>(
    _ out: UnsafeMutablePointer<Float>, _ count: Int, _ shapes: S, _ rng: UnsafeMutableRawPointer
  ) {
    guard count > 0 else { return }
    var lanes = LaneRNG(loading: rng)
    BetaKernel.fill(out, count: count, shapes, using: &lanes)
    lanes.store(to: rng)
  }

  /// Positions of the k smallest keys, ordered by (key, position): the same set as a stable full
  /// sort's. Keys must be ≥ 0 and not NaN; k ≤ keys.count < 2³².
  @inline(never)
  public static func smallest(_ k: Int, of keys: UnsafeBufferPointer<Float>) -> [Int] {
    PartialSelection.smallest(k, of: keys)
  }

  /// Positions of the k samples nearest `target` (smallest (x − target)²), ordered by (distance,
  /// position).
  @inline(never)
  public static func nearest(_ k: Int, to target: Float, samples: UnsafeBufferPointer<Float>) -> [Int] {
    PartialSelection.nearest(k, to: target, samples: samples)
  }

  /// One segment of a whole-pool topk select: its k samples nearest `target` as (key, position +
  /// first), sorted by (key, position).
  @inline(never)
  public static func segmentNearest(
    _ k: Int, to target: Float, samples: UnsafeBufferPointer<Float>, first: Int
  ) -> [(key: Float, position: Int)] {
    Segments.nearest(k, to: target, samples: samples, first: first)
  }

  /// One segment of a whole-pool threshold select: the positions (+ first) inside [low, high], and
  /// the k outside nearest the band as (gap, position), sorted.
  @inline(never)
  public static func segmentBand(
    _ k: Int, low: Float, high: Float, samples: UnsafeBufferPointer<Float>, first: Int
  ) -> (inside: [Int], nearest: [(key: Float, position: Int)]) {
    Segments.band(k, low: low, high: high, samples: samples, first: first)
  }

  /// The vector log, exp and (cos 2πu, sin 2πu) over arrays, 16 at a time, so that tests can check
  /// each compiled variant's arithmetic against libm. `count` must be a multiple of 16.
  @inline(never)
  public static func elementary(
    count: Int, x: UnsafePointer<Float>, y: UnsafePointer<Float>, u: UnsafePointer<Float>,
    log: UnsafeMutablePointer<Float>, exp: UnsafeMutablePointer<Float>, cos: UnsafeMutablePointer<Float>,
    sin: UnsafeMutablePointer<Float>
  ) {
    precondition(count % 16 == 0)
    func load(_ p: UnsafePointer<Float>, _ i: Int) -> FloatLanes {
      FloatLanes(UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self))
    }
    func store(_ v: FloatLanes, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
      UnsafeMutableRawPointer(p + i).storeBytes(of: v.simd, as: SIMD16<Float>.self)
    }
    var i = 0
    while i < count {
      store(VectorMath.log(load(x, i)), log, i)
      store(VectorMath.exp(load(y, i)), exp, i)
      let (c, s) = VectorMath.cosSin2Pi(load(u, i))
      store(c, cos, i)
      store(s, sin, i)
      i += 16
    }
  }
}

/// This variant's entry points, for the engine's kernel table.
public let entryPoints = EntryPoints(
  sampleSplit: Kernels.sampleBeta(into:count:alpha:beta:rng:),
  samplePacked: Kernels.sampleBeta(into:count:packed:rng:),
  sampleWords: Kernels.sampleBeta(into:count:words:rng:), smallest: Kernels.smallest(_:of:),
  nearest: Kernels.nearest(_:to:samples:), segmentNearest: Kernels.segmentNearest(_:to:samples:first:),
  segmentBand: Kernels.segmentBand(_:low:high:samples:first:),
  elementary: Kernels.elementary(count:x:y:u:log:exp:cos:sin:))
