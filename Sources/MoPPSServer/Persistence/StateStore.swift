import Foundation
import MoPPSEngine
import MoPPSProtocol
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// When the log reaches stable storage.
public enum FsyncPolicy: String, Sendable, CaseIterable {
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
/// Mutations are applied and logged under one lock, so the log order is the order they were applied
/// in and replaying it reproduces the state exactly. Reads (Select, Get) never take that lock.
public final class StateStore: @unchecked Sendable {
  public struct Options: Sendable {
    public var directory: String
    public var fsync: FsyncPolicy
    /// Take a full snapshot (and compact the log) after this many mutations…
    public var snapshotEvery: Int
    /// …or this many seconds after the last one, if anything changed since.
    public var snapshotInterval: Double

    public init(
      directory: String, fsync: FsyncPolicy = .batch, snapshotEvery: Int = 100_000,
      snapshotInterval: Double = 300
    ) {
      self.directory = directory
      self.fsync = fsync
      self.snapshotEvery = snapshotEvery
      self.snapshotInterval = snapshotInterval
    }
  }

  struct MutationState {
    var wal: WriteAheadLog
    var sinceSnapshot = 0
    /// Set when the log could not be written: further mutations are refused rather than applied
    /// without being durable.
    var failure: String? = nil
  }

  public let engine: Engine
  public let options: Options
  private let mutations: WriterLock<MutationState>
  /// Serialises fsyncs; holds the LSN known durable.
  private let syncState = WriterLock<UInt64>(0)
  /// LSN after the last record written (read by the syncer without the mutation lock).
  private let written = Atomic<UInt64>(0)
  /// One snapshot at a time (automatic and requested ones may race).
  private let snapshotLock = WriterLock<Void>(())
  private let stopping = Atomic<Bool>(false)
  private var maintenance: Thread?
  private let maintenanceDone = DispatchSemaphore(value: 0)
  private let lockFD: Int32
  private let closed = Atomic<Bool>(false)

  var walDir: String { options.directory + "/wal" }
  var snapshotDir: String { options.directory + "/snapshots" }
  var tagDir: String { options.directory + "/tags" }

  /// Opens (creating if needed) the state directory, recovers the newest valid snapshot and the log
  /// after it into `engine`, and returns the store and a report of what was recovered or dropped.
  public static func open(engine: Engine, options: Options) throws(PersistenceError) -> (StateStore, [String])
  {
    let dir = options.directory
    for d in [dir, dir + "/wal", dir + "/snapshots", dir + "/tags"] { try Files.makeDirectory(d) }
    // One process per state directory: a second moppsd would interleave its log with ours.
    let lockFD = Glibc.open(dir + "/LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard lockFD >= 0 else { throw PersistenceError("cannot open \(dir)/LOCK: \(Files.errorText())") }
    guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
      Glibc.close(lockFD)
      throw PersistenceError(
        "\(dir) is in use by another moppsd (\(dir)/LOCK is locked); use another --state-dir")
    }
    let started = ContinuousClock.now
    let recovery = recover(into: engine, directory: dir, repair: true)
    var report = recovery.report
    let scan = recovery.scan
    let wal = try WriteAheadLog(dir: dir + "/wal", startingAt: scan.nextLSN)
    let elapsed = ContinuousClock.now - started
    let ms = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15
    let prompts = engine.listPools().reduce(0) { $0 + $1.info.promptCount }
    report.insert(
      "recovered \(engine.listPools().count) pools, \(prompts) prompts from \(recovery.base) + \(scan.replayed) log records "
        + "(\(scan.files) files) in \(Int(ms.rounded())) ms; next LSN \(scan.nextLSN)", at: 0)

    let store = StateStore(engine: engine, options: options, wal: wal, lockFD: lockFD)
    store.written.store(scan.nextLSN, ordering: .relaxed)
    store.syncState.withLock { $0 = scan.nextLSN }
    store.startMaintenance()
    return (store, report)
  }

  struct Recovery {
    var base: String
    var snapshotLSN: UInt64
    var scan: WriteAheadLog.ScanResult
    var report: [String]
  }

