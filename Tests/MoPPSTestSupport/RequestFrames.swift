import MoPPSEngine
import MoPPSProtocol

/// Request frames `[method][body]` for tests, written with `ProtoWriter` (independent of the
/// codec under test), field numbers as in proto/mopps/v1/selector.proto.
public enum RequestFrames {
  public static func frames(_ method: Method, _ body: ProtoWriter) -> [[UInt8]] {
    [Array(method.path.utf8), body.bytes]
  }

  /// CreatePoolRequest{pool, config{seed}}.
  public static func createPool(_ pool: String, seed: UInt64) -> [[UInt8]] {
    var config = ProtoWriter()
    config.uint(8, seed)
    var w = ProtoWriter()
    w.string(1, pool)
    w.bytesField(2, config.bytes)
    return frames(.createPool, w)
  }

  /// RegisterRequest{pool, ids (packed)}.
  public static func register(_ pool: String, ids: [UInt64]) -> [[UInt8]] {
    var w = ProtoWriter()
    w.string(1, pool)
    w.packed(2, ids)
    return frames(.register, w)
  }

  /// SelectRequest{pool, batch_size, candidates (packed)}.
  public static func select(_ pool: String, batchSize: UInt64, candidates: [UInt64]) -> [[UInt8]] {
    var w = ProtoWriter()
    w.string(1, pool)
    w.uint(2, batchSize)
    w.packed(3, candidates)
    return frames(.select, w)
  }

  /// UpdateRequest{pool, ids (packed), successes (packed doubles, or successes_le), rollouts}.
  public static func update(
    _ pool: String, ids: [UInt64], successes: [Double], rollouts: UInt64, successesLE: Bool = false
  ) -> [[UInt8]] {
    var w = ProtoWriter()
    w.string(1, pool)
    w.packed(2, ids)
    w.bytesField(successesLE ? 5 : 4, successes.flatMap { d in ProtoWriter.littleEndian([d.bitPattern]) })
    w.uint(8, rollouts)
    return frames(.update, w)
  }

  /// GetRequest{pool}: every registered prompt.
  public static func get(_ pool: String) -> [[UInt8]] {
    var w = ProtoWriter()
    w.string(1, pool)
    return frames(.get, w)
  }

  /// HealthRequest{}.
  public static let health: [[UInt8]] = [Array(Method.health.path.utf8), []]
}

/// The status of a reply `[Status][body]` (after any envelope the caller has stripped).
public func replyStatus(_ reply: [[UInt8]]) throws -> (code: StatusCode, message: String) {
  guard let first = reply.first else { return (.unknown, "empty reply") }
  let status = try Reply.decodeStatus(first)
  return (status.code, status.message)
}

/// The status code of a reply `[Status][body]`.
public func replyCode(_ reply: [[UInt8]]) throws -> StatusCode { try replyStatus(reply).code }
