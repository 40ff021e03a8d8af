import Foundation
import Logging
import MoPPSEngine
import MoPPSPlatform
import Synchronization

/// When the log reaches stable storage.
public enum FsyncPolicy: String, Sendable, CaseIterable, Equatable {
  /// Every mutation is fsynced before it is acknowledged (concurrent ones share an fsync).
  case always
  /// fsync at most every 10 ms in the background (like Redis' `everysec`, tighter).
  case batch
  /// Leave it to the OS. A killed process loses nothing (the data is in the page cache); a machine
  /// crash may lose recent mutations.
  case none
}

/// Durable state in `--state-dir`: an append-only write-ahead log of every mutation, full-state
/// snapshots that let the log be compacted, and per-pool tagged snapshots for trainer checkpoints.
///
/// A mutation is checked, logged, then applied, under its pool's lock (`Mutations.swift`), so each
/// pool's records stand in the log in the order they were applied and replaying the log reproduces
/// the state exactly; mutations of different pools run side by side. Reads (Select, Get) take no
/// lock. Without a directory (`inMemory`) the same code runs with nothing written.
public final class StateStore: @unchecked Sendable {
  public struct Options: Sendable, Equatable {
    public var directory: String
    public var fsync: FsyncPolicy
    /// Take a full snapshot (and compact the log) after this many mutations…
    public var snapshotEvery: Int
    /// …or this many seconds after the last one, if anything changed since.
    public var snapshotInterval: Double
    /// Start even when the directory holds data that cannot be recovered (a log gap, a damaged log
    /// file with later ones behind it, no readable snapshot for a compacted log); otherwise such a
    /// start is refused and nothing on disk is changed.
    public var acceptDataLoss: Bool

    public init(
      directory: String, fsync: FsyncPolicy = .batch, snapshotEvery: Int = 100_000,
      snapshotInterval: Double = 300, acceptDataLoss: Bool = false
    ) {
      self.directory = directory
      self.fsync = fsync
      self.snapshotEvery = snapshotEvery
      self.snapshotInterval = snapshotInterval
      self.acceptDataLoss = acceptDataLoss
    }
  }

  /// What clients may make the store hold.
  public struct Limits: Sendable, Equatable {
    public var maxPools: Int
    public var maxPromptsPerPool: Int

    public init(maxPools: Int = 1024, maxPromptsPerPool: Int = 1 << 30) {
      self.maxPools = maxPools
      self.maxPromptsPerPool = maxPromptsPerPool
    }
  }

  struct LogState {
    var wal: WriteAheadLog?
    var sinceSnapshot = 0
    /// Set when the log holds bytes that could not be taken back (a partial record after a failed
    /// write whose truncation failed too): further mutations are refused, since records appended
    /// behind it would be lost at recovery.
    var failure: String? = nil
  }

  public let engine: Engine
  public let options: Options?
  /// moppsd's logger (the process's logging system decides where its lines go).
  let logger = Logger(label: "moppsd")
  public let limits: Limits
  let gates = MutationGates()
  /// The log file; held only to append a record or to rotate the file, never while applying.
  private let log: WriterLock<LogState>
  /// Serialises fsyncs; holds the LSN known durable.
  private let syncState = WriterLock<UInt64>(0)
  /// LSN after the last record written (read by the syncer without the log lock).
  private let written = Atomic<UInt64>(0)
  /// One snapshot at a time (automatic and requested ones may race).
  private let snapshotLock = WriterLock<Void>(())
  /// Full snapshots known good: read back at recovery or written by this process. Compaction
  /// deletes only what lies behind two of them.
  private let verified = WriterLock<Set<String>>([])
  private let stopping = Atomic<Bool>(false)
  private var maintenance: Thread?
  /// The background threads, waited for at close.
  private let background = DispatchGroup()
  private let lockFD: Int32
  private let closed = Atomic<Bool>(false)

  var directory: String { options?.directory ?? "" }
  var walDir: String { directory + "/wal" }
  var snapshotDir: String { directory + "/snapshots" }
  var tagDir: String { directory + "/tags" }