  /// Loads the newest valid full snapshot and replays the log after it. With `repair`, a damaged log
  /// tail is truncated and files after it set aside; without, the directory is left untouched.
  static func recover(into engine: Engine, directory dir: String, repair: Bool) -> Recovery {
    var report: [String] = []

    // Newest valid full snapshot; a damaged one is reported and the previous one used.
    var from: UInt64 = 0
    var base = "empty state"
    let snapshots = Files.list(dir + "/snapshots").filter { $0.hasPrefix("state-") && $0.hasSuffix(".snap") }
    for name in snapshots.reversed() {
      do throws(PersistenceError) {
        let file = try SnapshotFile.decode(try Files.read(dir + "/snapshots/" + name))
        for pool in file.pools {
          do {
            try engine.install(pool)
          } catch {
            throw PersistenceError("pool \(pool.name): \(error.message)")
          }
        }
        from = file.lsn
        base =
          "snapshot \(name) (\(file.pools.count) pools, \(file.pools.reduce(0) { $0 + $1.ids.count }) prompts)"
        break
      } catch {
        report.append("skipped snapshot \(name): \(error.message)")
        for pool in engine.listPools() { try? engine.dropPool(pool.name) }
      }
    }
    if !snapshots.isEmpty && from == 0 && base == "empty state" {
      report.append("no valid snapshot: replaying the log from the start")
    }

    var replayErrors = 0
    let scan = WriteAheadLog.replay(dir: dir + "/wal", from: from, repair: repair) { lsn, record in
      do throws(EngineError) {
        try record.replay(into: engine)
      } catch {
        replayErrors += 1
        if replayErrors <= 10 { report.append("log record \(lsn) not applied: \(error.message)") }
      }
    }
    report += scan.report
    return Recovery(base: base, snapshotLSN: from, scan: scan, report: report)
  }

  private init(engine: Engine, options: Options, wal: WriteAheadLog, lockFD: Int32) {
    self.engine = engine
    self.options = options
    self.lockFD = lockFD
    mutations = WriterLock(MutationState(wal: wal))
  }

  deinit { close() }

  // MARK: Mutations

  /// Applies a mutation and logs it, atomically with respect to other mutations. `record` turns the
  /// result into what to log (nil: nothing changed, e.g. a duplicate request id). With fsync
  /// `always`, returns only once the record is durable.
  func commit<R>(
    _ apply: () throws(EngineError) -> R, record: (R) -> WALRecord?
  ) throws(EngineError) -> R {
    let (result, lsn) = try mutations.withLock { (m) throws(EngineError) -> (R, UInt64?) in
      if let failure = m.failure {
        throw EngineError(.unavailable, "state directory unusable, mutations refused: \(failure)")
      }
      let result = try apply()
      guard let entry = record(result) else { return (result, nil) }
      do throws(PersistenceError) {
        let lsn = try m.wal.append(entry)
        // Relaxed: the syncer only needs a recent value; the fsync itself orders the data.
        written.store(lsn + 1, ordering: .relaxed)
        m.sinceSnapshot += 1
        return (result, lsn)
      } catch {
        m.failure = error.message
        throw EngineError(.internal, "the change was applied but could not be logged: \(error.message)")
      }
    }
    if let lsn, options.fsync == .always {
      do throws(PersistenceError) {
        try syncLog(through: lsn)
      } catch {
        throw EngineError(.internal, "the change is logged but could not be made durable: \(error.message)")
      }
    }
    return result
  }

  /// Makes the log durable through `lsn`; callers arriving while an fsync runs share the next one.
  ///
  /// The fsync runs without the mutation lock, on a duplicate of the log's descriptor, so mutations
  /// go on while the disk flushes (holding the lock put the fsync, ~0.5 ms here, into the p99 of
  /// every Update). Every record below `target` is in that file, or in an earlier one that the
  /// snapshot which rotated the log synced before opening the next.
  func syncLog(through lsn: UInt64) throws(PersistenceError) {
    try syncState.withLock { (durable) throws(PersistenceError) in
      if durable > lsn { return }
      let target = written.load(ordering: .relaxed)
      let (fd, path) = try mutations.withLock { (m) throws(PersistenceError) in
        try m.wal.duplicateDescriptor()
      }
      defer { Glibc.close(fd) }
      guard fdatasync(fd) == 0 else { throw PersistenceError("cannot fsync \(path): \(Files.errorText())") }
      durable = target
    }
  }

  // MARK: Snapshots

