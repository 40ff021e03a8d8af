import CZeroMQ

/// CurveZMQ keys (Z85 text, 40 characters) and socket setup.
public enum Curve {
  public struct KeyPair: Sendable, Equatable {
    public var publicKey: String
    public var secretKey: String
  }

  /// A new random key pair.
  public static func keyPair() throws(ZMQError) -> KeyPair {
    var pub = [CChar](repeating: 0, count: 41)
    var sec = [CChar](repeating: 0, count: 41)
    _ = try check(zmq_curve_keypair(&pub, &sec), "zmq_curve_keypair")
    return KeyPair(publicKey: z85Text(pub), secretKey: z85Text(sec))
  }

  /// The public key of a secret key.
  public static func publicKey(ofSecret secret: String) throws(ZMQError) -> String {
    var pub = [CChar](repeating: 0, count: 41)
    var sec = Array(secret.utf8CString)
    guard secret.utf8.count == 40 else {
      throw ZMQError(errno: EINVAL, operation: "zmq_curve_public", message: "a Z85 key has 40 characters")
    }
    _ = try check(zmq_curve_public(&pub, &sec), "zmq_curve_public")
    return z85Text(pub)
  }

  private static func z85Text(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// A Z85 key decoded to its 32 bytes, or nil if it is not one.
  public static func decode(_ z85: String) -> [UInt8]? {
    guard z85.utf8.count == 40 else { return nil }
    var out = [UInt8](repeating: 0, count: 32)
    let ok = z85.withCString { zmq_z85_decode(&out, $0) } != nil
    return ok ? out : nil
  }
}

extension Socket {
  /// Makes this socket a CURVE server with `secretKey` (before bind). Clients must know its public
  /// key; ZAP (if a handler runs) decides which client keys are let in.
  public func makeCurveServer(secretKey: String) throws(ZMQError) {
    try setOption(ZMQ_CURVE_SERVER, Int32(1))
    try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(secretKey.utf8) + [0])
    try setOption(ZMQ_ZAP_DOMAIN, bytes: Array("moppsd".utf8))
  }

  /// Makes this socket a CURVE client of the server with public key `serverKey` (before connect).
  public func makeCurveClient(serverKey: String, keys: Curve.KeyPair) throws(ZMQError) {
    try setOption(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8) + [0])
    try setOption(ZMQ_CURVE_PUBLICKEY, bytes: Array(keys.publicKey.utf8) + [0])
    try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keys.secretKey.utf8) + [0])
  }
}

extension Socket {
  /// Makes this socket a CURVE client of the server with public key `serverKey`, as the key pair
  /// `publicKey`/`secretKey` (before connect).
  public func makeCurveClient(serverKey: String, publicKey: String, secretKey: String) throws(ZMQError) {
    try setOption(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8) + [0])
    try setOption(ZMQ_CURVE_PUBLICKEY, bytes: Array(publicKey.utf8) + [0])
    try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(secretKey.utf8) + [0])
  }
}
