import MoPPSEngine
import MoPPSProtoC

/// The Stats reply, decoded (for `moppsd stats` and other Swift clients).
public struct StatsReport: Sendable, Equatable {
  public var uptimeSeconds: Double
  public var requests: UInt64
  public var methods: [MethodCounters]
  public var pools: [(name: String, prompts: UInt64, selects: UInt64, updates: UInt64)]
  public var residentBytes: UInt64
  public var poolBytes: UInt64
  /// The kernel variant the server runs ("baseline", "avx2", "avx512") and the CPU it runs on.
  public var kernel: String
  public var cpu: String
  /// Each pool's algorithm figures, by pool name (servers before 0.x send none).
  public var poolMetrics: [String: PoolMetrics] = [:]
  /// The state directory's figures (nil from servers that send none).
  public var store: StoreFigures? = nil

  public static func == (l: Self, r: Self) -> Bool {
    l.uptimeSeconds == r.uptimeSeconds && l.requests == r.requests && l.methods == r.methods
      && l.pools.map(\.name) == r.pools.map(\.name) && l.residentBytes == r.residentBytes
      && l.poolBytes == r.poolBytes && l.kernel == r.kernel && l.cpu == r.cpu
      && l.poolMetrics == r.poolMetrics
      && l.store == r.store
  }
}

/// Decoders for replies, for clients (the CLI, tests) of the server's own encoders.
extension Reply {
  /// Decodes a Status frame (for clients and tests); an unknown code maps to UNKNOWN.
  public static func decodeStatus(_ bytes: [UInt8]) throws(MoPPSError) -> (
    code: StatusCode, message: String
  ) {
    try unpack(bytes, as: "mopps.v1.Status", mopps__v1__status__unpack) {
      m in
      (StatusCode(rawValue: Int32(bitPattern: m.code.rawValue)) ?? .unknown, text(m.message))
    }
  }

  /// Decodes a Health reply body (for clients and the CLI).
  public static func decodeHealth(_ bytes: [UInt8]) throws(MoPPSError) -> (
    status: String, version: String, kernel: String
  ) {
    try unpack(
      bytes, as: "mopps.v1.HealthResponse", mopps__v1__health_response__unpack
    ) { m in (text(m.status), text(m.version), text(m.kernel)) }
  }

  /// Decodes a Stats reply body.
  public static func decodeStats(_ bytes: [UInt8]) throws(MoPPSError) -> StatsReport {
    try unpack(
      bytes, as: "mopps.v1.StatsResponse", mopps__v1__stats_response__unpack
    ) { m in
      var poolMetrics: [String: PoolMetrics] = [:]
      var methods: [MethodCounters] = []
      for i in 0..<m.n_methods {
        guard let s = m.methods[i]?.pointee else { continue }
        var c = MethodCounters(method: text(s.method), count: s.count, errors: s.errors)
        for j in 0..<s.n_errors_by_code {
          guard let cc = s.errors_by_code[j]?.pointee else { continue }
          c.errorsByCode[StatusCode(rawValue: Int32(bitPattern: cc.code.rawValue)) ?? .unknown] = cc.count
        }
        (c.p50, c.p90, c.p99, c.p999, c.maxMicros) = (s.p50_us, s.p90_us, s.p99_us, s.p999_us, s.max_us)
        (c.sumMicros, c.timed) = (s.sum_us, s.timed)
        methods.append(c)
      }
      var pools: [(name: String, prompts: UInt64, selects: UInt64, updates: UInt64)] = []
      for i in 0..<m.n_pools {
        guard let p = m.pools[i]?.pointee else { continue }
        pools.append((text(p.name), p.prompt_count, p.select_count, p.update_count))
        if let metrics = p.metrics?.pointee { poolMetrics[text(p.name)] = Self.poolMetrics(metrics) }
      }
      var report = StatsReport(
        uptimeSeconds: m.uptime_seconds, requests: m.requests, methods: methods, pools: pools,
        residentBytes: m.resident_bytes, poolBytes: m.pool_bytes, kernel: text(m.kernel), cpu: text(m.cpu))
      report.poolMetrics = poolMetrics
      if let s = m.store?.pointee {
        var f = StoreFigures()
        f.persistent = s.persistent != 0
        (f.walBytes, f.fsyncs, f.fsyncSecondsSum) = (s.wal_bytes, s.fsyncs, s.fsync_seconds_sum)
        f.fsyncBuckets = Array(UnsafeBufferPointer(start: s.fsync_buckets, count: s.n_fsync_buckets))
        f.fsyncBounds = Array(
          UnsafeBufferPointer(start: s.fsync_bucket_seconds, count: s.n_fsync_bucket_seconds))
        (f.snapshotsWritten, f.lastSnapshotUnix) = (s.snapshots_written, s.last_snapshot_unix)
        (f.lastSnapshotBytes, f.lastSnapshotSeconds) = (s.last_snapshot_bytes, s.last_snapshot_seconds)
        report.store = f
      }
      return report
    }
  }

  private static func poolMetrics(_ m: Mopps__V1__PoolMetrics) -> PoolMetrics {
    var updates: [UpdateFigures] = []
    for i in 0..<m.n_recent_updates {
      guard let u = m.recent_updates[i]?.pointee else { continue }
      updates.append(
        UpdateFigures(
          updateIndex: u.update_index, prompts: Int(u.prompts), predicted: u.predicted, realised: u.realised,
          allSolved: u.all_solved, allFailed: u.all_failed))
    }
    return PoolMetrics(
      promptsWithData: Int(clamping: m.prompts_with_data),
      meanHistogram: Array(UnsafeBufferPointer(start: m.mean_histogram, count: m.n_mean_histogram)),
      meanSum: m.mean_sum, lastSelectBatch: Int(m.last_select_batch),
      lastSelectMeanSample: m.last_select_mean_sample, recentUpdates: updates)
  }
}
