import Foundation
import MoPPSEngine
import MoPPSPlatform

/// Full-state snapshots (which compact the log) and per-pool tags.
extension StateStore {
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
      let started = ContinuousClock.now
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
      metrics.recordSnapshot(
        createdUnix: file.created, bytes: bytes.count, nanoseconds: nanoseconds(ContinuousClock.now - started)
      )
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
}
