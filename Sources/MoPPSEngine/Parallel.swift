import Dispatch

/// Runs `body(i)` for i in 0..<count on all cores and returns the results in order. One iteration
/// runs inline, without a thread hop.
func parallelMap<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
  if count == 1 { return [body(0)] }
  return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
    let out = SendableBuffer(base: buffer.baseAddress!)
    withoutActuallyEscaping(body) { body in
      let work = UnsafeSendable(body)
      DispatchQueue.concurrentPerform(iterations: count) { i in
        // Each iteration writes its own element, so there is no shared mutation.
        (out.base + i).initialize(to: work.value(i))
      }
    }
    initialized = count
  }
}

/// A buffer each concurrent iteration writes at its own index.
struct SendableBuffer<T>: @unchecked Sendable {
  let base: UnsafeMutablePointer<T>
}

/// A non-Sendable closure that is only called while its caller waits (concurrentPerform returns
/// after every iteration), and reads state no iteration writes.
struct UnsafeSendable<T>: @unchecked Sendable {
  let value: T
  init(_ value: T) { self.value = value }
}

/// Finds a repeated id in O(n) with a local open-addressing set (much cheaper than `Set<UInt64>`).
enum Duplicates {
  static func first(in ids: [UInt64]) -> UInt64? {
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
