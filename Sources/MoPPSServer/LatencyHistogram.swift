/// A log-linear histogram of durations (HdrHistogram-style): 32 sub-buckets per power of two, so a
/// recorded value is known within ~3 %, in 64 × 32 counters whatever the range.
struct LatencyHistogram: Sendable {
  static let subBits = 5
  static let subCount = 1 << subBits
  private var counts = [UInt64](repeating: 0, count: 64 * subCount)
  private(set) var total: UInt64 = 0
  private(set) var max: UInt64 = 0

  static func bucket(_ v: UInt64) -> Int {
    if v < UInt64(subCount) { return Int(v) }
    let exponent = 63 - v.leadingZeroBitCount  // ≥ subBits
    let shift = exponent - subBits
    let sub = Int((v >> UInt64(shift)) & UInt64(subCount - 1))
    return (shift + 1) * subCount + sub
  }

  /// The smallest value of a bucket's range (what percentiles report).
  static func lowest(_ bucket: Int) -> UInt64 {
    if bucket < subCount { return UInt64(bucket) }
    let shift = bucket / subCount - 1
    let sub = UInt64(bucket % subCount)
    return (UInt64(subCount) | sub) << UInt64(shift)
  }

  mutating func record(_ nanoseconds: UInt64) {
    counts[Self.bucket(nanoseconds)] += 1
    total += 1
    max = Swift.max(max, nanoseconds)
  }

  /// The value at quantile q (0...1), in the recorded unit; 0 when empty.
  func quantile(_ q: Double) -> UInt64 {
    guard total > 0 else { return 0 }
    let rank = UInt64((q * Double(total)).rounded(.up))
    if rank >= total { return max }
    var seen: UInt64 = 0
    for (i, c) in counts.enumerated() where c > 0 {
      seen += c
      if seen >= Swift.max(rank, 1) { return Swift.min(Self.lowest(i), max) }
    }
    return max
  }
}
