/// Partial selection: the k smallest of `keys` in O(n) expected time, never a full sort.
///
/// Order is by (key, index), a total order, so the chosen set is the same as a stable full sort's —
/// including ties — whatever the pivots were. The result is returned sorted by that order.
enum PartialSelection {
  /// Positions of the k smallest keys, ordered by (key, position). Keys must be ≥ 0 and not NaN.
  ///
  /// For such floats the bit pattern orders like the value, so (key, position) packs into one
  /// UInt64 whose integer order is exactly the wanted total order: quickselect then compares plain
  /// integers in a contiguous array, and ties break by position whatever the pivots were.
  static func smallest(_ k: Int, of keys: UnsafeBufferPointer<Float>) -> [Int] {
    precondition(k >= 0 && k <= keys.count && keys.count <= Int(UInt32.max))
    if k == 0 { return [] }
    let n = keys.count
    var sorted = false
    var chosen = [UInt64](unsafeUninitializedCapacity: k) { out, initialized in
      withUnsafeTemporaryAllocation(of: UInt64.self, capacity: n) { scratch in
        if n < 512 || k == n {
          for i in 0..<n { scratch[i] = pack(keys[i], i) }
          select(k, in: scratch)
          for i in 0..<k { out[i] = scratch[i] }
        } else if smallestBySample(k, of: keys, into: out, scratch: scratch) {
          sorted = true
        } else {
          smallestByHistogram(k, of: keys, into: out, scratch: scratch)
        }
      }
      initialized = k
    }
    if !sorted { chosen.withUnsafeMutableBufferPointer { sortChosen($0, positionsBelow: n) } }
    return chosen.map { Int(truncatingIfNeeded: $0 & 0xFFFF_FFFF) }
  }

  /// Sorts the chosen (key, position) values: by radix when there are enough of them that the
  /// comparison sort's mispredicted branches would cost more than the radix passes' fixed 256-entry
  /// tables (a batch of 256 from 300 or 1,024 candidates), by comparisons below that.
  private static func sortChosen(_ chosen: UnsafeMutableBufferPointer<UInt64>, positionsBelow n: Int) {
    guard chosen.count >= 64 else { return sort(chosen) }
    withUnsafeTemporaryAllocation(of: UInt64.self, capacity: chosen.count) { spare in
      radixSort(chosen, positionsBelow: n, spare: spare)
    }
  }

  /// Positions of the k samples nearest `target`, ordered by ((x − target)², position): the same
  /// as `smallest` over those keys, without materialising them when a sampled bar can cut most
  /// samples off in vector compares.
  static func nearest(_ k: Int, to target: Float, samples: UnsafeBufferPointer<Float>) -> [Int] {
    let n = samples.count
    precondition(k >= 0 && k <= n && n <= Int(UInt32.max))
    if k > 0, let chosen = nearestBySample(k, to: target, samples: samples) { return chosen }
    return withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { keys in
      for i in 0..<n { keys[i] = (samples[i] - target) * (samples[i] - target) }
      return smallest(k, of: UnsafeBufferPointer(keys))
    }
  }

