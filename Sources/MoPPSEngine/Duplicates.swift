/// Finding a repeated id in a request's id list (candidates, registrations, updates), which must not
/// repeat. Every request pays for the check, so the common case (no repeat) takes one or two
/// branch-free passes; only a list that does repeat an id goes through the exact, slower search
/// that names it.
enum Duplicates {
  /// The first id (by position of its second occurrence) that appears more than once, or nil.
  static func first(in ids: [UInt64]) -> UInt64? {
    if ids.count < 2 { return nil }
    let repeats = ids.withUnsafeBufferPointer { ids in
      ids.count <= 1 << 16 ? (bitmap(ids) ?? filtered(ids)) : true
    }
    return repeats ? hashed(ids) : nil
  }

  @inline(__always)
  private static func mix(_ id: UInt64) -> UInt64 { id &* 0x9E37_79B9_7F4A_7C15 }

  /// Whether some id repeats, exactly, with one bit per possible id value when every id is below
  /// 64 bits per id (dataset indices, the common case); nil when the ids are too large for that.
  static func bitmap(_ ids: UnsafeBufferPointer<UInt64>) -> Bool? {
    // OR bounds the maximum and, unlike a max, vectorises without 64-bit vector compares.
    var bound: UInt64 = 0
    for id in ids { bound |= id }
    guard bound < UInt64(64 * ids.count) else { return nil }
    let words = Int(bound >> 6) + 1
    return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: words) { buffer in
      let seen = buffer.baseAddress!
      seen.initialize(repeating: 0, count: words)
      var again: UInt64 = 0
      for id in ids { again |= mark(id, in: seen) }
      return again != 0
    }
  }

  /// Sets `id`'s bit in the bitmap `seen`; nonzero when it was set already.
  @inline(__always)
  static func mark(_ id: UInt64, in seen: UnsafeMutablePointer<UInt64>) -> UInt64 {
    let w = Int(truncatingIfNeeded: id &>> 6)
    let bit: UInt64 = 1 &<< (id & 63)
    let again = seen[w] & bit
    seen[w] |= bit
    return again
  }

  /// Whether some id repeats, for request-sized lists of any ids: a bitmap of 32 bits per id
  /// (L1-resident for 4,096 ids) marks hashes seen, without branches; only the ids whose hash bit
  /// was hit twice (about 1.5 % of them when all are distinct) are compared exactly, by sorting them.
  static func filtered(_ ids: UnsafeBufferPointer<UInt64>) -> Bool {
    var bitsLog = 10
    while (1 << bitsLog) < 32 * ids.count { bitsLog += 1 }
    let shift = UInt64(64 - bitsLog)
    let words = 1 << (bitsLog - 6)
    return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 2 * words) { buffer in
      let seen = buffer.baseAddress!
      let twice = seen + words
      seen.initialize(repeating: 0, count: 2 * words)
      var collisions: UInt64 = 0
      for id in ids {
        let h = Int(truncatingIfNeeded: mix(id) >> shift)
        let bit: UInt64 = 1 << UInt64(h & 63)
        let again = seen[h >> 6] & bit
        twice[h >> 6] |= again
        collisions |= again
        seen[h >> 6] |= bit
      }
      if collisions == 0 { return false }
      // Every id whose hash collided, first occurrences included (written branch-free into a
      // buffer as long as the list); a repeat is two equal neighbours once they are sorted.
      return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: ids.count) { buffer in
        var m = 0
        for id in ids {
          let h = Int(truncatingIfNeeded: mix(id) >> shift)
          buffer[m] = id
          m &+= Int(truncatingIfNeeded: (twice[h >> 6] &>> UInt64(h & 63)) & 1)
        }
        var suspects = UnsafeMutableBufferPointer(rebasing: buffer[0..<m])
        suspects.sort()
        return zip(suspects, suspects.dropFirst()).contains { $0 == $1 }
      }
    }
  }

  /// For large inputs: an open-addressing set of the ids themselves.
  static func hashed(_ ids: [UInt64]) -> UInt64? {
    if ids.count < 2 { return nil }
    var capacity = 16
    while capacity < ids.count * 2 { capacity <<= 1 }
    let shift = UInt64(64 - capacity.trailingZeroBitCount)
    // 0 marks an empty cell; the id 0 itself is tracked with a flag.
    var table = [UInt64](repeating: 0, count: capacity)
    var sawZero = false
    return table.withUnsafeMutableBufferPointer { t in
      for id in ids {
        if id == 0 {
          if sawZero { return 0 }
          sawZero = true
          continue
        }
        var i = Int(truncatingIfNeeded: (id &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while true {
          let e = t[i]
          if e == 0 {
            t[i] = id
            break
          }
          if e == id { return id }
          i = (i + 1) & (capacity - 1)
        }
      }
      return nil
    }
  }
}
