import Foundation
import MoPPSEngine
import MoPPSPlatform
import MoPPSProtocol
import MoPPSServer
import NIOHTTP1
import Synchronization

/// What each path answers, from the server's figures at the moment of the request.
final class HTTPRoutes: Sendable {
  /// Pools with more prompts than this have their metrics (one pass over every posterior) reused for
  /// `cacheWindow`, so that many scrapes at once cost one pass, not one each.
  static let cachedAbove = 100_000
  static let cacheWindow = Duration.milliseconds(200)

  private enum State {
    case starting(String)
    case serving(Server)
  }
  private let state = Mutex<State>(.starting("recovering the state directory and binding the sockets"))
  private let cache = Mutex<[ObjectIdentifier: (at: ContinuousClock.Instant, metrics: PoolMetrics)]>([:])

  func attach(_ server: Server) { state.withLock { $0 = .serving(server) } }
  func notReady(_ reason: String) { state.withLock { $0 = .starting(reason) } }

  private var server: Server? {
    state.withLock {
      if case .serving(let s) = $0 { return s }
      return nil
    }
  }

  /// nil when ready, else why not.
  var notReadyReason: String? {
    state.withLock { s -> String? in
      switch s {
      case .starting(let reason): return reason
      case .serving(let server): return server.isShutdownRequested ? "shutting down" : nil
      }
    }
  }

  func respond(method: HTTPMethod, uri: String) -> HTTPResponse {
    let path =
      uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
    let known = ["/", "/index.html", "/metrics", "/healthz", "/readyz", "/api/stats.json"]
    guard known.contains(path) else {
      return HTTPResponse(
        status: .notFound, text: "no such path: \(path.prefix(200)); try /, /metrics, /healthz, /readyz\n")
    }
    guard method == .GET || method == .HEAD else {
      var r = HTTPResponse(status: .methodNotAllowed, text: "\(path) answers GET and HEAD only\n")
      r.headers = [("Allow", "GET, HEAD")]
      return r
    }
    switch path {
    case "/healthz":
      return HTTPResponse(text: "ok\n")
    case "/readyz":
      if let reason = notReadyReason {
        return HTTPResponse(status: .serviceUnavailable, text: "not ready: \(reason)\n")
      }
      return HTTPResponse(text: "ready\n")
    case "/metrics":
      guard let view = view() else {
        return HTTPResponse(
          status: .serviceUnavailable, text: "not ready: \(notReadyReason ?? "starting"); no metrics yet\n")
      }
      return HTTPResponse(
        contentType: "text/plain; version=0.0.4; charset=utf-8", text: Exposition.render(view))
    case "/api/stats.json":
      guard let view = view() else {
        return HTTPResponse(
          status: .serviceUnavailable, contentType: "application/json",
          text: #"{"ready":false,"reason":"\#(notReadyReason ?? "starting")"}"#)
      }
      return HTTPResponse(contentType: "application/json", text: DashboardJSON.render(view))
    default:
      return HTTPResponse(contentType: "text/html; charset=utf-8", text: DashboardPage.html)
    }
  }

  /// Everything a response shows, read now; nil before the server is attached.
  func view() -> MetricsView? {
    guard let server else { return nil }
    let dispatcher = server.dispatcher
    let now = ContinuousClock.now
    let pools = dispatcher.engine.listPools().map { pool in
      let info = pool.info
      return (info: info, metrics: metrics(of: pool, now: now), gauges: info.strategyGauges)
    }
    return MetricsView(
      version: ServerConfig.version, kernel: dispatcher.engine.kernel.name, cpu: Kernel.cpuName,
      uptimeSeconds: dispatcher.uptimeSeconds, ready: notReadyReason == nil,
      residentBytes: ProcessInfoReader.residentBytes(), requests: dispatcher.requestFigures(),
      store: dispatcher.storeFigures(), nowUnix: Date().timeIntervalSince1970, pools: pools)
  }

  private func metrics(of pool: Pool, now: ContinuousClock.Instant) -> PoolMetrics {
    guard pool.info.promptCount > Self.cachedAbove else { return pool.metrics }
    let key = ObjectIdentifier(pool)
    if let hit = cache.withLock({ $0[key] }), now - hit.at < Self.cacheWindow { return hit.metrics }
    let fresh = pool.metrics
    cache.withLock { c in
      // Entries of dropped or replaced pools go once they are stale.
      c = c.filter { now - $0.value.at < Self.cacheWindow }
      c[key] = (now, fresh)
    }
    return fresh
  }
}

/// The figures one response shows.
struct MetricsView: Sendable {
  var version: String
  var kernel: String
  var cpu: String
  var uptimeSeconds: Double
  var ready: Bool
  var residentBytes: Int
  var requests: [RequestFigures]
  var store: StoreFigures
  var nowUnix: Double
  var pools: [PoolFigures]
}

/// One pool as `/metrics` and the dashboard show it: its info, its algorithm figures and its
/// strategy's own gauges.
typealias PoolFigures = (info: PoolInfo, metrics: PoolMetrics, gauges: [(name: String, value: Double)])