  /// Opens (creating if needed) the state directory, recovers the newest valid snapshot and the log
  /// after it into `engine`, and returns the store and a report of what was recovered or dropped.
  public static func open(engine: Engine, options: Options, limits: Limits = Limits())
    throws(PersistenceError)
    -> (StateStore, [String])
  {
    let dir = options.directory
    for d in [dir, dir + "/wal", dir + "/snapshots", dir + "/tags"] { try Files.makeDirectory(d) }
    // One process per state directory: a second moppsd would interleave its log with ours. The lock
    // is on the directory itself, which cannot be deleted from under us while it holds files.
    let lockFD = try Files.lockDirectory(dir)
    let started = ContinuousClock.now
    let recovery = recover(into: engine, directory: dir)
    if !recovery.loss.isEmpty && !options.acceptDataLoss {
      closeDescriptor(lockFD)
      throw PersistenceError(
        "\(dir) holds state that cannot be recovered completely: \(recovery.loss.joined(separator: "; ")). "
          + "Nothing was changed. Copy the directory somewhere safe, then start with --accept-data-loss to "
          + "serve what can be recovered")
    }
    var report = recovery.report
    for repair in recovery.scan.repairs { report.append(repair.perform()) }
    for stale in Files.removeStaleTemporaries(
      in: [dir + "/snapshots"] + Files.subdirectories(of: dir + "/tags"))
    {
      report.append("removed \(stale), left by an interrupted snapshot")
    }
    let scan = recovery.scan
    let wal: WriteAheadLog
    do {
      wal = try WriteAheadLog(dir: dir + "/wal", startingAt: scan.nextLSN)
    } catch {
      closeDescriptor(lockFD)
      throw error
    }
    let elapsed = ContinuousClock.now - started
    let ms = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15
    let prompts = engine.listPools().reduce(0) { $0 + $1.info.promptCount }
    report.insert(
      "recovered \(engine.listPools().count) pools, \(prompts) prompts from \(recovery.base) + \(scan.replayed) log records "
        + "(\(scan.files) files) in \(Int(ms.rounded())) ms; next LSN \(scan.nextLSN)", at: 0)

    let store = StateStore(engine: engine, options: options, limits: limits, wal: wal, lockFD: lockFD)
    store.written.store(scan.nextLSN, ordering: .relaxed)
    store.syncState.withLock { $0 = scan.nextLSN }
    store.verified.withLock { if let name = recovery.snapshot { $0.insert(name) } }
    store.noteLoggedSelects()
    store.startMaintenance()
    return (store, report)
  }

  /// A store that keeps nothing on disk (`--no-persistence`, tests): mutations take the same path,
  /// checked and applied under the pool's lock, with no log.
  public static func inMemory(engine: Engine, limits: Limits = Limits()) -> StateStore {
    StateStore(engine: engine, options: nil, limits: limits, wal: nil, lockFD: -1)
  }

  struct Recovery {
    var base: String
    /// The full snapshot loaded, if any.
    var snapshot: String?
    var snapshotLSN: UInt64
    var scan: WriteAheadLog.ScanResult
    var report: [String]
    /// What could not be recovered (empty: everything acknowledged is back).
    var loss: [String]
  }

