import Synchronization

/// Where `sampleTile` reads shapes: lanes of consecutive positions, or single positions for retries.
protocol ShapeSource {
  /// (α, β) of positions i..<i+16; lanes at or past `count` hold 1.
  func load(_ i: Int, _ count: Int) -> (alpha: FloatLanes, beta: FloatLanes)
  func shapes(at position: Int) -> (alpha: Float, beta: Float)
  func advanced(by n: Int) -> Self
}

extension ShapeSource {
  /// α (or β) of the positions `list[k...]` (at most 16) as lanes, and how many lanes are used; the
  /// rest hold 1.
  @inline(__always)
  func gather(alpha: Bool, _ list: UnsafeMutablePointer<Int32>, _ k: Int, _ n: Int) -> (FloatLanes, Int) {
    let used = max(0, min(16, n - k))
    // Lanes go through a plain buffer and one vector load: setting `SIMD16` lanes one by one makes
    // each a store and a reload of the whole vector, a chain of store-forwarding stalls (that made a
    // retry vector cost 3.4 first-pass vectors).
    return withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { buffer in
      for l in 0..<16 {
        if l < used {
          let p = shapes(at: Int(list[k + l]))
          buffer[l] = alpha ? p.alpha : p.beta
        } else {
          buffer[l] = 1
        }
      }
      return (FloatLanes(UnsafeRawPointer(buffer.baseAddress!).loadUnaligned(as: SIMD16<Float>.self)), used)
    }
  }
}

/// Shapes in two arrays.
struct SplitShapes: ShapeSource {
  let alpha: UnsafePointer<Float>
  let beta: UnsafePointer<Float>

  @inline(__always)
  func load(_ i: Int, _ count: Int) -> (alpha: FloatLanes, beta: FloatLanes) {
    if i + 16 <= count {
      return (
        FloatLanes(UnsafeRawPointer(alpha + i).loadUnaligned(as: SIMD16<Float>.self)),
        FloatLanes(UnsafeRawPointer(beta + i).loadUnaligned(as: SIMD16<Float>.self))
      )
    }
    var a = SIMD16<Float>(repeating: 1)
    var b = SIMD16<Float>(repeating: 1)
    for j in i..<count { (a[j - i], b[j - i]) = (alpha[j], beta[j]) }
    return (FloatLanes(a), FloatLanes(b))
  }

  @inline(__always) func shapes(at position: Int) -> (alpha: Float, beta: Float) {
    (alpha[position], beta[position])
  }

  @inline(__always) func advanced(by n: Int) -> Self { Self(alpha: alpha + n, beta: beta + n) }
}

/// Shapes as the prompt table keeps them: one atomic 64-bit word per posterior.
struct PackedShapes: ShapeSource {
  let words: UnsafePointer<Atomic<UInt64>>

  @inline(__always)
  func load(_ i: Int, _ count: Int) -> (alpha: FloatLanes, beta: FloatLanes) {
    // Each word is read with its own atomic load into a local buffer (a wide load of the shared words
    // would be a data race under the language's rules), then split in vector registers; lanes past
    // `count` get the pair (1, 1).
    withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 16) { buffer in
      let one = PackedPair.one
      let n = min(16, count - i)
      for l in 0..<16 {
        // Relaxed: each word is self-contained; the caller read the slot count that published it.
        buffer[l] = l < n ? words[i + l].load(ordering: .relaxed) : one
      }
      return unpackPairs(UnsafeRawPointer(buffer.baseAddress!))
    }
  }

  @inline(__always) func shapes(at position: Int) -> (alpha: Float, beta: Float) {
    // Relaxed: each word is self-contained; the caller read the slot count that published it.
    PackedPair.unpack(words[position].load(ordering: .relaxed))
  }

  @inline(__always) func advanced(by n: Int) -> Self { Self(words: words + n) }
}

/// Packed posterior words in plain memory, owned by the caller for the duration of the fill.
struct WordShapes: ShapeSource {
  let words: UnsafePointer<UInt64>

  @inline(__always)
  func load(_ i: Int, _ count: Int) -> (alpha: FloatLanes, beta: FloatLanes) {
    if i + 16 <= count { return unpackPairs(UnsafeRawPointer(words + i)) }
    return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 16) { buffer in
      for l in 0..<16 { buffer[l] = i + l < count ? words[i + l] : PackedPair.one }
      return unpackPairs(UnsafeRawPointer(buffer.baseAddress!))
    }
  }

  @inline(__always) func shapes(at position: Int) -> (alpha: Float, beta: Float) {
    PackedPair.unpack(words[position])
  }

  @inline(__always) func advanced(by n: Int) -> Self { Self(words: words + n) }
}

/// The prompt table's posterior word: α's bits in the high half, β's in the low half.
enum PackedPair {
  static let one = UInt64(Float(1).bitPattern) << 32 | UInt64(Float(1).bitPattern)

  @inline(__always) static func unpack(_ w: UInt64) -> (alpha: Float, beta: Float) {
    (Float(bitPattern: UInt32(truncatingIfNeeded: w >> 32)), Float(bitPattern: UInt32(truncatingIfNeeded: w)))
  }
}
