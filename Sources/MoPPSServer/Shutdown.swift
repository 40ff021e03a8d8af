import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Set by SIGINT/SIGTERM; the serve loop polls it between requests. A signal handler may only touch
/// lock-free state, hence a global atomic.
let shutdownRequested = Atomic<Bool>(false)

public enum Shutdown {
  /// Routes SIGINT and SIGTERM to a graceful stop: the request in hand is answered, sockets are
  /// closed, and `serve` returns.
  public static func installSignalHandlers() {
    for sig in [SIGINT, SIGTERM] {
      signal(sig) { _ in
        // Relaxed is enough: the serve loop only needs to see the flag eventually (it polls every
        // 100 ms), and no other memory is published through it.
        shutdownRequested.store(true, ordering: .relaxed)
      }
    }
  }

  /// Asks a running `serve` loop to stop (what the signal handlers do).
  public static func request() { shutdownRequested.store(true, ordering: .relaxed) }

  public static var isRequested: Bool { shutdownRequested.load(ordering: .relaxed) }
}
