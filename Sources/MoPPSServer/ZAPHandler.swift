import MoPPSEngine
import ZeroMQ

/// The ZeroMQ authentication (ZAP, RFC 27) handler: answers libzmq's requests on
/// inproc://zeromq.zap.01 in the server's context, letting in CURVE clients whose public key is
/// allowed (every key when there is no allow list). Runs on the broker thread.
final class ZAPHandler {
  let socket: Socket
  /// nil: any client key; never empty (`ServerConfig.validate` refuses that).
  let allowed: Set<[UInt8]>?

  init(context: Context, allowedKeys: [String]?) throws(MoPPSError) {
    if let allowedKeys {
      var keys = Set<[UInt8]>()
      for key in allowedKeys {
        guard let raw = Curve.decode(key) else {
          throw MoPPSError(.invalidArgument, "--curve-allow: \"\(key)\" is not a Z85 public key")
        }
        keys.insert(raw)
      }
      guard !keys.isEmpty else {
        throw MoPPSError(.invalidArgument, "--curve-allow: the allow list holds no client key")
      }
      allowed = keys
    } else {
      allowed = nil
    }
    do {
      socket = try Socket(context, .rep)
      try socket.bind("inproc://zeromq.zap.01")
    } catch {
      throw MoPPSError(.internal, "cannot start the ZAP handler: \(error)")
    }
  }

  /// Answers every queued ZAP request.
  func serve() {
    while let request = try? socket.receive(dontWait: true) {
      // [version "1.0"][request id][domain][address][identity][mechanism][credentials…]
      guard request.count >= 6 else {
        try? socket.send([
          Array("1.0".utf8), [], Array("400".utf8), Array("malformed ZAP request".utf8), [], [],
        ])
        continue
      }
      let mechanism = String(decoding: request[5], as: UTF8.self)
      let key = request.count > 6 ? request[6] : []
      let ok = mechanism == "CURVE" && key.count == 32 && (allowed?.contains(key) ?? true)
      if !ok {
        Log.warning(
          "refused a \(mechanism) client from \(String(decoding: request[3], as: UTF8.self)): key not allowed"
        )
      }
      try? socket.send([
        request[0], request[1], Array((ok ? "200" : "400").utf8), Array((ok ? "OK" : "key not allowed").utf8),
        [], [],
      ])
    }
  }
}
