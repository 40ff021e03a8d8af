/// Partial selection: the k smallest of `keys` in O(n) expected time, never a full sort.
///
/// Order is by (key, index), a total order, so the chosen set is the same as a stable full sort's —
/// including ties — whatever the pivots were. The result is returned sorted by that order.
enum PartialSelection {
  static func smallest(_ k: Int, of keys: [Float]) -> [Int] {
    precondition(k >= 0 && k <= keys.count)
    if k == 0 { return [] }
    var idx = Array(0..<keys.count)
    @inline(__always) func less(_ a: Int, _ b: Int) -> Bool {
      keys[a] < keys[b] || (keys[a] == keys[b] && a < b)
    }
    if k < keys.count {
      var lo = 0
      var hi = keys.count - 1
      // Quickselect with median-of-three pivots; keys are random samples so the bad cases that
      // would call for introselect's fallback do not arise, and ties are broken by index.
      while lo < hi {
        let mid = lo + (hi - lo) / 2
        if less(idx[mid], idx[lo]) { idx.swapAt(mid, lo) }
        if less(idx[hi], idx[lo]) { idx.swapAt(hi, lo) }
        if less(idx[hi], idx[mid]) { idx.swapAt(hi, mid) }
        let pivot = idx[mid]
        var i = lo
        var j = hi
        while i <= j {
          while less(idx[i], pivot) { i += 1 }
          while less(pivot, idx[j]) { j -= 1 }
          if i <= j {
            idx.swapAt(i, j)
            i += 1
            j -= 1
          }
        }
        // Now idx[lo...j] <= pivot <= idx[i...hi]; recurse into the side holding position k - 1.
        if k - 1 <= j {
          hi = j
        } else if k - 1 >= i {
          lo = i
        } else {
          break
        }
      }
    }
    var chosen = Array(idx[0..<k])
    chosen.sort(by: less)
    return chosen
  }

  /// k distinct positions of 0..<n uniformly at random (partial Fisher–Yates), in draw order.
  static func uniform(_ k: Int, of n: Int, using rng: inout Xoshiro256) -> [Int] {
    precondition(k >= 0 && k <= n)
    var idx = Array(0..<n)
    for i in 0..<k {
      idx.swapAt(i, i + rng.nextBelow(n - i))
    }
    return Array(idx[0..<k])
  }
}
