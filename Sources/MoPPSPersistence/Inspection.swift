import MoPPSEngine

/// What `moppsd inspect` shows: the state a server would recover, read without changing anything.
public struct Inspection: Sendable {
  public var pools: [PoolInfo]
  /// Posterior means per pool, for histograms.
  public var means: [String: [Double]]
  public var snapshots: [StoredSnapshot]
  public var base: String
  public var logFiles: Int
  public var logBytes: Int
  public var logRecords: Int
  public var nextLSN: UInt64
  public var report: [String]
  public var inUse: Bool
}

extension StateStore {
  /// The state a server would recover, read-only (export-state, tools).
  public static func load(directory: String) throws(PersistenceError) -> (Engine, [String]) {
    guard Files.exists(directory + "/wal") || Files.exists(directory + "/snapshots") else {
      throw PersistenceError("\(directory) is not a moppsd state directory (no wal/ or snapshots/)")
    }
    let engine = Engine()
    let recovery = recover(into: engine, directory: directory)
    return (engine, recovery.report)
  }

  /// Reads a state directory the way start-up would, but read-only: no lock taken, no file written,
  /// damage reported rather than repaired. Works with or without a server running on it.
  public static func inspect(directory: String) throws(PersistenceError) -> Inspection {
    guard Files.exists(directory + "/wal") || Files.exists(directory + "/snapshots") else {
      throw PersistenceError("\(directory) is not a moppsd state directory (no wal/ or snapshots/)")
    }
    let engine = Engine()
    let recovery = recover(into: engine, directory: directory)
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
      logRecords: recovery.scan.replayed, nextLSN: recovery.scan.nextLSN,
      report: recovery.report + recovery.loss.map { "cannot be recovered: \($0)" },
      inUse: Files.isDirectoryLocked(directory))
  }
}
