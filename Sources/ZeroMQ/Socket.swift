import CZeroMQ

public enum SocketType: Sendable {
  case pair, pub, sub, req, rep, dealer, router

  var raw: Int32 {
    switch self {
    case .pair: ZMQ_PAIR
    case .pub: ZMQ_PUB
    case .sub: ZMQ_SUB
    case .req: ZMQ_REQ
    case .rep: ZMQ_REP
    case .dealer: ZMQ_DEALER
    case .router: ZMQ_ROUTER
    }
  }
}

/// A libzmq socket. Sockets are not thread-safe: create one on the thread that uses it and keep it
/// there (this type is deliberately not Sendable).
public final class Socket {
  private var handle: UnsafeMutableRawPointer?
  public let context: Context

  public init(_ context: Context, _ type: SocketType) throws(ZMQError) {
    guard let h = zmq_socket(context.handle, type.raw) else { throw ZMQError.last("zmq_socket") }
    self.context = context
    handle = h
    // Never let close() wait for unsent messages: a stuck peer must not block shutdown.
    try setOption(ZMQ_LINGER, Int32(0))
  }

  deinit { close() }

  /// Closes the socket; later calls on it fail with ENOTSOCK.
  public func close() {
    if let h = handle {
      zmq_close(h)
      handle = nil
    }
  }

  private func live(_ operation: String) throws(ZMQError) -> UnsafeMutableRawPointer {
    guard let h = handle else {
      throw ZMQError(errno: ENOTSOCK, operation: operation, message: "socket is closed")
    }
    return h
  }

  func rawHandle() throws(ZMQError) -> UnsafeMutableRawPointer { try live("zmq_poll") }

  public func bind(_ endpoint: String) throws(ZMQError) {
    let h = try live("zmq_bind")
    _ = try check(zmq_bind(h, endpoint), "bind \(endpoint)")
  }

  /// Stops listening on `endpoint` (as bound: `lastEndpoint` for a wildcard or port 0).
  public func unbind(_ endpoint: String) throws(ZMQError) {
    let h = try live("zmq_unbind")
    _ = try check(zmq_unbind(h, endpoint), "unbind \(endpoint)")
  }

  public func connect(_ endpoint: String) throws(ZMQError) {
    let h = try live("zmq_connect")
    _ = try check(zmq_connect(h, endpoint), "connect \(endpoint)")
  }

