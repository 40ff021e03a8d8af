import ArgumentParser
import Logging
import MoPPSEngine
import MoPPSPersistence
import MoPPSPlatform
import MoPPSProtocol
import MoPPSServer
import ZeroMQ

@main
struct Moppsd: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "moppsd",
    abstract: "MoPPS prompt-selection sidecar for RL trainers, over ZeroMQ + protobuf.",
    discussion: """
      moppsd keeps a Beta posterior of the success rate of every prompt, Thompson-samples them, and \
      answers "which B prompts next?" (Select) and "here is how they scored" (Update) for trainers in \
      any language. The wire contract is proto/mopps/v1/*.proto.

      Examples:
        moppsd serve                                   # ipc in ./mopps-state + tcp://127.0.0.1:5555
        moppsd serve --listen ipc:///tmp/mopps.sock --publish ipc:///tmp/mopps-events.sock
      """,
    version: ServerConfig.version,
    subcommands: [
      Serve.self, Health.self, Stats.self, Keygen.self, Inspect.self, ImportState.self, ExportState.self,
      Bench.self,
      Sample.self,
    ],
    defaultSubcommand: nil)

  /// Logs go to stderr as logfmt from the start, for every subcommand (serve then sets its level).
  static func main() {
    Log.bootstrap(level: .info)
    main(nil)
  }
}

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
  var fsync: String = FsyncPolicy.batch.rawValue

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
  var logLevel: String = "info"

  func validate() throws {
    guard Logger.Level(rawValue: logLevel) != nil else {
      throw ValidationError(
        "--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    guard FsyncPolicy(rawValue: fsync) != nil else {
      throw ValidationError("--fsync must be always, batch or none; got \"\(fsync)\"")
    }
    guard snapshotEvery > 0 else { throw ValidationError("--snapshot-every must be > 0") }
    guard snapshotInterval > 0 else { throw ValidationError("--snapshot-interval must be > 0") }
    guard dedupeWindow > 0 else { throw ValidationError("--dedupe-window must be > 0") }
    guard selectDedupeWindow > 0 else { throw ValidationError("--select-dedupe-window must be > 0") }
    guard maxPools > 0 else { throw ValidationError("--max-pools must be > 0") }
    guard (1...ServerConfig.defaultMaxPromptsPerPool).contains(maxPromptsPerPool) else {
      throw ValidationError("--max-prompts-per-pool must be in 1...\(ServerConfig.defaultMaxPromptsPerPool)")
    }
    let config = try makeConfig()
    do throws(ServerError) {
      try config.validate()
    } catch {
      throw ValidationError(error.message)
    }
  }

  private func makeConfig() throws -> ServerConfig {
    var config = ServerConfig(
      listen: listen.isEmpty ? ServerConfig.defaultListen(stateDir: stateDir) : listen,
      publish: publish.isEmpty ? ServerConfig.defaultPublish(stateDir: stateDir) : publish,
      stateDir: stateDir, insecure: insecure, maxMessageBytes: maxMessageBytes, maxIDsPerRequest: maxIDs,
      workers: workers)
    config.busyPollMicros = busyPollMicros
    config.maxRequestMemory = maxRequestMemory
    do throws(ServerError) {
      if let path = curveSecretKey { config.curveSecretKey = try KeyFiles.readSecretKey(path) }
      if let path = curveAllow { config.curveAllow = try KeyFiles.readAllowList(path) }
    } catch {
      throw ValidationError(error.message)
    }
    return config
  }

  func run() throws {
    if mkdir(stateDir, 0o755) != 0 && errno != EEXIST {
      throw ValidationError("--state-dir \(stateDir): cannot create it: \(String(cString: strerror(errno)))")
    }
    Log.bootstrap(level: Logger.Level(rawValue: logLevel)!)
    if let curveSecretKey { KeyFiles.warnIfReadableByOthers(secretKey: curveSecretKey) }
    Shutdown.installSignalHandlers()
    if exitWithParent { Shutdown.exitWithParent() }
    let engine = Engine(windows: Engine.Windows(updates: dedupeWindow, selects: selectDedupeWindow))
    let limits = StateStore.Limits(maxPools: maxPools, maxPromptsPerPool: maxPromptsPerPool)
    let store: StateStore
    if noPersistence {
      store = .inMemory(engine: engine, limits: limits)
    } else {
      do throws(PersistenceError) {
        let options = StateStore.Options(
          directory: stateDir, fsync: FsyncPolicy(rawValue: fsync)!, snapshotEvery: snapshotEvery,
          snapshotInterval: snapshotInterval, acceptDataLoss: acceptDataLoss)
        let (opened, report) = try StateStore.open(engine: engine, options: options, limits: limits)
        for line in report { Log.info(line) }
        store = opened
      } catch {
        Log.error("cannot open --state-dir \(stateDir): \(error.message)")
        throw ExitCode.failure
      }
    }
    defer { store.close() }
    let server: Server
    let config = try makeConfig()
    do throws(ServerError) {
      server = try Server(
        config: config,
        dispatcher: Dispatcher(
          store: store, maxIDsPerRequest: config.maxIDsPerRequest, maxMessageBytes: Int(maxMessageBytes),
          maxRequestMemory: maxRequestMemory))
    } catch {
      Log.error(error.message)
      throw ExitCode.failure
    }
    if let secret = server.config.curveSecretKey {
      let pub = (try? Curve.publicKey(ofSecret: secret)) ?? "?"
      Log.info(
        "CURVE on: server public key \(pub); \(server.config.curveAllow.map { "\($0.count) allowed client key(s)" } ?? "any client key")"
      )
    }
    Log.info(
      "moppsd \(ServerConfig.version) serving on \(server.boundListen.joined(separator: ", ")) "
        + "with \(workers) worker(s); events on \(server.boundPublish.joined(separator: ", "))")
    server.run()
    Log.info("stopped")
  }
}
