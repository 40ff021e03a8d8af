import Foundation
import MoPPSEngine
import MoPPSPersistence
import MoPPSPlatform
import MoPPSProtocol
import Synchronization
import ZeroMQ

/// The request loop: a broker and `workers` worker threads.
///
/// The broker (the thread that calls `run()`) owns three sockets: a ROUTER bound to every
/// `--listen` endpoint (clients), a ROUTER on inproc for the workers, and the PUB socket bound to
/// every `--publish` endpoint. It hands each client request to an idle worker only (a worker that
/// finished says so with its reply), so one client's big Select never queues another's Update while a
/// worker is free. Workers send back the reply and the events; only the broker touches the client and
/// PUB sockets, since ZeroMQ sockets are single-threaded.
///
/// ROUTER rather than REP toward clients: it answers REQ clients (whose frames come as
/// [identity][empty][method][body]), DEALER clients with or without the empty delimiter and
/// clients behind ROUTER/DEALER proxies alike (`envelopeCount` says where the request starts), and
/// a garbled message can never wedge it in REP's strict send/receive alternation.
///
/// Life cycle, in the shape of swift-service-lifecycle's `Service`: `init` recovers the state and
/// binds every endpoint (so a failure is reported before anything is served), `run()` serves on the
/// calling thread until `triggerGracefulShutdown()` (from any thread: the CLI's signal handlers, a
/// test), then drains, closes the sockets and closes the store. Each server has its own stop flag,
/// so a process (a test run) can start and stop any number of them.
///
/// Sendable by hand: after `init`, the sockets are touched only by the thread in `run()` (and the
/// workers it starts, each on its own socket); what other threads may call reads or sets atomics.
public final class Server: @unchecked Sendable {
  public let config: ServerConfig
  public let dispatcher: Dispatcher
  /// Set once by `triggerGracefulShutdown()`; the broker polls it at least every 100 ms.
  private let stopRequested = Atomic<Bool>(false)
  private let context: Context
  private let frontend: Socket
  private let backend: Socket
  private let publisher: Socket
  private let backendEndpoint: String
  /// Where `triggerGracefulShutdown()` sends a frame, so that the broker's poll returns at once
  /// instead of at its next timeout.
  private let wake: Socket
  private let wakeEndpoint: String
  private let zap: ZAPHandler?
  /// Endpoints as bound (tcp port 0 resolved), for logs and tests.
  public private(set) var boundListen: [String] = []
  public private(set) var boundPublish: [String] = []

  /// Worker → broker message kinds (first frame).
  enum Kind {
    static let ready: [UInt8] = [0x52]  // "R": idle
    static let reply: [UInt8] = [0x59]  // "Y": [envelope…][status][body] follow; idle again
    static let event: [UInt8] = [0x45]  // "E": [topic][body] follow
  }

  private static let instances = Atomic<Int>(0)
  /// Unread replies queued per client (ZMQ_SNDHWM of the client-facing ROUTER).
  static let replyHighWaterMark: Int32 = 16

  /// Builds the engine and the store `config` describes (recovering the state directory, whose
  /// report is logged), then binds the endpoints.
  public convenience init(config: ServerConfig) throws(MoPPSError) {
    try config.validate()
    let engine = Engine(windows: config.windows, kernel: config.kernel)
    let store: StateStore
    if let options = config.persistence {
      do throws(PersistenceError) {
        let (opened, report) = try StateStore.open(engine: engine, options: options, limits: config.limits)
        for line in report { Log.info(line) }
        store = opened
      } catch {
        throw MoPPSError(error.status, "cannot open --state-dir \(options.directory): \(error.message)")
      }
    } else {
      store = .inMemory(engine: engine, limits: config.limits)
    }
    try self.init(config: config, store: store)
  }

