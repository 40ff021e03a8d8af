import Synchronization

/// The state directory's figures (log size aside, which `StateStore.logBytes` reads from the files):
/// fsync count and latency histogram, snapshots written. Written by the threads that fsync and
/// snapshot, read by Stats and the HTTP side; atomics only, so reading never delays a mutation.
public final class StoreMetrics: Sendable {
  /// Upper bounds (seconds) of the fsync latency buckets; slower ones count only in the total.
  public static let fsyncBounds: [Double] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
  ]

  private final class Counter: Sendable {
    let value = Atomic<UInt64>(0)
  }

  private let fsyncBuckets: [Counter] = StoreMetrics.fsyncBounds.map { _ in Counter() }
  private let fsyncCount = Atomic<UInt64>(0)
  private let fsyncNanos = Atomic<UInt64>(0)
  private let snapshots = Atomic<UInt64>(0)
  /// Float64 bits of the newest full snapshot's creation time (Unix seconds); 0: none.
  private let lastSnapshotUnix = Atomic<UInt64>(0)
  private let lastSnapshotBytes = Atomic<UInt64>(0)
  private let lastSnapshotNanos = Atomic<UInt64>(0)

  init() {}

  // Relaxed everywhere: independent statistics; a reader may see one figure a moment before
  // another, and nothing else is published through them.

  func recordFsync(nanoseconds: UInt64) {
    let seconds = Double(nanoseconds) * 1e-9
    if let i = Self.fsyncBounds.firstIndex(where: { seconds <= $0 }) {
      fsyncBuckets[i].value.wrappingAdd(1, ordering: .relaxed)
    }
    fsyncNanos.wrappingAdd(nanoseconds, ordering: .relaxed)
    fsyncCount.wrappingAdd(1, ordering: .relaxed)
  }

  /// A full snapshot on disk: `written` when this process wrote it (taking `nanoseconds`), else
  /// found at recovery.
  func recordSnapshot(createdUnix: Double, bytes: Int, nanoseconds: UInt64?) {
    lastSnapshotUnix.store(createdUnix.bitPattern, ordering: .relaxed)
    lastSnapshotBytes.store(UInt64(bytes), ordering: .relaxed)
    if let nanoseconds {
      lastSnapshotNanos.store(nanoseconds, ordering: .relaxed)
      snapshots.wrappingAdd(1, ordering: .relaxed)
    }
  }

  /// The figures now.
  public var snapshot: Snapshot {
    Snapshot(
      fsyncs: fsyncCount.load(ordering: .relaxed),
      fsyncSecondsSum: Double(fsyncNanos.load(ordering: .relaxed)) * 1e-9,
      fsyncBuckets: fsyncBuckets.map { $0.value.load(ordering: .relaxed) },
      snapshotsWritten: snapshots.load(ordering: .relaxed),
      lastSnapshotUnix: Double(bitPattern: lastSnapshotUnix.load(ordering: .relaxed)),
      lastSnapshotBytes: lastSnapshotBytes.load(ordering: .relaxed),
      lastSnapshotSeconds: Double(lastSnapshotNanos.load(ordering: .relaxed)) * 1e-9)
  }

  /// The figures at one moment (`walBytes` and `persistent` are filled by the store).
  public struct Snapshot: Sendable, Equatable {
    public var persistent = false
    public var walBytes: UInt64 = 0
    public var fsyncs: UInt64
    public var fsyncSecondsSum: Double
    /// Per bound of `StoreMetrics.fsyncBounds`, not cumulative.
    public var fsyncBuckets: [UInt64]
    public var snapshotsWritten: UInt64
    public var lastSnapshotUnix: Double
    public var lastSnapshotBytes: UInt64
    public var lastSnapshotSeconds: Double

    public init(
      persistent: Bool = false, walBytes: UInt64 = 0, fsyncs: UInt64, fsyncSecondsSum: Double,
      fsyncBuckets: [UInt64], snapshotsWritten: UInt64, lastSnapshotUnix: Double, lastSnapshotBytes: UInt64,
      lastSnapshotSeconds: Double
    ) {
      self.persistent = persistent
      self.walBytes = walBytes
      self.fsyncs = fsyncs
      self.fsyncSecondsSum = fsyncSecondsSum
      self.fsyncBuckets = fsyncBuckets
      self.snapshotsWritten = snapshotsWritten
      self.lastSnapshotUnix = lastSnapshotUnix
      self.lastSnapshotBytes = lastSnapshotBytes
      self.lastSnapshotSeconds = lastSnapshotSeconds
    }
  }
}

extension StateStore {
  /// The state directory's figures now (log bytes read from the directory).
  public var storeMetrics: StoreMetrics.Snapshot {
    var s = metrics.snapshot
    s.persistent = options != nil
    if options != nil { s.walBytes = UInt64(logBytes) }
    return s
  }
}

/// Nanoseconds from a duration (non-negative).
func nanoseconds(_ d: Duration) -> UInt64 {
  let (s, atto) = d.components
  return UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
}