  /// Writes a full-state snapshot and compacts the log behind it.
  @discardableResult
  public func snapshotState() throws(PersistenceError) -> SnapshotInfo {
    try snapshotLock.withLock { (_) throws(PersistenceError) -> SnapshotInfo in
      // Copy the state and start a new log file at one point in time.
      let (pools, lsn) = try mutations.withLock { (m) throws(PersistenceError) -> ([PoolSnapshot], UInt64) in
        let pools = engine.listPools().map { $0.snapshot() }
        let lsn = m.wal.nextLSN
        try m.wal.sync()
        try m.wal.open(at: lsn)
        m.sinceSnapshot = 0
        return (pools, lsn)
      }
      syncState.withLock { $0 = max($0, lsn) }
      let name = "state-" + String(WriteAheadLog.fileName(lsn).dropFirst(4).dropLast(4)) + ".snap"
      let file = SnapshotFile(kind: .state, lsn: lsn, created: Date().timeIntervalSince1970, pools: pools)
      let bytes = file.encode()
      try Files.writeAtomically(snapshotDir + "/" + name, bytes)
      compact()
      return SnapshotInfo(
        pool: "", tag: String(name.dropLast(5)), lsn: lsn, created: file.created,
        promptCount: pools.reduce(0) { $0 + $1.ids.count }, bytes: bytes.count)
    }
  }

