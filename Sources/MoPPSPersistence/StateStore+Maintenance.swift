import Foundation
import MoPPSEngine
import MoPPSPlatform

/// The background work of a store with a state directory: fsyncs, select counters, automatic
/// snapshots.
extension StateStore {
  /// Logs the select counters that moved since they were last logged, so that a restart continues
  /// each pool's random streams instead of repeating them. Selects that change more than the
  /// counter are logged one by one; these are the unkeyed selects over client candidates. With
  /// `wait: false` a pool whose lock is taken is skipped until the next round.
  func logSelectCounters(wait: Bool) {
    for pool in engine.listPools() {
      _ = try? gates.withPool(pool.name, wait: wait) { () throws(PersistenceError) in
        // The pool of this name now: a Restore may have replaced the one listed.
        guard let current = try? engine.pool(pool.name), current === pool else { return }
        let count = pool.info.selectCount
        guard count > pool.loggedSelectCount else { return }
        _ = try append(.select(pool: pool.name, count: count, drawn: nil, memo: nil))
        pool.loggedSelectCount = count
      }
    }
  }

  func noteLoggedSelects() {
    for pool in engine.listPools() { pool.loggedSelectCount = pool.info.selectCount }
  }

  /// Two background threads: the syncer (fsync every 10 ms with `--fsync batch`), on its own so
  /// that a snapshot that takes long, or waits for a long mutation, never delays durability; and
  /// the maintenance thread (select counters every 100 ms, automatic snapshots).
  func startMaintenance() {
    if options?.fsync == .batch {
      background.enter()
      let syncer = Thread { [self] in
        defer { background.leave() }
        while !stopping.load(ordering: .relaxed) {
          usleep(10_000)
          let target = written.load(ordering: .relaxed)
          if target > syncState.withLock({ $0 }) {
            do { try syncLog(through: target - 1) } catch {
              logger.error("background fsync failed: \(error)")
            }
          }
        }
      }
      syncer.name = "moppsd-fsync"
      syncer.start()
    }
    background.enter()
    let thread = Thread { [self] in
      defer { background.leave() }
      var lastSnapshot = ContinuousClock.now
      var lastCounters = ContinuousClock.now
      while !stopping.load(ordering: .relaxed) {
        usleep(10_000)
        if ContinuousClock.now - lastCounters > .milliseconds(100) {
          logSelectCounters(wait: false)
          lastCounters = .now
        }
        let pending = log.withLock { $0.sinceSnapshot }
        let age = ContinuousClock.now - lastSnapshot
        let interval = options?.snapshotInterval ?? .infinity
        if pending >= options?.snapshotEvery ?? .max || (pending > 0 && age > .seconds(interval)) {
          do {
            let info = try snapshotState()
            logger.info(
              "snapshot \(info.tag) after \(pending) mutations (\(info.promptCount) prompts, \(info.bytes) bytes)"
            )
          } catch {
            logger.error("automatic snapshot failed: \(error)")
          }
          lastSnapshot = .now
        }
      }
    }
    thread.name = "moppsd-durability"
    maintenance = thread
    thread.start()
  }
}