  /// Serves `store` (already open) with `config`'s endpoints and request limits; the server closes
  /// the store when `run()` ends.
  public init(config: ServerConfig, store: StateStore) throws(MoPPSError) {
    try config.validate()
    self.config = config
    self.dispatcher = Dispatcher(store: store, config: config)
    // Relaxed: only uniqueness of the name matters.
    let instance = Self.instances.wrappingAdd(1, ordering: .relaxed).oldValue
    backendEndpoint = "inproc://moppsd-workers-\(instance)"
    wakeEndpoint = "inproc://moppsd-wake-\(instance)"
    let ctx: Context
    do {
      ctx = try Context()
    } catch {
      throw MoPPSError(.internal, "cannot set up ZeroMQ: \(error)")
    }
    context = ctx
    // The ZAP handler must be bound before a CURVE socket accepts connections.
    zap = config.curveSecretKey == nil ? nil : try ZAPHandler(context: ctx, allowedKeys: config.curveAllow)
    do {
      frontend = try Socket(context, .router)
      backend = try Socket(context, .router)
      publisher = try Socket(context, .pub)
      wake = try Socket(context, .router)
      if let secret = config.curveSecretKey {
        try frontend.makeCurveServer(secretKey: secret)
        try publisher.makeCurveServer(secretKey: secret)
      }
      // libzmq's hard cap (it drops the peer, no reply possible) sits well above the flag, so that a
      // request over --max-message-bytes still gets a RESOURCE_EXHAUSTED reply from the dispatcher.
      try frontend.setMaxMessageSize(2 * config.maxMessageBytes + (1 << 20))
      // A reply to a client that went away must not block the broker.
      try frontend.setSendTimeout(0)
      // Replies queued for one client that sends without reading: libzmq's default (1,000) would let
      // 1,000 Get replies of several MB pile up per peer. REQ clients have one request in flight, a
      // pipelining DEALER a few; past 16 unread replies the ROUTER drops further replies to that
      // peer (as for a client that went away, which retries or times out), so one client holds at
      // most 16 replies of memory.
      try frontend.setSendHighWaterMark(Server.replyHighWaterMark)
      try backend.bind(backendEndpoint)
      try wake.bind(wakeEndpoint)
    } catch {
      throw MoPPSError(.internal, "cannot set up ZeroMQ: \(error)")
    }
    try Self.refuseServedIPC(config.listen + config.publish)
    boundListen = try Self.bind(frontend, config.listen, loopbackOnly: config.needsLoopback)
    boundPublish = try Self.bind(publisher, config.publish, loopbackOnly: config.needsLoopback)
  }

  /// libzmq unlinks an existing socket file when it binds an ipc path, so a second server would
  /// silently take the path over from a running one. Refuse when something answers there; a file
  /// that nothing listens on (left by a crash) is fine to replace.
  static func refuseServedIPC(_ endpoints: [String]) throws(MoPPSError) {
    for endpoint in endpoints where endpoint.hasPrefix("ipc://") {
      let path = String(endpoint.dropFirst("ipc://".count))
      guard !path.hasPrefix("@"), Endpoints.socketAnswers(path) else { continue }
      throw MoPPSError(
        .unavailable,
        "cannot bind \(endpoint): another process serves it (a second moppsd?); stop it or pick another "
          + "path (--listen / --publish, or another --state-dir)")
    }
  }

  static func bind(_ socket: Socket, _ endpoints: [String], loopbackOnly: Bool) throws(MoPPSError)
    -> [String]
  {
    var bound: [String] = []
    for endpoint in endpoints {
      let actual: String
      do {
        try socket.bind(endpoint)
        actual = try socket.lastEndpoint
      } catch {
        var hint = ""
        if error.errno == EADDRINUSE {
          hint =
            "; another process uses it (a second moppsd?): pick other endpoints with --listen and --publish"
        }
        if error.errno == ENOENT { hint = "; does the directory exist?" }
        throw MoPPSError(.unavailable, "cannot bind \(endpoint): \(error.message)\(hint)")
      }
      // What libzmq bound, whatever the endpoint's form: `validate()` judged the text, this judges
      // the listening address (ZMQ_LAST_ENDPOINT is always numeric).
      let host = String(Endpoints.tcpBindHost(actual))
      if loopbackOnly && actual.hasPrefix("tcp://") && Endpoints.numericLoopback(host) != true {
        try? socket.unbind(actual)
        throw MoPPSError(
          .invalidArgument,
          "endpoint \"\(endpoint)\" is listening on \(actual), reachable from other machines, and moppsd "
            + "has no encryption configured; bind tcp://127.0.0.1:PORT, give --curve-secret-key, or pass --insecure"
        )
      }
      bound.append(actual)
    }
    return bound
  }

  /// Asks `run()` to stop gracefully: no new requests are taken (those that arrive are answered
  /// UNAVAILABLE), the ones in hand get up to 800 ms to be answered. Safe from any thread, any
  /// number of times, also before `run()` (which then returns at once).
  public func triggerGracefulShutdown() {
    // Relaxed: the broker only needs to see the flag eventually (it polls every 100 ms); nothing
    // else is published through it.
    stopRequested.store(true, ordering: .relaxed)
    // Sockets are single-threaded, so the caller's thread gets one of its own: one frame to the
    // broker's wake socket. Best effort: if it is lost, the broker's 100 ms poll timeout still sees
    // the flag. The linger lets close() hand the frame over rather than drop it.
    guard let poke = try? Socket(context, .dealer) else { return }
    try? poke.setLinger(100)
    try? poke.connect(wakeEndpoint)
    try? poke.send([[]], dontWait: true)
    poke.close()
  }

