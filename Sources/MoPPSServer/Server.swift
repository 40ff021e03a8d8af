import MoPPSEngine
import MoPPSProtocol
import ZeroMQ

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The request loop: one ROUTER socket bound to every `--listen` endpoint and one PUB socket bound to
/// every `--publish` endpoint, both used only by the thread that calls `run()`.
///
/// ROUTER rather than REP: it answers REQ clients (whose frames come as [identity][empty][method][body])
/// and DEALER clients that omit the empty delimiter alike, and a garbled message can never wedge it
/// in REP's strict send/receive alternation.
public final class Server {
  public let config: ServerConfig
  public let dispatcher: Dispatcher
  private let context: Context
  private let router: Socket
  private let publisher: Socket
  /// Endpoints as bound (tcp port 0 resolved), for logs and tests.
  public private(set) var boundListen: [String] = []
  public private(set) var boundPublish: [String] = []

  public init(config: ServerConfig, dispatcher: Dispatcher? = nil) throws(ServerError) {
    try config.validate()
    self.config = config
    self.dispatcher = dispatcher ?? Dispatcher(maxIDsPerRequest: config.maxIDsPerRequest)
    do {
      context = try Context()
      router = try Socket(context, .router)
      publisher = try Socket(context, .pub)
      try router.setMaxMessageSize(config.maxMessageBytes)
      // A reply to a client that went away must not block the loop.
      try router.setSendTimeout(0)
    } catch {
      throw ServerError("cannot set up ZeroMQ: \(error)")
    }
    boundListen = try Self.bind(router, config.listen)
    boundPublish = try Self.bind(publisher, config.publish)
  }

  private static func bind(_ socket: Socket, _ endpoints: [String]) throws(ServerError) -> [String] {
    var bound: [String] = []
    for endpoint in endpoints {
      do {
        try socket.bind(endpoint)
        bound.append((try? socket.lastEndpoint) ?? endpoint)
      } catch {
        var hint = ""
        if error.errno == EADDRINUSE {
          hint = "; another process uses it (a second moppsd?): pick another endpoint"
        }
        if error.errno == ENOENT { hint = "; does the directory exist?" }
        throw ServerError("cannot bind \(endpoint): \(error.message)\(hint)")
      }
    }
    return bound
  }

  /// Serves until `Shutdown.request()` or SIGINT/SIGTERM, then closes the sockets and returns.
  public func run() {
    while !Shutdown.isRequested {
      let frames: [[UInt8]]?
      do {
        // Short waits so a stop request is seen within 100 ms even when no signal interrupts poll.
        guard try router.waitReadable(timeoutMs: 100) else { continue }
        frames = try router.receive(dontWait: true)
      } catch {
        if error.isInterrupted { continue }
        Log.error("receive failed: \(error)")
        continue
      }
      guard let frames, !frames.isEmpty else { continue }
      serve(frames)
    }
    router.close()
    publisher.close()
  }

  private func serve(_ frames: [[UInt8]]) {
    // frames[0] is the peer identity ROUTER added; REQ peers then send an empty delimiter.
    let envelopeCount = frames.count > 1 && frames[1].isEmpty ? 2 : 1
    let envelope = Array(frames[0..<envelopeCount])
    let (reply, events) = dispatcher.handle(Array(frames[envelopeCount...]))
    do {
      try router.send(envelope + reply, dontWait: true)
    } catch {
      // The peer vanished or its queue is full: the reply is lost, as with any dead client.
      Log.warning("reply not delivered: \(error)")
    }
    for event in events {
      // PUB never blocks: with no subscriber, or a slow one past its high-water mark, it drops.
      try? publisher.send([Array(event.topic.utf8), event.body], dontWait: true)
    }
  }
}

/// Minimal stderr logging (structured logs are a later step). Writes with write(2): one call per line,
/// so lines from different threads do not interleave.
public enum Log {
  public static func info(_ message: String) { emit("info", message) }
  public static func warning(_ message: String) { emit("warning", message) }
  public static func error(_ message: String) { emit("error", message) }

  private static func emit(_ level: String, _ message: String) {
    let line = Array("moppsd \(level): \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
  }
}
