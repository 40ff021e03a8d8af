/// SplitMix64: turns arbitrary 64-bit keys into well-mixed seeds (Steele, Lea & Flood 2014).
@usableFromInline
struct SplitMix64 {
  @usableFromInline var state: UInt64

  @inlinable init(_ seed: UInt64) { state = seed }

  @inlinable mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// xoshiro256** (Blackman & Vigna): the engine's scalar generator. Streams are keyed by
/// (pool seed, purpose, counter) so a pool's results depend only on its seed and request order.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
  @usableFromInline var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

  /// The generator of stream `stream`, step `counter`, under `seed`: distinct triples give
  /// independent-looking sequences.
  public init(seed: UInt64, stream: UInt64 = 0, counter: UInt64 = 0) {
    // Two mixing rounds so that nearby (seed, stream, counter) triples give unrelated states.
    var first = SplitMix64(seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
    var sm = SplitMix64(first.next() ^ (counter &* 0x8CB9_2BA7_2F3D_8DD7))
    _ = sm.next()
    s0 = sm.next()
    s1 = sm.next()
    s2 = sm.next()
    s3 = sm.next()
  }

  /// The generator's state, for snapshots. Only the engine sets it, from a snapshot whose four words
  /// it has checked (`Pool(restoring:)`), so the setter's precondition guards against engine bugs.
  public internal(set) var state: [UInt64] {
    get { [s0, s1, s2, s3] }
    set {
      precondition(newValue.count == 4, "a xoshiro256 state is 4 words, got \(newValue.count)")
      (s0, s1, s2, s3) = (newValue[0], newValue[1], newValue[2], newValue[3])
    }
  }

  /// The next 64 random bits.
  @inlinable public mutating func next() -> UInt64 {
    let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
    let t = s1 << 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = s3 << 45 | s3 >> 19
    return result
  }

  /// Uniform in the open interval (0, 1): safe to take the logarithm of.
  @inlinable public mutating func nextOpenUnit() -> Double {
    (Double(next() >> 11) + 0.5) * 0x1.0p-53
  }

  /// Uniform integer in 0..<bound without modulo bias (Lemire's method). `bound` must be > 0, as
  /// for `Int.random(in:)`; the engine calls it only with counts it has checked.
  @inlinable public mutating func nextBelow(_ bound: Int) -> Int {
    Int(truncatingIfNeeded: next(upperBound: UInt64(bound)))
  }
}

/// Purposes of the engine's random streams; distinct so that, e.g., drawing candidates never shifts
/// the samples a select sees.
enum RandomStream: UInt64 {
  /// Beta samples of a select (vector streams, one per chunk of candidates).
  case select = 1
  /// The epoch order of server-drawn candidates.
  case epoch = 2
  /// Random choices of the uniform and threshold strategies.
  case choose = 3
}

extension Xoshiro256 {
  /// k distinct positions of 0..<n uniformly at random, in draw order: a Fisher–Yates shuffle's
  /// first k steps, with the displaced entries kept in a dictionary so that memory is O(k), not O(n)
  /// (whole-pool selects draw from millions).
  mutating func distinct(_ k: Int, below n: Int) -> [Int] {
    precondition(k >= 0 && k <= n)
    var displaced: [Int: Int] = [:]
    displaced.reserveCapacity(k)
    var out: [Int] = []
    out.reserveCapacity(k)
    for i in 0..<k {
      let j = i + nextBelow(n - i)
      let atJ = displaced[j] ?? j
      displaced[j] = displaced[i] ?? i
      out.append(atJ)
    }
    return out
  }
}