  /// Whether `triggerGracefulShutdown()` was called.
  public var isShutdownRequested: Bool { stopRequested.load(ordering: .relaxed) }

  /// Serves until `triggerGracefulShutdown()`: then takes no new requests, waits (up to 800 ms) for
  /// the requests in hand to be answered, stops the workers, closes the sockets and the store (the
  /// log made durable).
  public func run() {
    let stopWorkers = StopFlag()
    let finished = DispatchGroup()
    for i in 0..<config.workers {
      finished.enter()
      let worker = Worker(
        context: context, endpoint: backendEndpoint, dispatcher: dispatcher, stop: stopWorkers)
      let thread = Thread {
        worker.run()
        finished.leave()
      }
      thread.name = "moppsd-worker-\(i)"
      thread.start()
    }
    broker()
    stopWorkers.set()
    finished.wait()
    frontend.close()
    backend.close()
    publisher.close()
    zap?.socket.close()
    wake.close()
    dispatcher.store.close()
  }

  private func broker() {
    var idle: [[UInt8]] = []
    var busy = 0
    /// The envelope of the request each busy worker holds, to answer it if the drain times out.
    var pending: [[UInt8]: [[UInt8]]] = [:]
    var drainDeadline: ContinuousClock.Instant? = nil
    let spinWindow = Duration.microseconds(config.busyPollMicros)
    var lastRequest = ContinuousClock.now - spinWindow
    while true {
      if isShutdownRequested && drainDeadline == nil {
        drainDeadline = .now + .milliseconds(800)
      }
      if let deadline = drainDeadline, busy == 0 || ContinuousClock.now > deadline {
        if busy > 0 {
          // Clients get an answer instead of waiting for their timeout; the work itself finishes
          // (its effects are logged as usual) before the process exits.
          Log.warning("stopping: \(busy) request(s) still running after 800 ms are answered ABORTED")
          for envelope in pending.values { try? frontend.send(envelope + Self.abandoned, dontWait: true) }
        }
        return
      }
      // While draining, requests are still read, to be answered UNAVAILABLE rather than dropped.
      let takeRequests = !idle.isEmpty || drainDeadline != nil
      let readable: [Bool]
      do {
        // Short waits so a stop request is seen within 100 ms even when its wake-up frame is lost.
        var sockets = [backend, wake]
        if let zap { sockets.append(zap.socket) }
        if takeRequests { sockets.append(frontend) }
        let spinning = ContinuousClock.now - lastRequest < spinWindow
        let ready = try pollReadable(sockets, timeoutMs: spinning ? 0 : 100)
        if ready[1] {
          while (try? wake.receive(dontWait: true)) != nil {}
        }
        if let zap, ready[2] { zap.serve() }
        readable = [ready[0], takeRequests && ready[sockets.count - 1]]
      } catch {
        if !error.isInterrupted { Log.error("poll failed: \(error)") }
        continue
      }
      if readable[0] { fromWorker(&idle, &busy, &pending) }
      if readable[0] || readable[1] { lastRequest = .now }
      if takeRequests && readable[1], let frames = try? frontend.receive(dontWait: true), !frames.isEmpty {
        if drainDeadline != nil {
          let envelope = Array(frames[0..<Self.envelopeCount(frames)])
          try? frontend.send(envelope + Self.shuttingDown, dontWait: true)
          continue
        }
        if answerInline(frames) { continue }
        let worker = idle.removeFirst()
        do {
          try backend.send([worker] + frames)
          busy += 1
          pending[worker] = Array(frames[0..<Self.envelopeCount(frames)])
        } catch {
          Log.error("cannot hand a request to a worker: \(error)")
          idle.append(worker)
        }
      }
    }
  }

  /// Answers small requests in the broker itself, saving the two thread hops to and from a worker
  /// (about 100 µs here); returns false for requests a worker should take.
  private func answerInline(_ frames: [[UInt8]]) -> Bool {
    // Decoding a big request takes a while (a Register of millions of ids): not on this thread.
    guard frames.last!.count <= Self.inlineBodyBytes else { return false }
    let envelopeCount = Self.envelopeCount(frames)
    let (reply, events): ([[UInt8]], [Event])
    switch dispatcher.decode(Array(frames[envelopeCount...])) {
    case .failure(let failure):
      (reply, events) = (failure, [])
    case .success(let method, let request):
      // Never blocks: a request that would wait for a pool's lock goes to a worker instead.
      guard dispatcher.isQuick(request), let answer = dispatcher.respond(method, request, wait: false) else {
        return false
      }
      (reply, events) = answer
    }
    do {
      try frontend.send(Array(frames[0..<envelopeCount]) + reply, dontWait: true)
    } catch {
      Log.warning("reply not delivered: \(error)")
    }
    for event in events {
      try? publisher.send([Array(event.topic.utf8), event.body], dontWait: true)
    }
    return true
  }

