import CZeroMQ

/// A libzmq context. libzmq contexts are thread-safe, so one may be shared across threads; every
/// socket keeps its context alive, since terminating a context with open sockets blocks.
public final class Context: @unchecked Sendable {
  let handle: UnsafeMutableRawPointer

  public init() throws(ZMQError) {
    guard let h = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
    handle = h
  }

  deinit {
    // Sockets hold a strong reference to their context, so all of them are closed by now and
    // zmq_ctx_term cannot block on them.
    while zmq_ctx_term(handle) == -1 && zmq_errno() == EINTR {}
  }

  /// libzmq's version as "major.minor.patch".
  public static var libraryVersion: String {
    var major: Int32 = 0
    var minor: Int32 = 0
    var patch: Int32 = 0
    zmq_version(&major, &minor, &patch)
    return "\(major).\(minor).\(patch)"
  }
}
