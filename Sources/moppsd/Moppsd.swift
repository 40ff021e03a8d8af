import ArgumentParser
import MoPPSServer

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

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
    subcommands: [Serve.self, Bench.self, Sample.self],
    defaultSubcommand: nil)
}

struct Serve: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the sidecar until SIGINT or SIGTERM.",
    discussion: """
      Requests arrive as two frames [method][body] on the --listen endpoints (REQ or DEALER clients); \
      replies are [Status][body]. After every Select and Update an event is published on the \
      --publish endpoints with topic mopps.v1.<pool>.select / mopps.v1.<pool>.update.

      On SIGINT/SIGTERM the request in hand is answered, sockets are closed, and moppsd exits 0.

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
      "Directory for state and the default ipc sockets (created if missing), e.g. --state-dir ./mopps-state.",
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
      "Largest request accepted, in bytes; bigger ones are dropped by libzmq (e.g. --max-message-bytes 67108864).",
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
      "Threads serving requests (default: one per core); a request waits only when all are busy, e.g. --workers 4.",
      valueName: "n"))
  var workers: Int = ServerConfig.defaultWorkers

  func validate() throws {
    do {
      try makeConfig().validate()
    } catch {
      throw ValidationError(error.message)
    }
  }

  private func makeConfig() -> ServerConfig {
    ServerConfig(
      listen: listen.isEmpty ? ServerConfig.defaultListen(stateDir: stateDir) : listen,
      publish: publish.isEmpty ? ServerConfig.defaultPublish(stateDir: stateDir) : publish,
      stateDir: stateDir, insecure: insecure, maxMessageBytes: maxMessageBytes, maxIDsPerRequest: maxIDs,
      workers: workers)
  }

  func run() throws {
    if mkdir(stateDir, 0o755) != 0 && errno != EEXIST {
      throw ValidationError("--state-dir \(stateDir): cannot create it: \(String(cString: strerror(errno)))")
    }
    Shutdown.installSignalHandlers()
    let server: Server
    do {
      server = try Server(config: makeConfig())
    } catch {
      Log.error(error.message)
      throw ExitCode.failure
    }
    Log.info(
      "moppsd \(ServerConfig.version) serving on \(server.boundListen.joined(separator: ", ")) "
        + "with \(workers) worker(s); events on \(server.boundPublish.joined(separator: ", "))")
    server.run()
    Log.info("stopped")
  }
}