  /// Bodies larger than this are never decoded by the broker (a Select of 16,384 packed candidates
  /// is 128 KiB).
  static let inlineBodyBytes = 256 << 10

  /// For requests that arrive while the server drains: nothing was done, retrying elsewhere is safe.
  static let shuttingDown = [
    Reply.status(.unavailable, "moppsd is shutting down; retry against the next server"), [],
  ]
  /// For requests still running when the drain ends: they finish (and are logged) before the
  /// process exits, but the client cannot be told how; a retry is safe only with a request id.
  static let abandoned = [
    Reply.status(
      .aborted,
      "moppsd stopped while handling this request; it may or may not have been applied: retry with the same request_id"
    ), [],
  ]

  /// How many leading frames are envelope (routing), to be sent back in front of the reply.
  ///
  /// frames[0] is the identity the frontend ROUTER added. The envelope then ends at the first later
  /// frame that is empty or that starts with "/": an empty frame is a delimiter (REQ's, or one in
  /// front of which ROUTER/DEALER proxies put their identities) and belongs to the envelope; a
  /// frame starting with "/" is the method of a DEALER that sends no delimiter and starts the
  /// request. Looking for the first of either, rather than for the first empty frame, keeps a
  /// delimiter-less request with an empty body ([identity][method][]) from being read as envelope
  /// [identity][method] and request []. Identities never start with "/": libzmq's own start with a
  /// zero byte, and a client that sets ZMQ_ROUTING_ID must not begin it with "/". With neither, the
  /// envelope is the identity alone and the rest gets an error reply.
  static func envelopeCount(_ frames: [[UInt8]]) -> Int {
    let slash = UInt8(ascii: "/")
    for i in frames.indices.dropFirst() {
      if frames[i].isEmpty { return i + 1 }
      if frames[i].first == slash { return i }
    }
    return 1
  }

  private func fromWorker(_ idle: inout [[UInt8]], _ busy: inout Int, _ pending: inout [[UInt8]: [[UInt8]]]) {
    // Drain everything the workers sent; each message is [worker identity][kind][…].
    while let message = try? backend.receive(dontWait: true), message.count >= 2 {
      let worker = message[0]
      switch message[1] {
      case Kind.ready:
        idle.append(worker)
      case Kind.reply:
        busy -= 1
        idle.append(worker)
        pending[worker] = nil
        do {
          try frontend.send(Array(message[2...]), dontWait: true)
        } catch {
          // The client vanished or its queue is full: the reply is lost, as with any dead client.
          Log.warning("reply not delivered: \(error)")
        }
      case Kind.event where message.count == 4:
        // PUB never blocks: with no subscriber, or a slow one past its high-water mark, it drops.
        try? publisher.send([message[2], message[3]], dontWait: true)
      default:
        Log.error("unexpected message from a worker (\(message.count) frames)")
      }
    }
  }
}

/// A stop flag shared by the broker and the worker threads.
final class StopFlag: Sendable {
  private let flag = Atomic<Bool>(false)

  // Relaxed: workers poll this flag; nothing else is published through it.
  func set() { flag.store(true, ordering: .relaxed) }
  var isSet: Bool { flag.load(ordering: .relaxed) }
}

/// One worker thread: takes requests from the broker, answers them with the dispatcher.
struct Worker: Sendable {
  let context: Context
  let endpoint: String
  let dispatcher: Dispatcher
  let stop: StopFlag

  func run() {
    // The socket is created, used and closed on this thread only.
    let socket: Socket
    do {
      socket = try Socket(context, .dealer)
      try socket.connect(endpoint)
      try socket.send([Server.Kind.ready])
    } catch {
      Log.error("worker cannot start: \(error)")
      return
    }
    defer { socket.close() }
    while !stop.isSet {
      let frames: [[UInt8]]?
      do {
        guard try socket.waitReadable(timeoutMs: 100) else { continue }
        frames = try socket.receive(dontWait: true)
      } catch {
        if !error.isInterrupted { Log.error("worker receive failed: \(error)") }
        continue
      }
      guard let frames, !frames.isEmpty else { continue }
      let envelopeCount = Server.envelopeCount(frames)
      let (reply, events) = dispatcher.handle(Array(frames[envelopeCount...]))
      do {
        try socket.send([Server.Kind.reply] + frames[0..<envelopeCount] + reply)
        for event in events {
          try socket.send([Server.Kind.event, Array(event.topic.utf8), event.body])
        }
      } catch {
        Log.error("worker cannot reach the broker: \(error)")
      }
    }
  }
}