  /// The endpoint actually bound last (resolves tcp port 0 / wildcards).
  public var lastEndpoint: String {
    get throws(ZMQError) {
      let h = try live("zmq_getsockopt")
      var buffer = [CChar](repeating: 0, count: 1024)
      var size = buffer.count
      _ = try check(zmq_getsockopt(h, ZMQ_LAST_ENDPOINT, &buffer, &size), "ZMQ_LAST_ENDPOINT")
      return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
  }

  public func setOption(_ option: Int32, _ value: Int32) throws(ZMQError) {
    let h = try live("zmq_setsockopt")
    var v = value
    _ = try check(zmq_setsockopt(h, option, &v, MemoryLayout<Int32>.size), "zmq_setsockopt(\(option))")
  }

  public func setOption(_ option: Int32, _ value: Int64) throws(ZMQError) {
    let h = try live("zmq_setsockopt")
    var v = value
    _ = try check(zmq_setsockopt(h, option, &v, MemoryLayout<Int64>.size), "zmq_setsockopt(\(option))")
  }

  public func setOption(_ option: Int32, bytes: [UInt8]) throws(ZMQError) {
    let h = try live("zmq_setsockopt")
    let rc = bytes.withUnsafeBytes { zmq_setsockopt(h, option, $0.baseAddress, $0.count) }
    _ = try check(rc, "zmq_setsockopt(\(option))")
  }

  /// Largest inbound message libzmq accepts; bigger ones disconnect the peer (ZMQ_MAXMSGSIZE).
  public func setMaxMessageSize(_ bytes: Int64) throws(ZMQError) { try setOption(ZMQ_MAXMSGSIZE, bytes) }
  /// Milliseconds a receive waits before EAGAIN; -1 waits forever.
  public func setReceiveTimeout(_ ms: Int32) throws(ZMQError) { try setOption(ZMQ_RCVTIMEO, ms) }
  public func setSendTimeout(_ ms: Int32) throws(ZMQError) { try setOption(ZMQ_SNDTIMEO, ms) }
  /// How long close() may wait to hand over unsent messages (0 from `init`: it never waits).
  public func setLinger(_ ms: Int32) throws(ZMQError) { try setOption(ZMQ_LINGER, ms) }
  /// Most messages queued for one peer (ZMQ_SNDHWM; 0: no limit). Past it a ROUTER drops further
  /// messages to that peer, other socket types block or fail with EAGAIN.
  public func setSendHighWaterMark(_ messages: Int32) throws(ZMQError) { try setOption(ZMQ_SNDHWM, messages) }
  /// SUB only: receive messages whose first frame starts with `prefix` ("" for all).
  public func subscribe(_ prefix: String) throws(ZMQError) {
    try setOption(ZMQ_SUBSCRIBE, bytes: Array(prefix.utf8))
  }

  /// Sends all frames as one multipart message.
  public func send(_ frames: [[UInt8]], dontWait: Bool = false) throws(ZMQError) {
    let h = try live("zmq_send")
    for (i, frame) in frames.enumerated() {
      var flags: Int32 = i < frames.count - 1 ? ZMQ_SNDMORE : 0
      if dontWait { flags |= ZMQ_DONTWAIT }
      // zmq_send copies the bytes, so the buffer only needs to live for the call.
      let rc = frame.withUnsafeBytes { zmq_send(h, $0.baseAddress, $0.count, flags) }
      _ = try check(rc, "zmq_send")
    }
  }

  /// Receives one whole multipart message. With `dontWait`, returns nil when none is queued; a
  /// receive timeout also returns nil.
  public func receive(dontWait: Bool = false) throws(ZMQError) -> [[UInt8]]? {
    let h = try live("zmq_msg_recv")
    // zmq_msg_t must not move while libzmq holds it: keep it on the heap.
    let msg = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
    defer { msg.deallocate() }
    var frames: [[UInt8]] = []
    while true {
      _ = try check(zmq_msg_init(msg), "zmq_msg_init")
      defer { zmq_msg_close(msg) }
      let n = zmq_msg_recv(msg, h, frames.isEmpty && dontWait ? ZMQ_DONTWAIT : 0)
      if n == -1 {
        let error = ZMQError.last("zmq_msg_recv")
        // Parts of a multipart message arrive together, so only the first part can time out.
        if frames.isEmpty && error.isWouldBlock { return nil }
        throw error
      }
      let size = zmq_msg_size(msg)
      if size == 0 {
        frames.append([])
      } else {
        let data = zmq_msg_data(msg)!.assumingMemoryBound(to: UInt8.self)
        frames.append(Array(UnsafeBufferPointer(start: data, count: size)))
      }
      if zmq_msg_more(msg) == 0 { return frames }
    }
  }

  /// Waits until this socket has a message to read, up to `timeoutMs` (-1: forever). Returns whether
  /// one is ready; throws on EINTR so a signal can stop the waiter.
  public func waitReadable(timeoutMs: Int) throws(ZMQError) -> Bool {
    let h = try live("zmq_poll")
    var item = zmq_pollitem_t(socket: h, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
    let n = try check(zmq_poll(&item, 1, timeoutMs), "zmq_poll")
    return n > 0 && (item.revents & Int16(ZMQ_POLLIN)) != 0
  }
}

/// Waits until any of `sockets` has a message to read, up to `timeoutMs` (-1: forever), and returns
/// which are readable (aligned with `sockets`). Throws on EINTR so a signal can stop the waiter.
public func pollReadable(_ sockets: [Socket], timeoutMs: Int) throws(ZMQError) -> [Bool] {
  var items = [zmq_pollitem_t]()
  items.reserveCapacity(sockets.count)
  for s in sockets {
    items.append(zmq_pollitem_t(socket: try s.rawHandle(), fd: 0, events: Int16(ZMQ_POLLIN), revents: 0))
  }
  let rc = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32($0.count), timeoutMs) }
  _ = try check(rc, "zmq_poll")
  return items.map { ($0.revents & Int16(ZMQ_POLLIN)) != 0 }
}
