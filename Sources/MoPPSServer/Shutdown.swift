import Foundation
import MoPPSPlatform
import Synchronization

/// Set by SIGINT/SIGTERM; the serve loop polls it between requests. A signal handler may only touch
/// lock-free state, hence a global atomic.
let shutdownRequested = Atomic<Bool>(false)

public enum Shutdown {
  /// Routes SIGINT and SIGTERM to a graceful stop: the request in hand is answered, sockets are
  /// closed, and `serve` returns.
  public static func installSignalHandlers() {
    // A write past the file-size limit (RLIMIT_FSIZE) must fail with EFBIG, which the log handles
    // like a full disk, rather than kill the process.
    signal(SIGXFSZ, SIG_IGN)
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

extension Shutdown {
  /// Stops the server gracefully when the process that started it dies (`serve
  /// --exit-with-parent`): a thread checks the parent pid five times a second (an orphan is
  /// re-parented). Polling rather than PR_SET_PDEATHSIG, whose signal follows the parent *thread*
  /// that forked (a Python launcher thread ending would stop the server) and which Glibc's module
  /// does not export.
  public static func exitWithParent() {
    let parent = getppid()
    let watcher = Thread {
      while !isRequested {
        if getppid() != parent {
          Log.info("parent process \(parent) is gone: stopping")
          request()
          return
        }
        usleep(200_000)
      }
    }
    watcher.name = "moppsd-parent-watch"
    watcher.start()
  }
}
