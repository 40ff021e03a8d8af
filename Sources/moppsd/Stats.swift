import ArgumentParser
import Foundation
import MoPPSClient
import MoPPSEngine
import MoPPSProtocol

struct Stats: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print a running moppsd's statistics: requests and errors per method, latency, pools, memory.",
    discussion: """
      Latencies are the server's handling time per request (decoded request to encoded reply), from \
      a log-linear histogram (±3 %). --format prometheus prints the Prometheus text exposition format \
      (e.g. for a node-exporter textfile collector; a server started with --http serves its fuller \
      /metrics, with histograms, itself).

      Examples:
        moppsd stats --endpoint ipc://./mopps-state/moppsd.sock
        moppsd stats --endpoint tcp://127.0.0.1:5555 --format prometheus
      """)

  @Option(help: ArgumentHelp("The server's request endpoint.", valueName: "endpoint"))
  var endpoint: String = "ipc://./mopps-state/moppsd.sock"

  @Option(help: "text or prometheus.")
  var format: String = "text"

  @Option(help: "Seconds to wait for the reply.")
  var timeout: Double = 5

  func validate() throws {
    guard ["text", "prometheus"].contains(format) else {
      throw ValidationError("--format must be text or prometheus")
    }
    guard timeout > 0 && timeout <= 3600 else {
      throw ValidationError("--timeout must be in (0, 3600] seconds")
    }
  }

  func run() throws {
    let report = try fetch()
    print(format == "prometheus" ? Self.prometheus(report) : Self.text(report), terminator: "")
  }

  func fetch() throws -> StatsReport {
    ServerCall.run(endpoint: endpoint, timeout: timeout) { c throws(MoPPSError) in try c.stats() }
  }

  static func text(_ r: StatsReport) -> String {
    var out = "uptime \(Int(r.uptimeSeconds)) s, \(r.requests) requests, RSS \(r.residentBytes >> 20) MiB, "
    out += "pools \(r.poolBytes >> 20) MiB, kernel \(r.kernel) on \(r.cpu)\n\n"
    out += pad("method", 14) + pad("count", 10, right: true) + pad("errors", 8, right: true)
    out +=
      ["p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs"].map { pad($0, 10, right: true) }.joined() + "\n"
    for m in r.methods {
      out += pad(m.method, 14) + pad("\(m.count)", 10, right: true) + pad("\(m.errors)", 8, right: true)
      out += [m.p50, m.p90, m.p99, m.p999, m.maxMicros].map {
        pad(String(Int($0.rounded())), 10, right: true)
      }.joined()
      let codes = m.errorsByCode.sorted { $0.key.rawValue < $1.key.rawValue }.map {
        "\($0.key.name) \($0.value)"
      }
      out += (codes.isEmpty ? "" : "  (" + codes.joined(separator: ", ") + ")") + "\n"
    }
    if !r.pools.isEmpty { out += "\n" }
    for p in r.pools {
      out += "pool \(p.name): \(p.prompts) prompts, \(p.selects) selects, \(p.updates) updates\n"
      guard let m = r.poolMetrics[p.name] else { continue }
      let mean = p.prompts > 0 ? m.meanSum / Double(p.prompts) : 0
      out +=
        "  \(m.promptsWithData) with data, mean posterior mean \(fixed(mean)); posterior means per decile "
      out += m.meanHistogram.map(String.init).joined(separator: " ") + "\n"
      if m.lastSelectBatch > 0 {
        out += "  last select: \(m.lastSelectBatch) prompts, mean sample \(fixed(m.lastSelectMeanSample))\n"
      }
      if let u = m.recentUpdates.last {
        out +=
          "  last update: \(u.prompts) prompts, predicted \(fixed(u.predicted)), realised \(fixed(u.realised)), "
        out +=
          "all solved \(fixed(u.allSolved)), all failed \(fixed(u.allFailed)), effective \(fixed(u.effectiveRatio))\n"
      }
    }
    if let s = r.store, s.persistent {
      out += "\nlog \(s.walBytes) bytes, \(s.fsyncs) fsyncs (\(fixed(s.fsyncSecondsSum * 1000)) ms in all), "
      out += "\(s.snapshotsWritten) snapshots written"
      if s.lastSnapshotUnix > 0 {
        out += "; newest snapshot \(s.lastSnapshotBytes) bytes, "
        out += "\(Int(Date().timeIntervalSince1970 - s.lastSnapshotUnix)) s old"
      }
      out += "\n"
    }
    return out
  }

  static func fixed(_ v: Double) -> String { String(format: "%.3f", v) }

  static func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return right ? fill + s : s + fill
  }

  static func prometheus(_ r: StatsReport) -> String {
    func label(_ s: String) -> String {
      s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
    var lines = [
      "# HELP moppsd_uptime_seconds Seconds since the server started.", "# TYPE moppsd_uptime_seconds gauge",
      "moppsd_uptime_seconds \(r.uptimeSeconds)",
      "# HELP moppsd_resident_bytes Resident set size of the server process.",
      "# TYPE moppsd_resident_bytes gauge",
      "moppsd_resident_bytes \(r.residentBytes)",
      "# HELP moppsd_pool_bytes Bytes of posterior storage and id maps.", "# TYPE moppsd_pool_bytes gauge",
      "moppsd_pool_bytes \(r.poolBytes)",
      "# HELP moppsd_kernel_info The SIMD kernel variant in use (value 1).",
      "# TYPE moppsd_kernel_info gauge",
      "moppsd_kernel_info{kernel=\"\(label(r.kernel))\",cpu=\"\(label(r.cpu))\"} 1",
      "# HELP moppsd_requests_total Requests handled, by method.", "# TYPE moppsd_requests_total counter",
    ]
    lines += r.methods.map { "moppsd_requests_total{method=\"\(label($0.method))\"} \($0.count)" }
    lines += [
      "# HELP moppsd_request_errors_total Failed requests, by method and status code.",
      "# TYPE moppsd_request_errors_total counter",
    ]
    for m in r.methods {
      for (code, n) in m.errorsByCode.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
        lines.append("moppsd_request_errors_total{method=\"\(label(m.method))\",code=\"\(code.name)\"} \(n)")
      }
    }
    lines += [
      "# HELP moppsd_request_handling_seconds Server-side handling time of the decoded requests (a summary; "
        + "serve --http's /metrics has the histogram moppsd_request_duration_seconds).",
      "# TYPE moppsd_request_handling_seconds summary",
    ]
    for m in r.methods {
      let method = "method=\"\(label(m.method))\""
      for (q, v) in [("0.5", m.p50), ("0.9", m.p90), ("0.99", m.p99), ("0.999", m.p999)] {
        lines.append("moppsd_request_handling_seconds{\(method),quantile=\"\(q)\"} \(v / 1e6)")
      }
      // The quantiles and the sum cover the timed (decoded) requests, so the count does too;
      // moppsd_requests_total counts every request.
      lines.append("moppsd_request_handling_seconds_sum{\(method)} \(m.sumMicros / 1e6)")
      lines.append("moppsd_request_handling_seconds_count{\(method)} \(m.timed)")
    }
    lines += ["# HELP moppsd_pool_prompts Prompts per pool.", "# TYPE moppsd_pool_prompts gauge"]
    lines += r.pools.map { "moppsd_pool_prompts{pool=\"\(label($0.name))\"} \($0.prompts)" }
    lines += [
      "# HELP moppsd_pool_updates_total Updates per pool.", "# TYPE moppsd_pool_updates_total counter",
    ]
    lines += r.pools.map { "moppsd_pool_updates_total{pool=\"\(label($0.name))\"} \($0.updates)" }
    return lines.joined(separator: "\n") + "\n"
  }
}