  /// Loads the newest valid full snapshot and replays the log after it, changing nothing on disk:
  /// the repairs (truncating a torn tail, setting damaged files aside) are listed in `scan.repairs`
  /// for the caller to carry out once it has decided to start.
  static func recover(into engine: Engine, directory dir: String) -> Recovery {
    var report: [String] = []
    var loss: [String] = []
    var repairs: [WriteAheadLog.Repair] = []

    // Newest valid full snapshot; a damaged one is reported, set aside, and the previous one used.
    var from: UInt64 = 0
    var base = "empty state"
    var loaded: String? = nil
    let snapshots = Files.list(dir + "/snapshots").filter { $0.hasPrefix("state-") && $0.hasSuffix(".snap") }
    for name in snapshots.reversed() {
      do throws(PersistenceError) {
        let file = try SnapshotFile.decode(
          try Files.read(dir + "/snapshots/" + name, display: "snapshots/" + name))
        for pool in file.pools {
          do {
            try engine.install(pool)
          } catch {
            throw PersistenceError("pool \(pool.name): \(error.message)")
          }
        }
        from = file.lsn
        loaded = name
        base =
          "snapshot \(name) (\(file.pools.count) pools, \(file.pools.reduce(0) { $0 + $1.ids.count }) prompts)"
        break
      } catch {
        report.append("skipped snapshot \(name): \(error.message)")
        repairs.append(.setAside(dir + "/snapshots/" + name, display: "snapshots/" + name))
        for pool in engine.listPools() { try? engine.dropPool(pool.name) }
      }
    }
    if !snapshots.isEmpty && loaded == nil {
      report.append("no valid snapshot: replaying the log from the start")
    }

    var replayErrors = 0
    var scan = WriteAheadLog.replay(dir: dir + "/wal", from: from) { lsn, record in
      do throws(MoPPSError) {
        try record.replay(into: engine)
      } catch {
        replayErrors += 1
        if replayErrors <= 10 { report.append("log record \(lsn) not applied: \(error.message)") }
      }
    }
    report += scan.report
    // Every logged record was checked before it was logged, so one that fails now is state that
    // cannot be reproduced (a damaged or foreign log, or a rule tightened since it was written).
    if replayErrors > 0 {
      loss.append("\(replayErrors) log record(s) cannot be applied (see the lines before)")
    }
    loss += scan.loss
    scan.repairs = repairs + scan.repairs
    return Recovery(base: base, snapshot: loaded, snapshotLSN: from, scan: scan, report: report, loss: loss)
  }

  private init(engine: Engine, options: Options?, limits: Limits, wal: WriteAheadLog?, lockFD: Int32) {
    self.engine = engine
    self.options = options
    self.limits = limits
    self.lockFD = lockFD
    log = WriterLock(LogState(wal: wal))
  }

  deinit { close() }

  // MARK: Mutations

  /// What a mutation will do, worked out and checked before anything changes.
  enum Plan<R> {
    /// Nothing to change or log (a duplicate request, a Register of known ids): the answer.
    case answer(R)
    /// Log the record, then apply the change. A change that fails after its record was logged
    /// fails the same way when the log is replayed, so live and recovered state still agree.
    case change(WALRecord, () throws(MoPPSError) -> R)
    /// Already applied (a Select, whose record holds its result): log it, or undo and refuse.
    case logged(WALRecord, R, undo: () -> Void)
  }

  /// Runs one mutation of `pool` under that pool's lock: plan, log, apply. A record that cannot be
  /// written (a full disk) is taken back out of the log and the mutation refused with nothing
  /// changed; the next mutation simply tries again. With fsync `always`, returns once the record is
  /// durable. Returns nil at once, doing nothing, when `wait` is false and the lock is taken.
  func mutate<R>(pool: String, wait: Bool, _ plan: () throws(MoPPSError) -> Plan<R>) throws(StoreError)
    -> R?
  {
    let outcome = try gates.withPool(pool, wait: wait) { () throws(StoreError) -> (R, UInt64?) in
      switch try refusing(plan) {
      case .answer(let result):
        return (result, nil)
      case .change(let record, let apply):
        let lsn = try storing { () throws(PersistenceError) in try append(record) }
        return (try refusing(apply), lsn)
      case .logged(let record, let result, let undo):
        do throws(PersistenceError) {
          return (result, try append(record))
        } catch {
          undo()
          throw .storage(error)
        }
      }
    }
    guard let (result, lsn) = outcome else { return nil }
    if let lsn, options?.fsync == .always {
      do throws(PersistenceError) {
        try syncLog(through: lsn)
      } catch {
        throw .storage(
          error.reworded("the change is logged but could not be made durable: \(error.message)", kind: .io))
      }
    }
    return result
  }