  /// `smallestBySample` with the keys computed 16 at a time and compared with the bar's key in
  /// vector registers: a vector with no lane under the bar (most of them) costs a few instructions,
  /// and only the lanes under it are packed and compared exactly. Nil when it does not apply or too
  /// few samples pass the bar; the caller then takes the general path.
  private static func nearestBySample(_ k: Int, to target: Float, samples s: UnsafeBufferPointer<Float>)
    -> [Int]?
  {
    let n = s.count
    guard let rank = barRank(k, of: n) else { return nil }
    let bar = withUnsafeTemporaryAllocation(of: UInt64.self, capacity: barSample) { sample in
      for j in 0..<barSample {
        let i = j * n / barSample
        sample[j] = pack((s[i] - target) * (s[i] - target), i)
      }
      select(rank, in: sample)
      return sample[0..<rank].max()!
    }
    let barKey = FloatLanes(Float(bitPattern: UInt32(truncatingIfNeeded: bar >> 32)))
    let t = FloatLanes(target)
    return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: n + 16) { scratch -> [Int]? in
      var kept = 0
      var i = 0
      while i + 16 <= n {
        let x = FloatLanes(UnsafeRawPointer(s.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self))
        let keys = (x - t) * (x - t)
        var pass = ~(keys > barKey).bits
        if pass != 0 {
          let lanes = keys.simd
          while pass != 0 {
            let l = pass.trailingZeroBitCount
            let p = pack(lanes[l], i + l)
            scratch[kept] = p
            kept &+= Int(unsafeBitCast(p <= bar, to: UInt8.self))
            pass &= pass &- 1
          }
        }
        i += 16
      }
      while i < n {
        let p = pack((s[i] - target) * (s[i] - target), i)
        scratch[kept] = p
        kept &+= Int(unsafeBitCast(p <= bar, to: UInt8.self))
        i += 1
      }
      guard kept >= k else { return nil }
      let survivors = UnsafeMutableBufferPointer(rebasing: scratch[0..<kept])
      withUnsafeTemporaryAllocation(of: UInt64.self, capacity: kept) { spare in
        radixSort(survivors, positionsBelow: n, spare: spare, inPositionOrder: true)
      }
      return survivors[0..<k].map { Int(truncatingIfNeeded: $0 & 0xFFFF_FFFF) }
    }
  }

  /// Keys sampled to estimate the bar.
  private static let barSample = 128

  /// The rank, among `barSample` evenly spaced keys, of a bar that about k of n keys pass, 2.5
  /// standard deviations above its expectation (so that fewer than k pass only rarely); nil when
  /// the bar would not cut off most keys.
  private static func barRank(_ k: Int, of n: Int) -> Int? {
    let expected = Double(barSample * k) / Double(n)
    let rank = Int((expected + 2.5 * expected.squareRoot()).rounded(.up)) + 1
    return n >= 4 * barSample && rank < barSample / 4 ? rank : nil
  }

  @inline(__always)
  static func pack(_ key: Float, _ position: Int) -> UInt64 {
    UInt64(key.bitPattern) << 32 | UInt64(truncatingIfNeeded: position)
  }

  /// Estimates a bar just above the k-th smallest key from 128 evenly spaced keys, keeps the keys
  /// at or under it (one branch-free pass), and quickselects among those only: for 4,096 keys and
  /// k = 256 about 500 survive. The bar is one of the keys, so the survivors are exactly the smallest
  /// ones in (key, position) order; if fewer than k survive (a bar rank 2.5 standard deviations
  /// above its expectation makes that rare) it returns false and the caller selects another way.
  private static func smallestBySample(
    _ k: Int, of keys: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<UInt64>,
    scratch: UnsafeMutableBufferPointer<UInt64>
  ) -> Bool {
    let n = keys.count
    let s = barSample
    guard let rank = barRank(k, of: n) else { return false }
    var bar: UInt64 = 0
    withUnsafeTemporaryAllocation(of: UInt64.self, capacity: s) { sample in
      for j in 0..<s {
        let i = j * n / s
        sample[j] = pack(keys[i], i)
      }
      select(rank, in: sample)
      bar = sample[0..<rank].max()!
    }
    var kept = 0
    for i in 0..<n {
      let p = pack(keys[i], i)
      scratch[kept] = p
      kept &+= Int(unsafeBitCast(p <= bar, to: UInt8.self))
    }
    guard kept >= k else { return false }
    let survivors = UnsafeMutableBufferPointer(rebasing: scratch[0..<kept])
    withUnsafeTemporaryAllocation(of: UInt64.self, capacity: kept) { spare in
      radixSort(survivors, positionsBelow: n, spare: spare, inPositionOrder: true)
    }
    for i in 0..<k { out[i] = survivors[i] }
    return true
  }

  /// Sorts packed (key, position) values: an LSD radix sort on bytes that skips the position bytes
  /// that are zero below `n` and every byte all values share. It makes no comparisons, so it has no
  /// mispredicted branches, which dominate a quickselect plus a comparison sort of the ~500 survivors
  /// of a select (docs/performance.md).
  ///
  /// With `inPositionOrder` (the values arrive in increasing position, as a filtering pass writes
  /// them), the position bytes are not sorted at all: every pass is stable, so equal keys keep that
  /// order.
  static func radixSort(
    _ a: UnsafeMutableBufferPointer<UInt64>, positionsBelow n: Int, spare: UnsafeMutableBufferPointer<UInt64>,
    inPositionOrder: Bool = false
  ) {
    let count = a.count
    guard count > 1 else { return }
    let positionBytes = inPositionOrder ? 0 : (Int.bitWidth - max(n - 1, 1).leadingZeroBitCount + 7) / 8
    // The bytes that can differ: the low bytes of the position, then the four of the key.
    let passes = positionBytes + 4
    @inline(__always) func byte(_ pass: Int) -> UInt64 {
      UInt64(8 * (pass < positionBytes ? pass : pass - positionBytes + 4))
    }
    var source = a.baseAddress!
    var target = spare.baseAddress!
    // Bits that differ somewhere: a byte without any orders nothing and is skipped.
    var any: UInt64 = 0
    var all: UInt64 = ~0
    for i in 0..<count {
      any |= source[i]
      all &= source[i]
    }
    let varying = any ^ all
    withUnsafeTemporaryAllocation(of: Int32.self, capacity: 256) { offsets in
      for pass in 0..<passes {
        let shift = byte(pass)
        if (varying &>> shift) & 255 == 0 { continue }
        offsets.initialize(repeating: 0)
        for i in 0..<count { offsets[Int(truncatingIfNeeded: source[i] &>> shift) & 255] &+= 1 }
        var total: Int32 = 0
        for d in 0..<256 {
          let c = offsets[d]
          offsets[d] = total
          total &+= c
        }
        for i in 0..<count {
          let v = source[i]
          let d = Int(truncatingIfNeeded: v &>> shift) & 255
          target[Int(offsets[d])] = v
          offsets[d] &+= 1
        }
        swap(&source, &target)
      }
    }
    if source != a.baseAddress! { a.baseAddress!.update(from: source, count: count) }
  }

  /// Buckets keys by the top 11 bits of their bit pattern (sign, exponent, 2 mantissa bits), finds
  /// the bucket holding the k-th smallest, takes every key below it and quickselects only within
  /// it. Counting and collecting are branch-free, and the counts are spread over four copies so
  /// that runs of equal buckets do not serialise on one counter. A quickselect over all n keys would
  /// spend most of its time on mispredicted comparisons (docs/performance.md).
  private static func smallestByHistogram(
    _ k: Int, of keys: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<UInt64>,
    scratch boundary: UnsafeMutableBufferPointer<UInt64>
  ) {
    let n = keys.count
    let shift: UInt32 = 21
    let buckets = 1 << 11
    withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 4 * buckets) { counts in
      counts.initialize(repeating: 0)
      var i = 0
      while i + 4 <= n {
        for lane in 0..<4 { counts[lane * buckets + Int(keys[i + lane].bitPattern >> shift)] &+= 1 }
        i += 4
      }
      while i < n {
        counts[Int(keys[i].bitPattern >> shift)] &+= 1
        i += 1
      }
      func count(_ b: Int) -> Int {
        Int(counts[b] &+ counts[buckets + b] &+ counts[2 * buckets + b] &+ counts[3 * buckets + b])
      }
      var below = 0
      var bucket = 0
      while below + count(bucket) < k {
        below += count(bucket)
        bucket += 1
      }
      let cut = UInt32(bucket)
      var taken = 0
      var tied = 0
      for i in 0..<n {
        let b = keys[i].bitPattern >> shift
        let p = pack(keys[i], i)
        // Both stores always happen; only the matching list's length advances.
        out[min(taken, k - 1)] = p
        boundary[tied] = p
        taken &+= Int(unsafeBitCast(b < cut, to: UInt8.self))
        tied &+= Int(unsafeBitCast(b == cut, to: UInt8.self))
      }
      // `taken` == below < k, so the last slot written by a non-taken key is overwritten here.
      let rest = UnsafeMutableBufferPointer(rebasing: boundary[0..<tied])
      select(k - taken, in: rest)
      for i in 0..<(k - taken) { out[taken + i] = rest[i] }
    }
  }

  /// The k smallest of a stream of (key, position) pairs, packed as in `smallest`, keeping only a
  /// small buffer: once the buffer holds 4k entries it is cut back to the k smallest, and the
  /// largest kept key becomes the bar every later entry must beat. After the first few thousand
  /// entries nearly every key fails that one comparison, so a 65,536-key segment costs about one
  /// compare per key instead of a quickselect over all of them.
  struct Streaming {
    let k: Int
    private(set) var buffer: [UInt64] = []
    private var bar = UInt64.max

    /// Every key above this one is refused by `offer` (keys equal to it may still enter, by position).
    /// NaN until the buffer first fills, and nothing compares greater than NaN, so nothing is refused.
    var keyBar: Float { Float(bitPattern: UInt32(truncatingIfNeeded: bar >> 32)) }

    init(k: Int) {
      self.k = k
      buffer.reserveCapacity(4 * k + 1)
    }

    @inline(__always)
    mutating func offer(key: Float, position: Int) {
      let packed = PartialSelection.pack(key, position)
      if packed >= bar { return }
      buffer.append(packed)
      if buffer.count >= 4 * k { shrink() }
    }

    private mutating func shrink() {
      buffer.withUnsafeMutableBufferPointer { PartialSelection.select(k, in: $0) }
      buffer.removeSubrange(k...)
      bar = buffer.max()!
    }

    /// The k smallest offered so far (fewer if fewer were offered), sorted: (key bits, position).
    mutating func result() -> [(key: Float, position: Int)] {
      if buffer.count > k { shrink() }
      buffer.withUnsafeMutableBufferPointer { PartialSelection.sort($0) }
      return buffer.map {
        (Float(bitPattern: UInt32(truncatingIfNeeded: $0 >> 32)), Int(truncatingIfNeeded: $0 & 0xFFFF_FFFF))
      }
    }
  }

  /// Rearranges `a` so that its k smallest elements come first (in any order). Hoare quickselect
  /// with median-of-three pivots; the elements are distinct (positions differ), and the keys are
  /// random samples, so the quadratic cases introselect guards against do not arise.
  static func select(_ k: Int, in a: UnsafeMutableBufferPointer<UInt64>) {
    var lo = 0
    var hi = a.count - 1
    let target = k - 1
    while lo < hi {
      let (j, i) = partition(a, lo, hi)
      // Now a[lo...j] <= pivot <= a[i...hi]; continue in the side holding position k - 1.
      if target <= j {
        hi = j
      } else if target >= i {
        lo = i
      } else {
        return
      }
    }
  }

  /// Sorts distinct values in place: quicksort down to runs of 16, then insertion sort. For the few
  /// hundred chosen keys of a select this takes about two thirds of the standard library's stable
  /// sort, which pays for stability these keys do not need.
  static func sort(_ a: UnsafeMutableBufferPointer<UInt64>) {
    sort(a, 0, a.count - 1)
    for i in a.indices.dropFirst() {
      let x = a[i]
      var j = i - 1
      while j >= 0 && a[j] > x {
        a[j + 1] = a[j]
        j -= 1
      }
      a[j + 1] = x
    }
  }

  /// Leaves a[lo...hi] in runs of at most 16 that are in order relative to each other.
  private static func sort(_ a: UnsafeMutableBufferPointer<UInt64>, _ lo: Int, _ hi: Int) {
    var lo = lo
    var hi = hi
    while hi - lo > 16 {
      let (j, i) = partition(a, lo, hi)
      // Recurse into the smaller side, loop on the larger: the stack stays O(log n).
      if j - lo < hi - i {
        sort(a, lo, j)
        lo = i
      } else {
        sort(a, i, hi)
        hi = j
      }
    }
  }

  /// Hoare partition of a[lo...hi] (lo < hi) around a median of three: afterwards
  /// a[lo...j] <= pivot <= a[i...hi], and j < i.
  @inline(__always)
  private static func partition(_ a: UnsafeMutableBufferPointer<UInt64>, _ lo: Int, _ hi: Int) -> (Int, Int) {
    let mid = lo + (hi - lo) / 2
    if a[mid] < a[lo] { a.swapAt(mid, lo) }
    if a[hi] < a[lo] { a.swapAt(hi, lo) }
    if a[hi] < a[mid] { a.swapAt(hi, mid) }
    let pivot = a[mid]
    var i = lo
    var j = hi
    while i <= j {
      while a[i] < pivot { i += 1 }
      while pivot < a[j] { j -= 1 }
      if i <= j {
        a.swapAt(i, j)
        i += 1
        j -= 1
      }
    }
    return (j, i)
  }
}
