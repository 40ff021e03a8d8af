/// What can still win in one segment of a whole-pool select: each segment keeps only its own best,
/// and the engine merges the segments' survivors.
enum Segments {
  /// The k samples nearest `target` (smallest squared distance), as (key, position + first) sorted
  /// by (key, position).
  static func nearest(
    _ k: Int, to target: Float, samples s: UnsafeBufferPointer<Float>, first: Int
  ) -> [(key: Float, position: Int)] {
    var best = PartialSelection.Streaming(k: min(k, s.count))
    // 16 keys at a time against the bar's key; once the buffer has filled, nearly every vector is
    // refused whole, and only the lanes that pass go through `offer`'s exact comparison.
    let t = FloatLanes(target)
    var i = 0
    while i + 16 <= s.count {
      let x = FloatLanes(UnsafeRawPointer(s.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self))
      let keys = (x - t) * (x - t)
      var pass = ~(keys > FloatLanes(best.keyBar)).bits
      if pass != 0 {
        let lanes = keys.simd
        while pass != 0 {
          let l = pass.trailingZeroBitCount
          best.offer(key: lanes[l], position: first + i + l)
          pass &= pass &- 1
        }
      }
      i += 16
    }
    for j in i..<s.count { best.offer(key: (s[j] - target) * (s[j] - target), position: first + j) }
    return best.result()
  }

  /// The positions (+ first) whose samples lie in [low, high], and the k outside nearest the band.
  static func band(
    _ k: Int, low: Float, high: Float, samples s: UnsafeBufferPointer<Float>, first: Int
  ) -> (inside: [Int], nearest: [(key: Float, position: Int)]) {
    var inside: [Int] = []
    var best = PartialSelection.Streaming(k: min(k, s.count))
    for i in 0..<s.count {
      let x = s[i]
      if x >= low && x <= high {
        inside.append(first + i)
      } else {
        best.offer(key: max(low - x, x - high), position: first + i)
      }
    }
    return (inside, best.result())
  }
}