  /// Appends a record; nil without a log. Encoding happens before the log lock is taken.
  private func append(_ record: WALRecord) throws(PersistenceError) -> UInt64? {
    guard options != nil else { return nil }
    let frame = WriteAheadLog.frame(record)
    return try log.withLock { (m) throws(PersistenceError) -> UInt64? in
      if let failure = m.failure {
        throw PersistenceError("state directory unusable, mutations refused: \(failure)", kind: .logUnusable)
      }
      guard let wal = m.wal else { return nil }
      do throws(PersistenceError) {
        let lsn = try wal.append(frame: frame)
        // Relaxed: the syncer only needs a recent value; the fsync itself orders the data.
        written.store(lsn + 1, ordering: .relaxed)
        m.sinceSnapshot += 1
        return lsn
      } catch {
        let rolledBack = error.kind != .logUnusable
        if !rolledBack { m.failure = error.message }
        throw error.reworded(
          "cannot write the log (\(error.message)); nothing was changed"
            + (rolledBack ? ", and the request can be retried once the disk has room" : ""), kind: .logWrite)
      }
    }
  }

  /// Makes the log durable through `lsn`; callers arriving while an fsync runs share the next one.
  ///
  /// The fsync runs without the log lock, on a duplicate of the log's descriptor, so mutations go
  /// on while the disk flushes (holding the lock would put every fsync into the tail latency of
  /// every Update). Every record below `target` is in that file, or in an earlier one that the
  /// snapshot which rotated the log synced before opening the next.
  func syncLog(through lsn: UInt64) throws(PersistenceError) {
    try syncState.withLock { (durable) throws(PersistenceError) in
      if durable > lsn { return }
      let target = written.load(ordering: .relaxed)
      guard
        let (fd, path) = try log.withLock({ (m) throws(PersistenceError) in try m.wal?.duplicateDescriptor() }
        )
      else { return }
      defer { closeDescriptor(fd) }
      try syscall("cannot fsync \(path)") { fdatasync(fd) }
      durable = target
    }
  }

  // MARK: Snapshots

  /// Refuses what only a server with a state directory can do.
  public func requireDirectory(_ what: String) throws(PersistenceError) {
    guard options != nil else {
      throw PersistenceError(
        "\(what) needs persistence; this moppsd runs without a state directory", kind: .noDirectory)
    }
  }

  /// Writes a full-state snapshot and compacts the log behind it.
  @discardableResult
  public func snapshotState() throws(PersistenceError) -> StoredSnapshot {
    guard options != nil else {
      throw PersistenceError("this moppsd runs without a state directory", kind: .noDirectory)
    }
    return try snapshotLock.withLock { (_) throws(PersistenceError) -> StoredSnapshot in
      // Copy the state and start a new log file at one point in time: no mutation runs meanwhile.
      let (pools, lsn) = try gates.withAll { () throws(PersistenceError) -> ([PoolSnapshot], UInt64) in
        try log.withLock { (m) throws(PersistenceError) -> ([PoolSnapshot], UInt64) in
          let pools = engine.listPools().map { $0.snapshot() }
          let wal = m.wal!
          let lsn = wal.nextLSN
          try wal.sync()
          try wal.open(at: lsn)
          m.sinceSnapshot = 0
          return (pools, lsn)
        }
      }
      syncState.withLock { $0 = max($0, lsn) }
      let name = "state-" + String(WriteAheadLog.fileName(lsn).dropFirst(4).dropLast(4)) + ".snap"
      let file = SnapshotFile(kind: .state, lsn: lsn, created: Date().timeIntervalSince1970, pools: pools)
      let bytes = file.encode()
      try Files.writeAtomically(snapshotDir + "/" + name, bytes)
      verified.withLock { _ = $0.insert(name) }
      // Recovery starts from this snapshot, in the log file opened with it: whatever damage an
      // earlier file holds is behind it, so mutations may go on.
      log.withLock { $0.failure = nil }
      compact()
      return StoredSnapshot(
        pool: "", tag: String(name.dropLast(5)), lsn: lsn, created: file.created,
        promptCount: pools.reduce(0) { $0 + $1.ids.count }, bytes: bytes.count)
    }
  }

