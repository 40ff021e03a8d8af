import Logging
import MoPPSEngine
import MoPPSPersistence
import MoPPSPlatform
import MoPPSProtocol

/// Everything `moppsd serve` needs, built once from flags (in `Serve.validate()`, key files read
/// there) and handed whole to `Server`, which builds the engine, the store and the dispatcher from it.
public struct ServerConfig: Sendable, Equatable {
  /// Request endpoints (one ROUTER socket bound to each).
  public var listen: [String]
  /// Event endpoints (one PUB socket bound to each).
  public var publish: [String]
  /// Where the default ipc sockets live (and, with `persistence`, normally its directory).
  public var stateDir: String
  /// The log and snapshots; nil: state in memory only (`--no-persistence`).
  public var persistence: StateStore.Options? = nil
  /// What clients may make the server hold (--max-pools, --max-prompts-per-pool).
  public var limits = StateStore.Limits()
  /// Request ids remembered per pool (--dedupe-window, --select-dedupe-window).
  public var windows = Engine.Windows()
  /// The SIMD kernel variant the engine runs (`serve --cpu`, `MOPPS_CPU`; default the fastest this
  /// CPU supports).
  public var kernel: Kernel = .best
  /// The level of the log lines on stderr.
  public var logLevel: Logger.Level = .info
  /// Allow binding non-loopback tcp addresses without encryption.
  public var insecure: Bool
  /// Inbound messages larger than this are refused by libzmq (the peer is disconnected).
  public var maxMessageBytes: Int64
  /// Ids (or candidates) one request may carry; more ⇒ RESOURCE_EXHAUSTED.
  public var maxIDsPerRequest: Int
  /// Estimated bytes decoding one request may allocate; more ⇒ RESOURCE_EXHAUSTED before decoding.
  public var maxRequestMemory: Int = RequestLimits.defaultMaxMemoryBytes
  /// Threads serving requests; a request waits only when all of them are busy.
  public var workers: Int
  /// CurveZMQ secret key (Z85) for the request and event sockets; nil: no encryption.
  public var curveSecretKey: String?
  /// Client public keys (Z85) let in by CURVE; nil: any client that knows the server's key. An
  /// empty list is refused by `validate()`: it would read as "nobody" and used to act as "anybody".
  public var curveAllow: [String]? = nil
  /// `--http HOST:PORT`: where `/metrics`, `/healthz`, `/readyz` and the dashboard are served
  /// (plain HTTP, so a non-loopback host needs `insecure`); nil: no HTTP.
  public var http: String? = nil
  /// After each request the broker polls without sleeping for this long, so that a client's next
  /// request does not pay for waking a sleeping thread (on this KVM guest about 40 µs per round
  /// trip); 0 disables it. It costs CPU only while requests keep arriving within the window.
  public var busyPollMicros: Int = defaultBusyPollMicros

  public static let version = moppsVersion
  public static let defaultMaxMessageBytes: Int64 = 256 << 20
  public static let defaultMaxIDsPerRequest = 1 << 24
  public static let defaultMaxPools = 1024
  public static let defaultMaxPromptsPerPool = 1 << 30
  public static let defaultBusyPollMicros = 500

  public init(
    listen: [String], publish: [String], stateDir: String, insecure: Bool = false,
    maxMessageBytes: Int64 = defaultMaxMessageBytes, maxIDsPerRequest: Int = defaultMaxIDsPerRequest,
    workers: Int = defaultWorkers
  ) {
    self.listen = listen
    self.publish = publish
    self.stateDir = stateDir
    self.insecure = insecure
    self.maxMessageBytes = maxMessageBytes
    self.maxIDsPerRequest = maxIDsPerRequest
    self.workers = workers
  }

  /// One worker per core.
  public static var defaultWorkers: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

  public static func defaultListen(stateDir: String) -> [String] {
    ["ipc://\(stateDir)/moppsd.sock", "tcp://127.0.0.1:5555"]
  }

  public static func defaultPublish(stateDir: String) -> [String] {
    ["ipc://\(stateDir)/events.sock", "tcp://127.0.0.1:5556"]
  }

  /// Whether tcp endpoints must be loopback only: neither encryption nor --insecure.
  var needsLoopback: Bool { !insecure && curveSecretKey == nil }

