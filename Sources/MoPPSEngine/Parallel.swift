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
