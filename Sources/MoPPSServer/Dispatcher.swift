import MoPPSEngine
import MoPPSProtocol
import Synchronization

/// A PUB event: topic frame and protobuf body.
public struct Event: Sendable, Equatable {
  public var topic: String
  public var body: [UInt8]
}

/// Turns request frames into reply frames and events. No sockets here, so it is tested directly.
public final class Dispatcher: Sendable {
  public let engine: Engine
  let maxIDs: Int
  private let started = ContinuousClock.now
  private let counters = Mutex<[String: MethodCounters]>([:])
  private let seedSource = Mutex(SystemRandomNumberGenerator())

  public init(engine: Engine = Engine(), maxIDsPerRequest: Int = ServerConfig.defaultMaxIDsPerRequest) {
    self.engine = engine
    maxIDs = maxIDsPerRequest
  }

  /// Handles one request, `[method][body]`, and returns `[Status][body]` plus the events to publish.
  /// Any bytes get a reply; nothing here traps on input.
  public func handle(_ frames: [[UInt8]]) -> (reply: [[UInt8]], events: [Event]) {
    guard frames.count == 1 || frames.count == 2 else {
      count("(malformed)", failed: true)
      return failure(.invalidArgument, "expected a request of 2 frames [method][body], got \(frames.count)")
    }
    let body = frames.count == 2 ? frames[1] : []
    let request: Request
    do {
      request = try Request.decode(method: frames[0], body: body)
    } catch {
      count(Method(path: frames[0])?.rawValue ?? "(unknown)", failed: true)
      return failure(error.code, error.message)
    }
    let name = Method(path: frames[0])!.rawValue
    do {
      let (response, events) = try respond(request)
      count(name, failed: false)
      return ([Reply.status(.ok), response], events)
    } catch {
      count(name, failed: true)
      return failure(error.code, error.message)
    }
  }

  private func failure(_ code: StatusCode, _ message: String) -> (reply: [[UInt8]], events: [Event]) {
    ([Reply.status(code, message), []], [])
  }

  private func limit(_ n: Int, _ field: String) throws(EngineError) {
    guard n <= maxIDs else {
      throw EngineError(
        .resourceExhausted,
        "\(field): \(n) ids exceeds the limit of \(maxIDs) per request (moppsd serve --max-ids)")
    }
  }

  private func respond(_ request: Request) throws(EngineError) -> ([UInt8], [Event]) {
    switch request {
    case .createPool(let r):
      let seed = r.config.seed ?? seedSource.withLock { $0.next() }
      let pool = try engine.createPool(r.pool, config: r.config.resolved(defaultSeed: seed))
      return (Reply.createPool(pool.info), [])
    case .dropPool(let name):
      try engine.dropPool(name)
      return (Reply.dropPool(), [])
    case .listPools:
      return (Reply.listPools(engine.listPools().map(\.info)), [])
    case .register(let r):
      try limit(r.ids.count, "ids")
      return (Reply.register(try engine.pool(r.pool).register(r.ids, priors: r.priors)), [])
    case .select(let r):
      if case .given(let ids) = r.query.candidates { try limit(ids.count, "candidates") }
      if case .drawn(let n) = r.query.candidates { try limit(n, "candidate_count") }
      let pool = try engine.pool(r.pool)
      let result = try pool.select(r.query)
      let event = Event(
        topic: Topic.select(pool: pool.name), body: Reply.selectEvent(pool: pool.name, result))
      return (Reply.select(result, packed: r.packedReply), [event])
    case .update(let r):
      try limit(r.outcomes.ids.count, "ids")
      let pool = try engine.pool(r.pool)
      let result = try pool.update(r.outcomes, requestID: r.requestID)
      if result.duplicate { return (Reply.update(result), []) }
      let event = Event(
        topic: Topic.update(pool: pool.name),
        body: Reply.updateEvent(pool: pool.name, ids: r.outcomes.ids, result, requestID: r.requestID))
      return (Reply.update(result), [event])
    case .get(let r):
      try limit(r.ids?.count ?? 0, "ids")
      let pool = try engine.pool(r.pool)
      if r.ids == nil { try limit(pool.info.promptCount, "ids (all registered prompts)") }
      return (Reply.get(pool.posteriors(r.ids), packed: r.packedReply), [])
    case .snapshot, .restore:
      throw EngineError(
        .unimplemented, "Snapshot and Restore are not available in moppsd \(ServerConfig.version) yet")
    case .stats:
      let elapsed = ContinuousClock.now - started
      let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
      let methods = counters.withLock { Array($0.values) }.sorted { $0.method < $1.method }
      let total = methods.reduce(0) { $0 + $1.count }
      return (
        Reply.stats(
          uptimeSeconds: seconds, requests: total, methods: methods, pools: engine.listPools().map(\.info)),
        []
      )
    case .health:
      return (Reply.health(status: "SERVING", version: ServerConfig.version), [])
    }
  }

  private func count(_ method: String, failed: Bool) {
    counters.withLock { c in
      var entry = c[method] ?? MethodCounters(method: method, count: 0, errors: 0)
      entry.count += 1
      if failed { entry.errors += 1 }
      c[method] = entry
    }
  }
}
