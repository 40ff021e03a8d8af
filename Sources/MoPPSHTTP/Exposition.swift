import MoPPSEngine
import MoPPSProtocol
import MoPPSServer

/// The Prometheus text exposition format (version 0.0.4) of a `MetricsView`.
enum Exposition {
  /// One metric family: HELP and TYPE once, then its samples.
  struct Family {
    let name: String
    let type: String
    let help: String
    var samples: [String] = []

    mutating func add(_ labels: [(String, String)], _ value: Double, suffix: String = "") {
      let body =
        labels.isEmpty ? "" : "{" + labels.map { "\($0.0)=\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
      samples.append("\(name)\(suffix)\(body) \(format(value))")
    }

    /// A histogram from per-bucket counts (not cumulative) over `bounds`; `count` includes values
    /// above the last bound.
    mutating func histogram(
      _ labels: [(String, String)], bounds: [Double], buckets: [UInt64], count: UInt64, sum: Double
    ) {
      var cumulative: UInt64 = 0
      for (bound, n) in zip(bounds, buckets) {
        cumulative += n
        add(labels + [("le", format(bound))], Double(cumulative), suffix: "_bucket")
      }
      add(labels + [("le", "+Inf")], Double(count), suffix: "_bucket")
      add(labels, sum, suffix: "_sum")
      add(labels, Double(count), suffix: "_count")
    }

    var text: String {
      (["# HELP \(name) \(help)", "# TYPE \(name) \(type)"] + samples).joined(separator: "\n")
    }
  }

  /// A label value with `\\`, `"` and newline escaped. Plain Swift: Foundation's
  /// `replacingOccurrences` bridges through NSString on Linux and made a scrape cost milliseconds.
  static func escape(_ s: String) -> String {
    // Backslash, double quote, newline.
    guard s.utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) else { return s }
    var out = ""
    out.reserveCapacity(s.utf8.count + 8)
    for c in s.unicodeScalars {
      switch c {
      case "\\": out += "\\\\"
      case "\"": out += "\\\""
      case "\n": out += "\\n"
      default: out.unicodeScalars.append(c)
      }
    }
    return out
  }

  /// Integers without a fraction, others in Swift's shortest round-trip form.
  static func format(_ v: Double) -> String {
    if v.isNaN { return "NaN" }
    if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
  }

  static func render(_ v: MetricsView) -> String {
    var families: [Family] = []
    var info = Family(
      name: "moppsd_build_info", type: "gauge", help: "The server's version and SIMD kernel (value 1).")
    info.add([("version", v.version), ("kernel", v.kernel), ("cpu", v.cpu)], 1)
    families.append(info)
    var uptime = Family(
      name: "moppsd_uptime_seconds", type: "gauge", help: "Seconds since the server started.")
    uptime.add([], v.uptimeSeconds)
    families.append(uptime)
    var ready = Family(
      name: "moppsd_ready", type: "gauge", help: "1 when the state is recovered and the sockets are bound.")
    ready.add([], v.ready ? 1 : 0)
    families.append(ready)
    var rss = Family(
      name: "process_resident_memory_bytes", type: "gauge", help: "Resident set size of the server process.")
    rss.add([], Double(v.residentBytes))
    families.append(rss)

    families += requestFamilies(v.requests)
    families += storeFamilies(v.store, now: v.nowUnix)
    families += poolFamilies(v.pools)
    // A family with no samples (no requests yet) is left out rather than listed empty.
    return families.filter { !$0.samples.isEmpty }.map(\.text).joined(separator: "\n") + "\n"
  }

