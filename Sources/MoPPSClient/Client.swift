import MoPPSEngine
import MoPPSPlatform
import MoPPSProtocol
import ZeroMQ

/// Pool settings; nil takes the server's default.
public typealias PoolSettings = PoolConfigFields
public typealias RemotePool = ClientCodec.Pool
public typealias Selection = ClientCodec.Selected
public typealias PosteriorArrays = ClientCodec.PosteriorArrays

/// Rollouts behind the successes of an Update.
public enum Trials: Sendable {
  /// One count per id.
  case perID([UInt32])
  /// The same count for every id.
  case each(UInt32)
}

/// A connection to one moppsd: one REQ socket, blocking calls (no async), closed on deinit.
///
/// Reliability ("Lazy Pirate"): each attempt waits `timeout` seconds; on a timeout the socket is
/// replaced and the same request resent, up to `retries` more times, then `UNAVAILABLE`. Select and
/// Update carry request ids (fresh ones when not given), so a retried Update is applied once; a
/// retried CreatePool or DropPool whose first attempt went through is reported as success. Not
/// Sendable: use a client on the thread that made it; give each thread its own.
///
/// ```swift
/// let client = try MoPPSClient(endpoint: "ipc:///tmp/mopps-state/moppsd.sock")
/// var settings = PoolSettings()
/// settings.decay = 0.5
/// _ = try client.createPool("math", settings)
/// let batch = try client.select("math", batchSize: 256, candidates: Array(0..<4096))
/// _ = try client.update("math", ids: batch.ids, successes: successes, trials: .each(8))
/// ```
public final class MoPPSClient {
  public let endpoint: String
  public let timeout: Double
  public let retries: Int
  private let curve: (server: String, publicKey: String, secretKey: String)?
  private let context: Context
  private var socket: Socket?
  /// The last call needed more than one attempt.
  private var retried = false

  /// `serverKey`: the server's CURVE public key (Z85); this client's key pair is generated when
  /// `keyPair` is nil (list its public key in the server's --curve-allow).
  public init(
    endpoint: String, timeout: Double = 5, retries: Int = 2, serverKey: String? = nil,
    keyPair: (publicKey: String, secretKey: String)? = nil
  ) throws(MoPPSError) {
    guard timeout > 0, timeout <= 86_400 else {
      throw MoPPSError(.invalidArgument, "timeout must be in (0, 86400] s")
    }
    guard retries >= 0 else { throw MoPPSError(.invalidArgument, "retries must be >= 0") }
    self.endpoint = endpoint
    self.timeout = timeout
    self.retries = retries
    do throws(ZMQError) {
      if let serverKey {
        if let keyPair {
          curve = (serverKey, keyPair.publicKey, keyPair.secretKey)
        } else {
          let fresh = try Curve.keyPair()
          curve = (serverKey, fresh.publicKey, fresh.secretKey)
        }
      } else {
        curve = nil
      }
      context = try Context()
    } catch {
      throw MoPPSError(.internal, "\(error)")
    }
    try open()
  }

  private func open() throws(MoPPSError) {
    do throws(ZMQError) {
      let s = try Socket(context, .req)
      let ms = Int32(min(timeout * 1000, Double(Int32.max)).rounded(.up))
      try s.setReceiveTimeout(ms)
      try s.setSendTimeout(ms)
      if let curve {
        try s.makeCurveClient(serverKey: curve.server, publicKey: curve.publicKey, secretKey: curve.secretKey)
      }
      try s.connect(endpoint)
      socket = s
    } catch {
      throw MoPPSError(.invalidArgument, "connect \(endpoint): \(error)")
    }
  }