  /// Keeps the two newest snapshots known good and the log back to the older of them (so a damaged
  /// newest snapshot can still be recovered from the previous one); deletes what lies behind them.
  /// A snapshot not known good is never one of the two, so it can never cause a good one's deletion.
  private func compact() {
    let good = verified.withLock { $0 }
    let snaps = Files.list(snapshotDir).filter { $0.hasPrefix("state-") && $0.hasSuffix(".snap") }
    let kept = snaps.filter(good.contains).suffix(2)
    guard kept.count == 2, let oldestKept = kept.first,
      let keepFrom = UInt64(oldestKept.dropFirst(6).dropLast(5), radix: 16)
    else { return }
    for old in snaps where old < oldestKept {
      unlink(snapshotDir + "/" + old)
      verified.withLock { _ = $0.remove(old) }
    }
    let logs = Files.list(walDir).compactMap { n in WriteAheadLog.firstLSN(ofFile: n).map { ($0, n) } }
      .sorted { $0.0 < $1.0 }
    for (i, (_, name)) in logs.enumerated() where i + 1 < logs.count && logs[i + 1].0 <= keepFrom {
      unlink(walDir + "/" + name)
    }
  }

  static func validTag(_ tag: String) -> Bool {
    !tag.isEmpty && tag.utf8.count <= 128 && !tag.hasPrefix(".")
      && tag.utf8.allSatisfy { c in
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
          || c == 0x2D
          || c == 0x2E
      }
  }

  /// Pool name and tag, checked before either goes near a path.
  private static func checkTagName(pool: String, tag: String) throws(MoPPSError) {
    try Engine.validatePoolName(pool)
    guard validTag(tag) else {
      throw .invalid("tag \"\(tag)\": use 1-128 letters, digits, '_', '-' or '.', not starting with '.'")
    }
  }

  /// Where a tag lives, relative to the state directory (also what replies and logs show).
  private static func tagFile(_ pool: String, _ tag: String) -> [String] { ["tags", pool, tag + ".snap"] }

  /// Saves one pool under a tag (replacing an older snapshot with the same tag).
  public func saveTag(pool name: String, tag: String) throws(StoreError) -> StoredSnapshot {
    try refusing { () throws(MoPPSError) in try Self.checkTagName(pool: name, tag: tag) }
    try storing { () throws(PersistenceError) in try requireDirectory("Snapshot") }
    // Under the pool's lock: the copy is of one point in the pool's history.
    let (snapshot, lsn) = try refusing { () throws(MoPPSError) in
      try gates.withPool(name) { () throws(MoPPSError) -> (PoolSnapshot, UInt64) in
        let snapshot = try engine.pool(name).snapshot()
        return (snapshot, log.withLock { $0.wal?.nextLSN ?? 0 })
      }!
    }
    let file = SnapshotFile(kind: .tag, lsn: lsn, created: Date().timeIntervalSince1970, pools: [snapshot])
    let bytes = file.encode()
    do throws(PersistenceError) {
      try Files.writeAtomically(beneath: directory, Self.tagFile(name, tag), bytes)
    } catch {
      throw .storage(
        error.reworded("cannot save tag \"\(tag)\" of pool \"\(name)\": \(error.message)", kind: .io))
    }
    return StoredSnapshot(
      pool: name, tag: tag, lsn: lsn, created: file.created, promptCount: snapshot.ids.count,
      bytes: bytes.count)
  }

  /// Replaces the pool's whole state with a tagged snapshot (also when the pool was dropped since).
  public func restoreTag(pool name: String, tag: String) throws(StoreError) -> PoolInfo {
    try refusing { () throws(MoPPSError) in try Self.checkTagName(pool: name, tag: tag) }
    try storing { () throws(PersistenceError) in try requireDirectory("Restore") }
    let components = Self.tagFile(name, tag)
    let display = components.joined(separator: "/")
    let read: [UInt8]?
    do throws(PersistenceError) {
      read = try Files.readRegular(beneath: directory, components)
    } catch {
      throw .storage(error.reworded("cannot read \(display): \(error.message)", kind: .damaged))
    }
    guard let bytes = read else {
      throw .storage(
        PersistenceError(
          "no snapshot tagged \"\(tag)\" for pool \"\(name)\"; see ListSnapshots", kind: .notFound))
    }
    let snapshot: PoolSnapshot
    do throws(PersistenceError) {
      let file = try SnapshotFile.decode(bytes)
      guard file.kind == .tag, file.pools.count == 1 else { throw PersistenceError("not a tag snapshot") }
      snapshot = file.pools[0]
    } catch {
      throw .storage(error.reworded("snapshot \(display) is damaged: \(error.message)", kind: .damaged))
    }
    return try install(snapshot, as: name)
  }

