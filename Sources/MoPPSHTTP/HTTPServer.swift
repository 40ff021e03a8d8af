import MoPPSEngine
import MoPPSServer
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// `moppsd serve --http`: `/metrics`, `/healthz`, `/readyz`, the dashboard (`/`) and its JSON
/// (`/api/stats.json`), served by swift-nio on one event-loop thread of its own.
///
/// The HTTP side only reads: counters and posteriors through the engine's lock-free reads, the
/// dispatcher's method counters by copying them under their lock (held as briefly as by each
/// request). It never takes a pool's writer lock, so a scrape cannot delay a Select or an Update;
/// it can only compete for CPU, and the work of one scrape is bounded (one pass over the
/// posteriors, cached for `HTTPRoutes.cacheWindow` on big pools).
///
/// Started before the state is recovered, so that `/healthz` answers and `/readyz` says why it is
/// not ready while a big state directory loads; `attach(_:)` makes it ready.
public final class HTTPServer: Sendable {
  /// Connections served at once; more are closed as they arrive.
  public static let maxConnections = 512
  /// Largest request body (bytes); every endpoint is a GET, so anything bigger is refused.
  public static let maxBodyBytes = 4096

  private let group: MultiThreadedEventLoopGroup
  private let channel: any Channel
  let routes: HTTPRoutes
  /// The address as bound (port 0 resolved), "HOST:PORT".
  public let boundAddress: String

  /// Binds `host:port` (port 0: any free one) and starts serving; `/readyz` is 503 until `attach`.
  /// Without `insecure`, an address that turns out not to be loopback once bound is refused.
  public init(host: String, port: Int, insecure: Bool = false) throws(MoPPSError) {
    let routes = HTTPRoutes()
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let connections = ConnectionCount()
    let bootstrap = ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 256)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          guard connections.open() else {
            channel.close(promise: nil)
            return
          }
          channel.closeFuture.whenComplete { _ in connections.close() }
          let sync = channel.pipeline.syncOperations
          try sync.addHandler(IdleStateHandler(readTimeout: .seconds(30)))
          try sync.configureHTTPServerPipeline(withErrorHandling: true)
          try sync.addHandler(HTTPHandler(routes: routes))
        }
      }
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelOption(.maxMessagesPerRead, value: 4)
    do {
      channel = try bootstrap.bind(host: host, port: port).wait()
    } catch {
      try? group.syncShutdownGracefully()
      throw MoPPSError(.unavailable, "--http \(host):\(port): cannot bind: \(error)")
    }
    self.group = group
    self.routes = routes
    let local = channel.localAddress
    let shown = local?.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? host
    boundAddress = "\(shown):\(local?.port ?? port)"
    // What was bound, not what was asked: a name resolved to a non-loopback address is caught here.
    if !insecure, let ip = local?.ipAddress, !ServerConfig.isLoopbackHost(ip) {
      stop()
      throw MoPPSError(
        .invalidArgument,
        "--http \(host):\(port) listens on \(boundAddress), reachable from other machines, and HTTP here is "
          + "not encrypted; bind 127.0.0.1:PORT or pass --insecure")
    }
  }

  /// Serves `server`'s figures and reports ready (state recovered, sockets bound).
  public func attach(_ server: Server) { routes.attach(server) }

  /// `/readyz` reports `reason` with 503 (e.g. "recovering the state directory").
  public func notReady(_ reason: String) { routes.notReady(reason) }

  /// Stops accepting and closes the event loop.
  public func stop() {
    try? channel.close().wait()
    try? group.syncShutdownGracefully()
  }
}

/// Open connections, bounded by `HTTPServer.maxConnections`.
final class ConnectionCount: Sendable {
  private let count = Atomic<Int>(0)

  /// Counts a new connection; false (and not counted) when there are too many.
  func open() -> Bool {
    // Relaxed: a bound on resources; no data is published through it.
    if count.wrappingAdd(1, ordering: .relaxed).newValue > HTTPServer.maxConnections {
      count.wrappingSubtract(1, ordering: .relaxed)
      return false
    }
    return true
  }

  func close() { count.wrappingSubtract(1, ordering: .relaxed) }
}

/// One connection's requests: GET and HEAD only, bodies bounded, one response per request.
final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let routes: HTTPRoutes
  private var head: HTTPRequestHead?
  private var bodyBytes = 0
  private var refused = false

  init(routes: HTTPRoutes) { self.routes = routes }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let h):
      (head, bodyBytes, refused) = (h, 0, false)
    case .body(let chunk):
      bodyBytes += chunk.readableBytes
      if bodyBytes > HTTPServer.maxBodyBytes && !refused {
        refused = true
        let response = HTTPResponse(
          status: .payloadTooLarge, text: "request body over \(HTTPServer.maxBodyBytes) bytes\n")
        write(response, context: context, keepAlive: false, isHead: false)
      }
    case .end:
      guard let head, !refused else { return }
      self.head = nil
      let response = routes.respond(method: head.method, uri: head.uri)
      write(response, context: context, keepAlive: head.isKeepAlive, isHead: head.method == .HEAD)
    }
  }

  /// A request that does not parse has been answered 400 by NIO's error handler by now; the
  /// connection cannot be trusted to be in step any more, so it is closed.
  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if event is IdleStateHandler.IdleStateEvent {
      context.close(promise: nil)
    } else {
      context.fireUserInboundEventTriggered(event)
    }
  }

  private func write(_ r: HTTPResponse, context: ChannelHandlerContext, keepAlive: Bool, isHead: Bool) {
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: r.contentType)
    headers.add(name: "Content-Length", value: String(r.body.utf8.count))
    headers.add(name: "Cache-Control", value: "no-store")
    for (name, value) in r.headers { headers.add(name: name, value: value) }
    if !keepAlive { headers.add(name: "Connection", value: "close") }
    context.write(
      wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: r.status, headers: headers))),
      promise: nil)
    if !isHead {
      context.write(
        wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: r.body)))), promise: nil)
    }
    let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
    if !keepAlive {
      let channel = context.channel
      done.whenComplete { _ in channel.close(promise: nil) }
    }
  }
}

/// A response: status, type, body, extra headers.
struct HTTPResponse: Sendable {
  var status: HTTPResponseStatus
  var contentType = "text/plain; charset=utf-8"
  var body: String
  var headers: [(String, String)] = []

  init(status: HTTPResponseStatus = .ok, contentType: String = "text/plain; charset=utf-8", text: String) {
    self.status = status
    self.contentType = contentType
    self.body = text
  }
}