  /// One request `[/mopps.v1.Selector/<method>][body]` with retries: the reply body of an OK status.
  public func call(_ method: Method, _ body: [UInt8] = []) throws(MoPPSError) -> [UInt8] {
    retried = false
    for attempt in 0...retries {
      if attempt > 0 {
        // A REQ socket that missed its reply is stuck mid-exchange: replace it, then resend.
        socket?.close()
        socket = nil
        try open()
        retried = true
      }
      guard let socket else { continue }
      let frames: [[UInt8]]?
      do throws(ZMQError) {
        try socket.send([Array(method.path.utf8), body])
        frames = try socket.receive()
      } catch {
        if error.isWouldBlock { continue }
        throw MoPPSError(.unavailable, "\(method.rawValue): \(error)")
      }
      guard let frames, let first = frames.first else { continue }
      let status: (code: StatusCode, message: String)
      do throws(MoPPSError) {
        status = try Reply.decodeStatus(first)
      } catch {
        throw MoPPSError(.internal, "\(method.rawValue): the reply's status frame does not parse")
      }
      guard status.code == .ok else { throw MoPPSError(status.code, status.message) }
      return frames.count > 1 ? frames[1] : []
    }
    // Leave a usable socket behind: the last one is still waiting for its reply.
    socket?.close()
    socket = nil
    try open()
    throw MoPPSError(
      .unavailable,
      "no reply from \(endpoint) within \(timeout) s, \(retries + 1) attempt(s) (\(method.rawValue))")
  }

  private func decode<T>(_ method: Method, _ body: [UInt8], _ read: ([UInt8]) throws(MoPPSError) -> T)
    throws(MoPPSError) -> T
  {
    let reply = try call(method, body)
    do throws(MoPPSError) {
      return try read(reply)
    } catch {
      throw MoPPSError(.internal, "\(method.rawValue): the reply body does not parse: \(error.message)")
    }
  }

  /// ("SERVING", the server's version).
  public func health() throws(MoPPSError) -> (status: String, version: String, kernel: String) {
    try decode(.health, [], Reply.decodeHealth)
  }

  public func createPool(_ pool: String, _ settings: PoolSettings = PoolSettings()) throws(MoPPSError)
    -> RemotePool
  {
    do {
      return try decode(
        .createPool, ClientCodec.createPool(pool: pool, config: settings), ClientCodec.decodeCreatePool)
    } catch  where error.code == .alreadyExists && retried {
      // A retry whose first attempt did create the pool: report that pool.
      guard let existing = try listPools().first(where: { $0.name == pool }) else { throw error }
      return existing
    }
  }

  public func dropPool(_ pool: String) throws(MoPPSError) {
    do {
      _ = try call(.dropPool, ClientCodec.dropPool(pool: pool))
    } catch  where error.code == .notFound && retried {
      // A retry whose first attempt did drop the pool finds it gone: the success asked for.
    }
  }

  public func listPools() throws(MoPPSError) -> [RemotePool] {
    try decode(.listPools, [], ClientCodec.decodeListPools)
  }

  /// Adds prompt ids; returns how many were new. Priors: both or neither, one per id.
  @discardableResult
  public func register(_ pool: String, ids: [UInt64], priors: (alpha: [Double], beta: [Double])? = nil)
    throws(MoPPSError) -> UInt64
  {
    try decode(
      .register, ClientCodec.register(pool: pool, ids: ids, priors: priors), ClientCodec.decodeRegister
    )
    .added
  }

  /// Chooses `batchSize` prompts from `candidates`, or from `candidateCount` registered prompts
  /// drawn by the server, or (neither) from all registered prompts.
  public func select(
    _ pool: String, batchSize: UInt32, candidates: [UInt64] = [], candidateCount: UInt32 = 0,
    strategy: Strategy? = nil, returnMeans: Bool = false, requestID: String? = nil
  ) throws(MoPPSError) -> Selection {
    let body = ClientCodec.select(
      pool: pool, batchSize: batchSize, candidates: candidates, candidateCount: candidateCount,
      strategy: strategy,
      returnMeans: returnMeans, requestID: requestID ?? Self.freshRequestID())
    return try decode(.select, body, ClientCodec.decodeSelect)
  }

  /// Reports `successes[i]` successes in the rollouts of `ids[i]`; `requestID` (a fresh one when
  /// nil) makes a retried update apply once.
  @discardableResult
  public func update(
    _ pool: String, ids: [UInt64], successes: [Double], trials: Trials, requestID: String? = nil
  ) throws(MoPPSError) -> (updated: UInt64, duplicate: Bool) {
    let perID: [UInt32]?
    let rollouts: UInt32
    switch trials {
    case .perID(let t): (perID, rollouts) = (t, 0)
    case .each(let n): (perID, rollouts) = (nil, n)
    }
    let body = ClientCodec.update(
      pool: pool, ids: ids, successes: successes, trials: perID, rollouts: rollouts,
      requestID: requestID ?? Self.freshRequestID())
    return try decode(.update, body, ClientCodec.decodeUpdate)
  }

