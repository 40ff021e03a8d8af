import Synchronization

/// The table of entry points every compiled variant of the kernels provides (one per instruction
/// set: `MoPPSKernels`, `MoPPSKernelsAVX2`, `MoPPSKernelsAVX512`, built from the same sources).
///
/// This module holds only the type, no code built for a particular CPU, so that the engine can name
/// the table of each variant with one type and call through it after checking CPUID.
public struct EntryPoints: Sendable {
  /// Beta(alpha[i], beta[i]) samples into `out[0..<count]`; the last argument is the 256 bytes of
  /// generator state, read at the start and written back at the end.
  public typealias SampleSplit =
    @Sendable (
      _ out: UnsafeMutablePointer<Float>, _ count: Int, _ alpha: UnsafePointer<Float>,
      _ beta: UnsafePointer<Float>,
      _ rng: UnsafeMutableRawPointer
    ) -> Void
  /// The same from the prompt table's packed, atomic posterior words (α in the high half).
  public typealias SamplePacked =
    @Sendable (
      _ out: UnsafeMutablePointer<Float>, _ count: Int, _ words: UnsafePointer<Atomic<UInt64>>,
      _ rng: UnsafeMutableRawPointer
    ) -> Void
  /// The same from packed posterior words in plain memory.
  public typealias SampleWords =
    @Sendable (
      _ out: UnsafeMutablePointer<Float>, _ count: Int, _ words: UnsafePointer<UInt64>,
      _ rng: UnsafeMutableRawPointer
    ) -> Void
  /// One segment's survivors: (k, target or band, samples, first position) → (key, position) sorted.
  public typealias Segment =
    @Sendable (_ k: Int, _ target: Float, _ samples: UnsafeBufferPointer<Float>, _ first: Int)
    -> [(key: Float, position: Int)]
  public typealias Band =
    @Sendable (
      _ k: Int, _ low: Float, _ high: Float, _ samples: UnsafeBufferPointer<Float>, _ first: Int
    ) -> (inside: [Int], nearest: [(key: Float, position: Int)])
  /// log, exp, cos 2πu, sin 2πu over arrays a multiple of 16 long (for tests of the arithmetic).
  public typealias Elementary =
    @Sendable (
      _ count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ u: UnsafePointer<Float>,
      _ log: UnsafeMutablePointer<Float>, _ exp: UnsafeMutablePointer<Float>,
      _ cos: UnsafeMutablePointer<Float>,
      _ sin: UnsafeMutablePointer<Float>
    ) -> Void

  public let sampleSplit: SampleSplit
  public let samplePacked: SamplePacked
  public let sampleWords: SampleWords
  /// Positions of the k smallest keys, ordered by (key, position).
  public let smallest: @Sendable (_ k: Int, _ keys: UnsafeBufferPointer<Float>) -> [Int]
  /// Positions of the k samples nearest the target, ordered by (distance, position).
  public let nearest: @Sendable (_ k: Int, _ target: Float, _ samples: UnsafeBufferPointer<Float>) -> [Int]
  public let segmentNearest: Segment
  public let segmentBand: Band
  public let elementary: Elementary

  public init(
    sampleSplit: @escaping SampleSplit, samplePacked: @escaping SamplePacked,
    sampleWords: @escaping SampleWords,
    smallest: @escaping @Sendable (Int, UnsafeBufferPointer<Float>) -> [Int],
    nearest: @escaping @Sendable (Int, Float, UnsafeBufferPointer<Float>) -> [Int],
    segmentNearest: @escaping Segment, segmentBand: @escaping Band, elementary: @escaping Elementary
  ) {
    self.sampleSplit = sampleSplit
    self.samplePacked = samplePacked
    self.sampleWords = sampleWords
    self.smallest = smallest
    self.nearest = nearest
    self.segmentNearest = segmentNearest
    self.segmentBand = segmentBand
    self.elementary = elementary
  }
}