  static func requestFamilies(_ requests: [RequestFigures]) -> [Family] {
    var total = Family(
      name: "moppsd_requests_total", type: "counter", help: "Requests handled, by method and status code.")
    var errors = Family(
      name: "moppsd_request_errors_total", type: "counter",
      help: "Failed requests, by method and status code.")
    var duration = Family(
      name: "moppsd_request_duration_seconds", type: "histogram",
      help: "Server-side handling time, from the decoded request to the encoded reply.")
    for r in requests {
      total.add([("method", r.method), ("code", StatusCode.ok.name)], Double(r.ok))
      for (code, n) in r.errorsByCode.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
        total.add([("method", r.method), ("code", code.name)], Double(n))
        errors.add([("method", r.method), ("code", code.name)], Double(n))
      }
      duration.histogram(
        [("method", r.method)], bounds: RequestFigures.bounds, buckets: r.buckets, count: r.timed,
        sum: r.secondsSum)
    }
    return [total, errors, duration]
  }

  static func storeFamilies(_ s: StoreFigures, now: Double) -> [Family] {
    var persistent = Family(
      name: "moppsd_persistent", type: "gauge", help: "1 when state is kept in a state directory.")
    persistent.add([], s.persistent ? 1 : 0)
    guard s.persistent else { return [persistent] }
    var wal = Family(name: "moppsd_wal_bytes", type: "gauge", help: "Bytes in the write-ahead log files.")
    wal.add([], Double(s.walBytes))
    var fsync = Family(
      name: "moppsd_wal_fsync_duration_seconds", type: "histogram", help: "Time of each fsync of the log.")
    fsync.histogram(
      [], bounds: s.fsyncBounds, buckets: s.fsyncBuckets, count: s.fsyncs, sum: s.fsyncSecondsSum)
    var written = Family(
      name: "moppsd_snapshots_written_total", type: "counter", help: "Full snapshots written by this process."
    )
    written.add([], Double(s.snapshotsWritten))
    var out = [persistent, wal, fsync, written]
    if s.lastSnapshotUnix > 0 {
      var at = Family(
        name: "moppsd_last_snapshot_timestamp_seconds", type: "gauge",
        help: "Creation time of the newest full snapshot (Unix seconds).")
      at.add([], s.lastSnapshotUnix)
      var age = Family(
        name: "moppsd_last_snapshot_age_seconds", type: "gauge",
        help: "Seconds since the newest full snapshot.")
      age.add([], max(0, now - s.lastSnapshotUnix))
      var bytes = Family(
        name: "moppsd_last_snapshot_bytes", type: "gauge", help: "Size of the newest full snapshot.")
      bytes.add([], Double(s.lastSnapshotBytes))
      out += [at, age, bytes]
    }
    if s.snapshotsWritten > 0 {
      var took = Family(
        name: "moppsd_last_snapshot_duration_seconds", type: "gauge",
        help: "Time the last full snapshot written by this process took.")
      took.add([], s.lastSnapshotSeconds)
      out.append(took)
    }
    return out
  }

  static func poolFamilies(_ pools: [PoolFigures]) -> [Family] {
    var poolInfo = Family(name: "moppsd_pool_info", type: "gauge", help: "A pool and its strategy (value 1).")
    var prompts = Family(name: "moppsd_pool_prompts", type: "gauge", help: "Prompts registered in the pool.")
    var withData = Family(
      name: "moppsd_pool_prompts_with_data", type: "gauge",
      help: "Prompts whose posterior differs from the pool's prior.")
    var selects = Family(
      name: "moppsd_pool_selects_total", type: "counter", help: "Selects the pool answered.")
    var updates = Family(
      name: "moppsd_pool_updates_total", type: "counter", help: "Updates the pool applied.")
    var means = Family(
      name: "moppsd_pool_posterior_mean", type: "histogram",
      help: "Posterior means alpha/(alpha+beta) of the pool's prompts.")
    var sample = Family(
      name: "moppsd_pool_last_select_mean_sample", type: "gauge",
      help: "Mean sampled success rate of the prompts the last select chose.")
    var batch = Family(
      name: "moppsd_pool_last_select_batch_size", type: "gauge", help: "Prompts the last select chose.")
    var realised = Family(
      name: "moppsd_pool_last_update_success_rate", type: "gauge",
      help: "Successes over trials of the last update's batch.")
    var predicted = Family(
      name: "moppsd_pool_last_update_predicted_rate", type: "gauge",
      help: "Mean posterior mean of the last update's prompts before it (the predicted success rate).")
    var solved = Family(
      name: "moppsd_pool_last_update_all_solved_ratio", type: "gauge",
      help: "Share of the last update's prompts with every rollout solved.")
    var failed = Family(
      name: "moppsd_pool_last_update_all_failed_ratio", type: "gauge",
      help: "Share of the last update's prompts with every rollout failed.")
    var effective = Family(
      name: "moppsd_pool_last_update_effective_ratio", type: "gauge",
      help: "Share of the last update's prompts neither all solved nor all failed.")
    var state = Family(
      name: "moppsd_pool_strategy_state", type: "gauge",
      help: "A strategy's own state, by name (e.g. p_easy).")
    for p in pools {
      let l = [("pool", p.info.name)]
      let strategy = p.info.config.strategy.rawValue
      poolInfo.add(l + [("strategy", strategy)], 1)
      prompts.add(l, Double(p.info.promptCount))
      withData.add(l, Double(p.metrics.promptsWithData))
      selects.add(l, Double(p.info.selectCount))
      updates.add(l, Double(p.info.updateCount))
      let n = p.metrics.meanHistogram.reduce(0, +)
      means.histogram(
        l, bounds: PoolMetrics.meanBounds, buckets: p.metrics.meanHistogram, count: n, sum: p.metrics.meanSum)
      if p.metrics.lastSelectBatch > 0 {
        sample.add(l, p.metrics.lastSelectMeanSample)
        batch.add(l, Double(p.metrics.lastSelectBatch))
      }
      if let last = p.metrics.recentUpdates.last {
        realised.add(l, last.realised)
        predicted.add(l, last.predicted)
        solved.add(l, last.allSolved)
        failed.add(l, last.allFailed)
        effective.add(l, last.effectiveRatio)
      }
      for g in p.gauges { state.add(l + [("strategy", strategy), ("name", g.name)], g.value) }
    }
    return [
      poolInfo, prompts, withData, selects, updates, means, sample, batch, realised, predicted, solved,
      failed,
      effective, state,
    ].filter { !$0.samples.isEmpty }
  }
}
