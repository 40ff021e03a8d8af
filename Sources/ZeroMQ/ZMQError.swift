import CZeroMQ

/// A failed libzmq call: the errno it left and libzmq's text for it.
public struct ZMQError: Error, Equatable, Sendable, CustomStringConvertible {
  public var errno: Int32
  public var operation: String
  public var message: String

  /// The current errno of this thread, as libzmq reports it.
  static func last(_ operation: String) -> ZMQError {
    let code = zmq_errno()
    return ZMQError(errno: code, operation: operation, message: String(cString: zmq_strerror(code)))
  }

  /// Interrupted by a signal: the caller should check whether it was asked to stop, then retry.
  public var isInterrupted: Bool { errno == EINTR }
  /// Nothing to receive (non-blocking call) or a timeout elapsed.
  public var isWouldBlock: Bool { errno == EAGAIN }

  public var description: String { "\(operation): \(message) (errno \(errno))" }
}

/// The one place that turns libzmq's -1 returns into thrown errors.
@inline(__always)
func check(_ result: Int32, _ operation: @autoclosure () -> String) throws(ZMQError) -> Int32 {
  if result == -1 { throw ZMQError.last(operation()) }
  return result
}