  /// Rejects endpoints that would expose the sidecar beyond this machine unless `insecure` is set.
  public func validate() throws(MoPPSError) {
    guard !listen.isEmpty else {
      throw MoPPSError(.invalidArgument, "--listen: at least one endpoint is needed")
    }
    for endpoint in listen + publish {
      let kinds = ["ipc://", "tcp://", "inproc://"]
      guard kinds.contains(where: endpoint.hasPrefix) else {
        throw MoPPSError(
          .invalidArgument, "endpoint \"\(endpoint)\": use ipc://PATH, tcp://HOST:PORT or inproc://NAME")
      }
      if endpoint.hasPrefix("tcp://") && needsLoopback && !Endpoints.isLoopback(endpoint) {
        throw MoPPSError(
          .invalidArgument,
          "endpoint \"\(endpoint)\" is reachable from other machines and moppsd has no encryption "
            + "configured; bind tcp://127.0.0.1:PORT, give --curve-secret-key (see moppsd keygen), "
            + "or pass --insecure to accept the risk")
      }
    }
    if let http { _ = try Self.httpAddress(http, insecure: insecure) }
    guard maxMessageBytes > 0 else { throw MoPPSError(.invalidArgument, "--max-message-bytes must be > 0") }
    guard maxIDsPerRequest > 0 else { throw MoPPSError(.invalidArgument, "--max-ids must be > 0") }
    guard maxRequestMemory >= 1 << 20 else {
      throw MoPPSError(.invalidArgument, "--max-request-memory must be at least 1048576")
    }
    if let allow = curveAllow {
      guard curveSecretKey != nil else {
        throw MoPPSError(.invalidArgument, "--curve-allow needs --curve-secret-key")
      }
      guard !allow.isEmpty else {
        throw MoPPSError(.invalidArgument, "--curve-allow: the allow list holds no client key")
      }
    }
    guard (0...1_000_000).contains(busyPollMicros) else {
      throw MoPPSError(.invalidArgument, "--busy-poll-us must be in 0...1000000, got \(busyPollMicros)")
    }
    guard (1...256).contains(workers) else {
      throw MoPPSError(.invalidArgument, "--workers must be in 1...256, got \(workers)")
    }
    if let p = persistence {
      guard p.snapshotEvery > 0 else { throw MoPPSError(.invalidArgument, "--snapshot-every must be > 0") }
      guard p.snapshotInterval > 0 else {
        throw MoPPSError(.invalidArgument, "--snapshot-interval must be > 0")
      }
    }
    guard windows.updates > 0 else { throw MoPPSError(.invalidArgument, "--dedupe-window must be > 0") }
    guard windows.selects > 0 else {
      throw MoPPSError(.invalidArgument, "--select-dedupe-window must be > 0")
    }
    guard limits.maxPools > 0 else { throw MoPPSError(.invalidArgument, "--max-pools must be > 0") }
    guard (1...Self.defaultMaxPromptsPerPool).contains(limits.maxPromptsPerPool) else {
      throw MoPPSError(
        .invalidArgument, "--max-prompts-per-pool must be in 1...\(Self.defaultMaxPromptsPerPool)")
    }
  }

  /// The host and port of `--http`, "HOST:PORT" or "[IPv6]:PORT" (port 0: any free port). HTTP has
  /// no encryption here, so a host that is not loopback is refused unless `insecure`.
  public static func httpAddress(_ text: String, insecure: Bool) throws(MoPPSError) -> (
    host: String, port: Int
  ) {
    let hint = "--http \"\(text)\": use HOST:PORT, e.g. --http 127.0.0.1:9464"
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      (0...65535).contains(port)
    else { throw MoPPSError(.invalidArgument, hint) }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty else { throw MoPPSError(.invalidArgument, hint) }
    if !insecure && !isLoopbackHost(host) {
      throw MoPPSError(
        .invalidArgument,
        "--http \"\(text)\" is reachable from other machines and HTTP here is not encrypted; bind "
          + "127.0.0.1:PORT (and put a proxy in front), or pass --insecure to accept the risk")
    }
    return (host, port)
  }

  /// Whether every address `host` stands for is a loopback address (the rule of tcp endpoints).
  public static func isLoopbackHost(_ host: String) -> Bool {
    Endpoints.isLoopback("tcp://" + (host.contains(":") ? "[\(host)]" : host) + ":0")
  }
}
