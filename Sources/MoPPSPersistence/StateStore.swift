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
  let log: WriterLock<LogState>
  /// Serialises fsyncs; holds the LSN known durable.
  let syncState = WriterLock<UInt64>(0)
  /// LSN after the last record written (read by the syncer without the log lock).
  let written = Atomic<UInt64>(0)
  /// One snapshot at a time (automatic and requested ones may race).
  let snapshotLock = WriterLock<Void>(())
  /// Full snapshots known good: read back at recovery or written by this process. Compaction
  /// deletes only what lies behind two of them.
  let verified = WriterLock<Set<String>>([])
  let stopping = Atomic<Bool>(false)
  var maintenance: Thread?
  /// The background threads, waited for at close.
  let background = DispatchGroup()
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
    /// As `logged`, then `finish` once the record is written (a dps Select marks the prompts it saw
    /// only after its record is in the log, so that a failed write leaves nothing to take back).
    case loggedThen(WALRecord, R, undo: () -> Void, finish: () throws(MoPPSError) -> Void)
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
      case .loggedThen(let record, let result, let undo, let finish):
        let lsn: UInt64?
        do throws(PersistenceError) {
          lsn = try append(record)
        } catch {
          undo()
          throw .storage(error)
        }
        try refusing(finish)
        return (result, lsn)
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
  func append(_ record: WALRecord) throws(PersistenceError) -> UInt64? {
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