  /// Keeps the two newest full snapshots and the log back to the older of them (so a damaged newest
  /// snapshot can still be recovered from the previous one); deletes the rest.
  private func compact() {
    let snaps = Files.list(snapshotDir).filter { $0.hasPrefix("state-") && $0.hasSuffix(".snap") }
    guard snaps.count >= 2 else { return }
    for old in snaps.dropLast(2) { unlink(snapshotDir + "/" + old) }
    guard let keepFrom = UInt64(snaps[snaps.count - 2].dropFirst(6).dropLast(5), radix: 16) else { return }
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

  private func tagPath(_ pool: String, _ tag: String) -> String { tagDir + "/" + pool + "/" + tag + ".snap" }

  /// Saves one pool under a tag (replacing an older snapshot with the same tag).
  public func saveTag(pool name: String, tag: String) throws(EngineError) -> SnapshotInfo {
    guard Self.validTag(tag) else {
      throw .invalid("tag \"\(tag)\": use 1-128 letters, digits, '_', '-' or '.', not starting with '.'")
    }
    let (snapshot, lsn) = try mutations.withLock { (m) throws(EngineError) -> (PoolSnapshot, UInt64) in
      (try engine.pool(name).snapshot(), m.wal.nextLSN)
    }
    let file = SnapshotFile(kind: .tag, lsn: lsn, created: Date().timeIntervalSince1970, pools: [snapshot])
    let bytes = file.encode()
    do throws(PersistenceError) {
      try Files.makeDirectory(tagDir + "/" + name)
      try Files.writeAtomically(tagPath(name, tag), bytes)
    } catch {
      throw EngineError(.internal, "cannot save tag \"\(tag)\": \(error.message)")
    }
    return SnapshotInfo(
      pool: name, tag: tag, lsn: lsn, created: file.created, promptCount: snapshot.ids.count,
      bytes: bytes.count)
  }

  /// Replaces the pool's whole state with a tagged snapshot (also when the pool was dropped since).
  public func restoreTag(pool name: String, tag: String) throws(EngineError) -> PoolInfo {
    guard Self.validTag(tag) else { throw .invalid("tag \"\(tag)\" is not a valid tag name") }
    let path = tagPath(name, tag)
    guard Files.exists(path) else {
      throw EngineError(.notFound, "no snapshot tagged \"\(tag)\" for pool \"\(name)\"; see ListSnapshots")
    }
    var snapshot: PoolSnapshot
    do throws(PersistenceError) {
      let file = try SnapshotFile.decode(try Files.read(path))
      guard file.kind == .tag, file.pools.count == 1 else { throw PersistenceError("not a tag snapshot") }
      snapshot = file.pools[0]
    } catch {
      throw EngineError(.dataLoss, "snapshot \(path) is damaged: \(error.message)")
    }
    snapshot.name = name
    let installed = snapshot
    return try commit(
      { () throws(EngineError) in try engine.install(installed).info }, record: { _ in .install(installed) })
  }

  /// Full-state snapshots and tags (optionally of one pool), newest first within each pool.
  public func listSnapshots(pool filter: String = "") -> [SnapshotInfo] {
    Self.listSnapshots(directory: options.directory, pool: filter)
  }

  static func listSnapshots(directory: String, pool filter: String = "") -> [SnapshotInfo] {
    let snapshotDir = directory + "/snapshots"
    let tagDir = directory + "/tags"
    var out: [SnapshotInfo] = []
    func add(_ path: String, pool: String, tag: String) {
      guard let h = try? SnapshotFile.header(Files.readPrefix(path, SnapshotFile.headerSize)) else { return }
      out.append(
        SnapshotInfo(
          pool: pool, tag: tag, lsn: h.lsn, created: h.created, promptCount: h.promptCount,
          bytes: Files.size(path)))
    }
    if filter.isEmpty {
      for name in Files.list(snapshotDir) where name.hasPrefix("state-") && name.hasSuffix(".snap") {
        add(snapshotDir + "/" + name, pool: "", tag: String(name.dropLast(5)))
      }
    }
    for pool in Files.list(tagDir) where filter.isEmpty || pool == filter {
      for name in Files.list(tagDir + "/" + pool) where name.hasSuffix(".snap") {
        add(tagDir + "/" + pool + "/" + name, pool: pool, tag: String(name.dropLast(5)))
      }
    }
    return out.sorted { ($0.pool, -$0.created) < ($1.pool, -$1.created) }
  }

  // MARK: Background work

  private func startMaintenance() {
    let thread = Thread { [self] in
      defer { maintenanceDone.signal() }
      var lastSnapshot = ContinuousClock.now
      while !stopping.load(ordering: .relaxed) {
        usleep(10_000)
        if options.fsync == .batch {
          let target = written.load(ordering: .relaxed)
          if target > syncState.withLock({ $0 }) {
            do { try syncLog(through: target - 1) } catch { Log.error("background fsync failed: \(error)") }
          }
        }
        let pending = mutations.withLock { $0.sinceSnapshot }
        let age = ContinuousClock.now - lastSnapshot
        if pending >= options.snapshotEvery || (pending > 0 && age > .seconds(options.snapshotInterval)) {
          do {
            let info = try snapshotState()
            Log.info(
              "snapshot \(info.tag) after \(pending) mutations (\(info.promptCount) prompts, \(info.bytes) bytes)"
            )
          } catch {
            Log.error("automatic snapshot failed: \(error)")
          }
          lastSnapshot = .now
        }
      }
    }
    thread.name = "moppsd-durability"
    maintenance = thread
    thread.start()
  }

  /// Stops the background thread and makes everything logged durable (graceful shutdown).
  /// Releases the state directory's lock; idempotent.
  public func close() {
    // Sequentially consistent exchange: exactly one caller does the closing.
    guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
    // Relaxed: the thread polls the flag every 10 ms; the semaphore orders the rest.
    stopping.store(true, ordering: .relaxed)
    if maintenance != nil {
      maintenanceDone.wait()
      maintenance = nil  // the thread's closure holds the store: break the cycle
    }
    let last = written.load(ordering: .relaxed)
    if last > 0 {
      do { try syncLog(through: last - 1) } catch { Log.error("final fsync failed: \(error)") }
    }
    flock(lockFD, LOCK_UN)
    Glibc.close(lockFD)
  }

  /// Bytes in the log files.
  public var logBytes: Int { Files.list(walDir).reduce(0) { $0 + Files.size(walDir + "/" + $1) } }
}

/// What `moppsd inspect` shows: the state a server would recover, read without changing anything.
public struct Inspection: Sendable {
  public var pools: [PoolInfo]
  /// Posterior means per pool, for histograms.
  public var means: [String: [Double]]
  public var snapshots: [SnapshotInfo]
  public var base: String
  public var logFiles: Int
  public var logBytes: Int
  public var logRecords: Int
  public var nextLSN: UInt64
  public var report: [String]
  public var inUse: Bool
}

extension StateStore {
  /// Reads a state directory the way start-up would, but read-only: no lock taken, no file written,
  /// damage reported rather than repaired. Works with or without a server running on it.
  public static func inspect(directory: String) throws(PersistenceError) -> Inspection {
    guard Files.exists(directory + "/wal") || Files.exists(directory + "/snapshots") else {
      throw PersistenceError("\(directory) is not a moppsd state directory (no wal/ or snapshots/)")
    }
    let engine = Engine()
    let recovery = recover(into: engine, directory: directory, repair: false)
    var inUse = false
    let fd = Glibc.open(directory + "/LOCK", O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
      inUse = flock(fd, LOCK_SH | LOCK_NB) != 0
      Glibc.close(fd)
    }
    let pools = engine.listPools()
    var means: [String: [Double]] = [:]
    for pool in pools {
      let p = pool.posteriors(nil)
      means[pool.name] = zip(p.alpha, p.beta).map { $0 / ($0 + $1) }
    }
    let walDir = directory + "/wal"
    return Inspection(
      pools: pools.map(\.info), means: means, snapshots: listSnapshots(directory: directory),
      base: recovery.base,
      logFiles: Files.list(walDir).filter { WriteAheadLog.firstLSN(ofFile: $0) != nil }.count,
      logBytes: Files.list(walDir).reduce(0) { $0 + Files.size(walDir + "/" + $1) },
      logRecords: recovery.scan.replayed, nextLSN: recovery.scan.nextLSN, report: recovery.report,
      inUse: inUse)
  }
}
