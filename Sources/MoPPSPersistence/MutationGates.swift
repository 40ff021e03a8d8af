import MoPPSPlatform

/// The locks that order mutations: one per pool name, so that a mutation of one pool (a Register of
/// millions of ids, a Restore of a big tag) never holds up requests of another, and one shared/
/// exclusive gate that a full-state snapshot takes alone to see every pool at one point in time.
///
/// Everything that changes a pool — and everything whose log record must stand in the log in the
/// order it was applied — runs under that pool's lock, and resolves the pool object under it: a
/// mutation racing a Restore or a DropPool of the same name then acts on the pool that is there
/// when it runs, never on one that was replaced meanwhile.
///
/// On pthreads (not `Synchronization.Mutex`) so that ThreadSanitizer sees them; the rwlock keeps
/// glibc's default reader preference, so mutations are never queued behind a snapshot that waits.
final class MutationGates: @unchecked Sendable {
  private final class Gate {
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Threads holding or waiting for it; the gate is dropped from the table at zero, so the table
    /// holds only names in use (a client creating and dropping endless names grows nothing).
    var users = 0

    init() { pthread_mutex_init(mutex, nil) }
    deinit {
      pthread_mutex_destroy(mutex)
      mutex.deallocate()
    }
  }

  private let all = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
  private let table = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private var gates: [String: Gate] = [:]

  init() {
    pthread_rwlock_init(all, nil)
    pthread_mutex_init(table, nil)
  }

  deinit {
    pthread_rwlock_destroy(all)
    pthread_mutex_destroy(table)
    all.deallocate()
    table.deallocate()
  }

  /// Runs `body` holding `pool`'s lock. With `wait: false` (the broker thread, which must never
  /// block) returns nil at once when that lock or the snapshot gate is taken.
  func withPool<R, E: Error>(_ pool: String, wait: Bool = true, _ body: () throws(E) -> R) throws(E) -> R? {
    if wait {
      pthread_rwlock_rdlock(all)
    } else if pthread_rwlock_tryrdlock(all) != 0 {
      return nil
    }
    defer { pthread_rwlock_unlock(all) }
    let gate = acquireGate(pool)
    defer { releaseGate(pool, gate) }
    if wait {
      pthread_mutex_lock(gate.mutex)
    } else if pthread_mutex_trylock(gate.mutex) != 0 {
      return nil
    }
    defer { pthread_mutex_unlock(gate.mutex) }
    return try body()
  }

  /// Runs `body` while no mutation of any pool runs.
  func withAll<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    pthread_rwlock_wrlock(all)
    defer { pthread_rwlock_unlock(all) }
    return try body()
  }

  private func acquireGate(_ pool: String) -> Gate {
    pthread_mutex_lock(table)
    defer { pthread_mutex_unlock(table) }
    let gate = gates[pool] ?? Gate()
    gates[pool] = gate
    gate.users += 1
    return gate
  }

  private func releaseGate(_ pool: String, _ gate: Gate) {
    pthread_mutex_lock(table)
    defer { pthread_mutex_unlock(table) }
    gate.users -= 1
    if gate.users == 0 { gates.removeValue(forKey: pool) }
  }
}
