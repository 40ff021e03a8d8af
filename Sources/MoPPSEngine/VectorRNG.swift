/// The Beta sampler's generator: xoshiro128+ in 16 lanes, seeded from a (seed, stream, counter,
/// chunk) key. Only the state is kept here, as plain words; the kernels (one per instruction set)
/// load it into vector registers, draw, and store it back.
public struct VectorRNG: Sendable {
  var s0: SIMD16<UInt32>, s1: SIMD16<UInt32>, s2: SIMD16<UInt32>, s3: SIMD16<UInt32>

  /// A stream for (seed, stream, counter, chunk): distinct keys give unrelated streams.
  public init(seed: UInt64, stream: UInt64, counter: UInt64, chunk: UInt64 = 0) {
    var scalar = Xoshiro256(seed: seed, stream: stream, counter: counter)
    var mixer = SplitMix64(scalar.next() ^ (chunk &* 0xA076_1D64_78BD_642F))
    (s0, s1, s2, s3) = (.zero, .zero, .zero, .zero)
    for lane in 0..<16 {
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

  /// The state as the kernels read it: s0's 16 lanes, then s1's, s2's and s3's (256 bytes).
  mutating func withState<R>(_ body: (UnsafeMutableRawPointer) -> R) -> R {
    withUnsafeMutableBytes(of: &self) { body($0.baseAddress!) }
  }
}