  /// Full-state snapshots and tags (optionally of one pool), newest first within each pool.
  public func listSnapshots(pool filter: String = "") throws(StoreError) -> [StoredSnapshot] {
    if !filter.isEmpty { try refusing { () throws(MoPPSError) in try Engine.validatePoolName(filter) } }
    try storing { () throws(PersistenceError) in try requireDirectory("ListSnapshots") }
    return Self.listSnapshots(directory: directory, pool: filter)
  }

  static func listSnapshots(directory: String, pool filter: String = "") -> [StoredSnapshot] {
    var out: [StoredSnapshot] = []
    func add(_ components: [String], pool: String, tag: String) {
      guard
        let bytes = try? Files.readRegular(beneath: directory, components, prefix: SnapshotFile.headerSize),
        let h = try? SnapshotFile.header(bytes)
      else { return }
      out.append(
        StoredSnapshot(
          pool: pool, tag: tag, lsn: h.lsn, created: h.created, promptCount: h.promptCount,
          bytes: Files.size(directory + "/" + components.joined(separator: "/"))))
    }
    if filter.isEmpty {
      for name in Files.list(directory + "/snapshots")
      where name.hasPrefix("state-") && name.hasSuffix(".snap") {
        add(["snapshots", name], pool: "", tag: String(name.dropLast(5)))
      }
    }
    for pool in Files.list(directory + "/tags") where filter.isEmpty || pool == filter {
      guard (try? Engine.validatePoolName(pool)) != nil else { continue }
      for name in Files.list(directory + "/tags/" + pool) where name.hasSuffix(".snap") {
        add(["tags", pool, name], pool: pool, tag: String(name.dropLast(5)))
      }
    }
    return out.sorted { ($0.pool, -$0.created) < ($1.pool, -$1.created) }
  }

  // MARK: Background work

  /// Logs the select counters that moved since they were last logged, so that a restart continues
  /// each pool's random streams instead of repeating them. Selects that change more than the
  /// counter are logged one by one; these are the unkeyed selects over client candidates. With
  /// `wait: false` a pool whose lock is taken is skipped until the next round.
  private func logSelectCounters(wait: Bool) {
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

  private func noteLoggedSelects() {
    for pool in engine.listPools() { pool.loggedSelectCount = pool.info.selectCount }
  }

  /// Two background threads: the syncer (fsync every 10 ms with `--fsync batch`), on its own so
  /// that a snapshot that takes long, or waits for a long mutation, never delays durability; and
  /// the maintenance thread (select counters every 100 ms, automatic snapshots).
  private func startMaintenance() {
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

  /// Stops the background thread, logs the select counters and makes everything logged durable
  /// (graceful shutdown). Releases the state directory's lock; idempotent.
  public func close() {
    // Sequentially consistent exchange: exactly one caller does the closing.
    guard !closed.exchange(true, ordering: .sequentiallyConsistent), options != nil else { return }
    // Relaxed: the thread polls the flag every 10 ms; the semaphore orders the rest.
    stopping.store(true, ordering: .relaxed)
    if maintenance != nil {
      background.wait()
      maintenance = nil  // the threads' closures hold the store: break the cycle
    }
    logSelectCounters(wait: true)
    let last = written.load(ordering: .relaxed)
    if last > 0 {
      do { try syncLog(through: last - 1) } catch { logger.error("final fsync failed: \(error)") }
    }
    flock(lockFD, LOCK_UN)
    closeDescriptor(lockFD)
  }

  /// Bytes in the log files.
  public var logBytes: Int { Files.list(walDir).reduce(0) { $0 + Files.size(walDir + "/" + $1) } }
}
