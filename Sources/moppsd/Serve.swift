import ArgumentParser
import Foundation
import Logging
import MoPPSEngine
import MoPPSHTTP
import MoPPSPersistence
import MoPPSPlatform
import MoPPSProtocol
import MoPPSServer
import ZeroMQ

struct Serve: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the sidecar until SIGINT or SIGTERM.",
    discussion: """
      Requests arrive as two frames [method][body] on the --listen endpoints (REQ or DEALER clients); \
      replies are [Status][body]. After every Select and Update an event is published on the \
      --publish endpoints with topic mopps.v1.<pool>.select / mopps.v1.<pool>.update.

      State is durable in --state-dir: every mutation goes to a write-ahead log (checksummed records, \
      fsync per --fsync), full snapshots compact it, and Snapshot/Restore keep tagged per-pool \
      snapshots for trainer checkpoints. On start the newest valid snapshot and the log after it are \
      loaded; a torn log tail is truncated and reported.

      On SIGINT/SIGTERM the requests in hand are answered, the log is flushed, sockets are closed, and \
      moppsd exits 0.

      Examples:
        moppsd serve --state-dir /var/lib/mopps
        moppsd serve --listen ipc:///tmp/a.sock --listen tcp://127.0.0.1:7000 --publish tcp://127.0.0.1:7001
      """)

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Endpoint for requests; repeat for several. Default: ipc://<state-dir>/moppsd.sock and tcp://127.0.0.1:5555.",
      valueName: "endpoint"))
  var listen: [String] = []

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Endpoint for PUB events; repeat for several. Default: ipc://<state-dir>/events.sock and tcp://127.0.0.1:5556.",
      valueName: "endpoint"))
  var publish: [String] = []

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Directory for the log, snapshots, tags and default ipc sockets (created if missing), e.g. --state-dir ./mopps-state.",
      valueName: "dir"))
  var stateDir: String = "./mopps-state"

  @Flag(
    name: .long,
    help:
      "Allow binding a tcp address reachable from other machines without encryption (e.g. tcp://0.0.0.0:5555)."
  )
  var insecure = false

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Serve /metrics (Prometheus), /healthz, /readyz and a live dashboard (/) over plain HTTP at HOST:PORT, "
        + "e.g. --http 127.0.0.1:9464 (port 0: any free port, logged); a non-loopback host needs --insecure. Default: off.",
      valueName: "host:port"))
  var http: String?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Encrypt and authenticate with CurveZMQ using this secret key file (from `moppsd keygen`), e.g. --curve-secret-key server.key.",
      valueName: "file"))
  var curveSecretKey: String?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "File of client public keys (one per line, lines starting with # ignored; at least one) let in with CURVE; default: any client that knows the server's public key.",
      valueName: "file"))
  var curveAllow: String?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Largest request body accepted, in bytes; bigger ones get RESOURCE_EXHAUSTED (twice this, libzmq drops the connection), e.g. --max-message-bytes 67108864.",
      valueName: "bytes"))
  var maxMessageBytes: Int64 = ServerConfig.defaultMaxMessageBytes

  @Option(
    name: .customLong("max-ids"),
    help: ArgumentHelp(
      "Most ids or candidates in one request; more is answered RESOURCE_EXHAUSTED (e.g. --max-ids 1000000).",
      valueName: "n"))
  var maxIDs: Int = ServerConfig.defaultMaxIDsPerRequest

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Most memory decoding one request may take, estimated from its bytes before it is decoded "
        + "(unpacked or many tiny fields cost far more than their size); more is answered RESOURCE_EXHAUSTED. "
        + "The default, 1 GiB, is a fixed value (not derived from other flags) that lets through every "
        + "request of numbers within the default --max-ids, packed or repeated (a Register of 16 M ids in "
        + "ids_le: about 256 MiB; an Update of 16 M ids in repeated fields: about 0.7 GiB); an Import name "
        + "costs about 120 bytes. E.g. --max-request-memory 268435456.",
      valueName: "bytes"))
  var maxRequestMemory: Int = RequestLimits.defaultMaxMemoryBytes

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Most pools the server holds; CreatePool beyond is RESOURCE_EXHAUSTED, e.g. --max-pools 64.",
      valueName: "n"))
  var maxPools: Int = ServerConfig.defaultMaxPools

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Most prompts in one pool (2^30 at most); growth beyond is RESOURCE_EXHAUSTED, e.g. --max-prompts-per-pool 20000000.",
      valueName: "n"))
  var maxPromptsPerPool: Int = ServerConfig.defaultMaxPromptsPerPool

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Threads serving requests (default: one per core); a request waits only when all are busy, e.g. --workers 4.",
      valueName: "n"))
  var workers: Int = ServerConfig.defaultWorkers

  @Option(
    name: .customLong("busy-poll-us"),
    help: ArgumentHelp(
      "After a request, poll without sleeping for this many microseconds so the next one is picked up "
        + "sooner (lower latency for back-to-back calls, CPU spent only while they keep coming); 0 disables.",
      valueName: "µs"))
  var busyPollMicros: Int = ServerConfig.defaultBusyPollMicros

  @Option(
    name: .long,
    help: ArgumentHelp(
      "When the log reaches the disk: always (before each reply), batch (every 10 ms, default), none (OS decides).",
      valueName: "policy"))
  var fsync: FsyncPolicy = .batch

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Full snapshot (and log compaction) after this many mutations, e.g. --snapshot-every 100000.",
      valueName: "n"))
  var snapshotEvery: Int = 100_000

  @Option(
    name: .long,
    help: ArgumentHelp(
      "…or after this many seconds if anything changed, e.g. --snapshot-interval 300.", valueName: "seconds"))
  var snapshotInterval: Double = 300

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Update request ids remembered per pool so that a retried Update applies once, e.g. --dedupe-window 4096.",
      valueName: "n"))
  var dedupeWindow: Int = 4096

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Select request ids remembered per pool with their replies, so that a retried or repeated Select (data-parallel ranks sharing one batch) gets the same batch, e.g. --select-dedupe-window 256.",
      valueName: "n"))
  var selectDedupeWindow: Int = Engine.Windows().selects

  @Flag(name: .long, help: "Keep state in memory only: no log, no snapshots (benchmarks, throwaway runs).")
  var noPersistence = false

  @Flag(
    name: .long,
    help:
      "Start even if --state-dir holds data that cannot be recovered (a log gap, a damaged log file with newer ones after it); without it such a start is refused and nothing is changed."
  )
  var acceptDataLoss = false

  @Flag(
    name: .long,
    help: "Stop (gracefully) when the process that started moppsd exits: for servers launched by a trainer.")
  var exitWithParent = false

  @Option(
    name: .long,
    help: ArgumentHelp(
      "trace, debug, info (default), notice, warning, error or critical; logs are logfmt lines on stderr.",
      valueName: "level"))
  var logLevel: Logger.Level = .info

  @Option(name: .customLong("cpu"), help: KernelChoice.help)
  var cpu: String?

  /// The whole configuration, built from the flags (and the key files, read here once) by
  /// `validate()`, which the argument parser runs before `run()`.
  @Built var config: ServerConfig?

  mutating func validate() throws {
    var config = ServerConfig(
      listen: listen.isEmpty ? ServerConfig.defaultListen(stateDir: stateDir) : listen,
      publish: publish.isEmpty ? ServerConfig.defaultPublish(stateDir: stateDir) : publish,
      stateDir: stateDir, insecure: insecure, maxMessageBytes: maxMessageBytes, maxIDsPerRequest: maxIDs,
      workers: workers)
    config.busyPollMicros = busyPollMicros
    config.http = http
    config.maxRequestMemory = maxRequestMemory
    config.logLevel = logLevel
    config.limits = StateStore.Limits(maxPools: maxPools, maxPromptsPerPool: maxPromptsPerPool)
    config.windows = Engine.Windows(updates: dedupeWindow, selects: selectDedupeWindow)
    config.kernel = try KernelChoice.resolve(flag: cpu)
    config.persistence = StateStore.Options(
      directory: stateDir, fsync: fsync, snapshotEvery: snapshotEvery, snapshotInterval: snapshotInterval,
      acceptDataLoss: acceptDataLoss)
    do throws(MoPPSError) {
      // Keys first: whether a non-loopback endpoint may be bound depends on them.
      if let path = curveSecretKey { config.curveSecretKey = try KeyFiles.readSecretKey(path) }
      if let path = curveAllow { config.curveAllow = try KeyFiles.readAllowList(path) }
      try config.validate()
    } catch {
      throw ValidationError(error.message)
    }
    if noPersistence { config.persistence = nil }
    self.config = config
  }

  func run() throws {
    guard let config else { throw ValidationError("serve: the configuration was not built") }
    if mkdir(stateDir, 0o755) != 0 && errno != EEXIST {
      throw ValidationError("--state-dir \(stateDir): cannot create it: \(errnoText(errno))")
    }
    Log.bootstrap(level: config.logLevel)
    if let curveSecretKey { KeyFiles.warnIfReadableByOthers(secretKey: curveSecretKey) }
    // A write past the file-size limit (RLIMIT_FSIZE) must fail with EFBIG, which the log handles
    // like a full disk, rather than kill the process.
    signal(SIGXFSZ, SIG_IGN)
    // HTTP first: /healthz answers and /readyz says why not while the state directory loads.
    var httpServer: HTTPServer? = nil
    if let http = config.http {
      do throws(MoPPSError) {
        let (host, port) = try ServerConfig.httpAddress(http, insecure: config.insecure)
        httpServer = try HTTPServer(host: host, port: port, insecure: config.insecure)
        Log.info("http on \(httpServer!.boundAddress): /metrics /healthz /readyz and the dashboard at /")
      } catch {
        Log.error(error.message)
        throw ExitCode.failure
      }
    }
    defer { httpServer?.stop() }
    let server: Server
    do throws(MoPPSError) {
      server = try Server(config: config)
    } catch {
      Log.error(error.message)
      httpServer?.notReady("start failed: \(error.message)")
      throw ExitCode.failure
    }
    httpServer?.attach(server)
    let signals = Self.stopOnSignals(server)
    defer { signals.forEach { $0.cancel() } }
    if exitWithParent { Self.stopWhenParentExits(server) }
    if let secret = config.curveSecretKey {
      let pub = (try? Curve.publicKey(ofSecret: secret)) ?? "?"
      Log.info(
        "CURVE on: server public key \(pub); \(config.curveAllow.map { "\($0.count) allowed client key(s)" } ?? "any client key")"
      )
    }
    Log.info(
      "moppsd \(ServerConfig.version) serving on \(server.boundListen.joined(separator: ", ")) "
        + "with \(config.workers) worker(s); events on \(server.boundPublish.joined(separator: ", ")); "
        + "kernel \(config.kernel) on \(Kernel.cpuName)")
    server.run()
    Log.info("stopped")
  }

  /// Routes SIGINT and SIGTERM to the server's graceful shutdown. The signals are blocked from
  /// their default action and delivered to dispatch sources, whose handlers run on a queue thread
  /// (so they may do more than a signal handler could); keep the sources until the server stops.
  static func stopOnSignals(_ server: Server) -> [any DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { sig in
      signal(sig, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
      source.setEventHandler { server.triggerGracefulShutdown() }
      source.resume()
      return source
    }
  }

  /// Stops the server gracefully when the process that started it dies (`--exit-with-parent`): a
  /// thread checks the parent pid five times a second (an orphan is re-parented). Polling rather
  /// than PR_SET_PDEATHSIG, whose signal follows the parent *thread* that forked (a Python launcher
  /// thread ending would stop the server) and which Glibc's module does not export.
  static func stopWhenParentExits(_ server: Server) {
    let parent = getppid()
    let watcher = Thread {
      while !server.isShutdownRequested {
        if getppid() != parent {
          Log.info("parent process \(parent) is gone: stopping")
          server.triggerGracefulShutdown()
          return
        }
        usleep(200_000)
      }
    }
    watcher.name = "moppsd-parent-watch"
    watcher.start()
  }
}

extension FsyncPolicy: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}

/// What `validate()` builds from the flags and `run()` uses; not a flag itself. The argument
/// parser decodes every stored property of a command; this one decodes to nothing.
@propertyWrapper
struct Built<Value: Sendable>: Decodable, Sendable {
  var wrappedValue: Value?
  init(wrappedValue: Value? = nil) { self.wrappedValue = wrappedValue }
  init(from decoder: any Decoder) throws { wrappedValue = nil }
}