  /// Posteriors of `ids` (the prior for unseen ones), or of every registered prompt when nil.
  public func get(_ pool: String, ids: [UInt64]? = nil) throws(MoPPSError) -> PosteriorArrays {
    try decode(.get, ClientCodec.get(pool: pool, ids: ids), ClientCodec.decodeGet)
  }

  public func snapshot(_ pool: String, tag: String) throws(MoPPSError) -> SnapshotInfo {
    try decode(.snapshot, ClientCodec.snapshot(pool: pool, tag: tag), ClientCodec.decodeSnapshot)
  }

  public func restore(_ pool: String, tag: String) throws(MoPPSError) -> RemotePool {
    try decode(.restore, ClientCodec.restore(pool: pool, tag: tag), ClientCodec.decodeRestore)
  }

  public func listSnapshots(_ pool: String = "") throws(MoPPSError) -> [SnapshotInfo] {
    try decode(.listSnapshots, ClientCodec.listSnapshots(pool: pool), ClientCodec.decodeListSnapshots)
  }

  /// Sets posteriors (adding unknown ids); returns how many were imported.
  @discardableResult
  public func importState(_ pool: String, ids: [UInt64], alpha: [Double], beta: [Double]) throws(MoPPSError)
    -> UInt64
  {
    try decode(
      .importState, ClientCodec.importState(pool: pool, ids: ids, alpha: alpha, beta: beta),
      ClientCodec.decodeImport
    ).imported
  }

  public func exportState(_ pool: String) throws(MoPPSError) -> PosteriorArrays {
    try decode(.exportState, ClientCodec.exportState(pool: pool), ClientCodec.decodeExport)
  }

  public func stats() throws(MoPPSError) -> StatsReport {
    try decode(.stats, [], Reply.decodeStats)
  }

  /// 128 random bits as hex.
  static func freshRequestID() -> String {
    var g = SystemRandomNumberGenerator()
    let (a, b) = (g.next() as UInt64, g.next() as UInt64)
    let hex = String(a, radix: 16) + "-" + String(b, radix: 16)
    return hex
  }
}

/// CurveZMQ keys for programs that talk to a server (the CLI's keygen and serve), so they need not
/// import the socket layer.
public enum CurveKeys {
  public static func keyPair() throws(MoPPSError) -> Curve.KeyPair {
    do throws(ZMQError) { return try Curve.keyPair() } catch { throw MoPPSError(.internal, "\(error)") }
  }

  public static func publicKey(ofSecret secret: String) throws(MoPPSError) -> String {
    do throws(ZMQError) {
      return try Curve.publicKey(ofSecret: secret)
    } catch {
      throw MoPPSError(.invalidArgument, "\(error)")
    }
  }
}

/// The shortest positional decimal that reads back to the same Float ("1", "4.5", "0.3"): the rule
/// the conformance programs print posteriors with. Swift's `description` gives the shortest digits
/// (ties to even, like numpy and printf) but switches to exponents ("1e-05"); this writes them out.
public func formatFloat32(_ value: Float) -> String {
  if value.isNaN { return "nan" }
  if value.isInfinite { return value < 0 ? "-inf" : "inf" }
  if value == 0 { return value.sign == .minus ? "-0" : "0" }
  var text = Substring(value.description)
  let negative = text.first == "-"
  if negative { text = text.dropFirst() }
  var exponent = 0
  if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
    exponent = Int(text[text.index(after: e)...]) ?? 0
    text = text[..<e]
  }
  // text is now "ddd.ddd" (or "d"): the point position gives the exponent of the first digit.
  let point = text.firstIndex(of: ".") ?? text.endIndex
  let integerDigits = text.distance(from: text.startIndex, to: point)
  var digits = String(text.filter { $0 != "." })
  var pointAt = integerDigits + exponent  // digits before the decimal point
  while digits.count > 1 && digits.first == "0" {
    digits.removeFirst()
    pointAt -= 1
  }
  while digits.count > 1 && digits.last == "0" { digits.removeLast() }
  var out = negative ? "-" : ""
  if pointAt <= 0 {
    out += "0." + String(repeating: "0", count: -pointAt) + digits
  } else if digits.count <= pointAt {
    out += digits + String(repeating: "0", count: pointAt - digits.count)
  } else {
    let split = digits.index(digits.startIndex, offsetBy: pointAt)
    out += digits[..<split] + "." + digits[split...]
  }
  return out
}
