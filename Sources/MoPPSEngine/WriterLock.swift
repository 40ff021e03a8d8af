#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A mutex around a value, on pthread_mutex_t.
///
/// Used for the pools' writer state (and the server's persistence) instead of
/// `Synchronization.Mutex`: on Linux that one is built on raw futex calls, which ThreadSanitizer
/// cannot see, so every access it protects would be reported as a race and the sanitizer run of the
/// concurrency tests would be useless. TSan intercepts pthreads. Package-scoped: not part of the
/// engine's public API.
package final class WriterLock<State>: @unchecked Sendable {
  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private var state: State

  package init(_ state: State) {
    self.state = state
    pthread_mutex_init(mutex, nil)
  }

  deinit {
    pthread_mutex_destroy(mutex)
    mutex.deallocate()
  }

  /// Runs `body` with exclusive access to the state. Only readers that never need the state (the
  /// lock-free paths) run without it.
  @inline(__always)
  package func withLock<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return try body(&state)
  }
}
