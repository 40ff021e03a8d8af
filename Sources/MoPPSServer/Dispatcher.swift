import MoPPSEngine
import MoPPSPersistence
import MoPPSPlatform
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
  /// Where every mutation goes: durable in a state directory, or in memory only.
  public let store: StateStore
  let maxIDs: Int
  let maxMessageBytes: Int
  /// What a request may cost before it is decoded (--max-ids, --max-request-memory).
  let limits: RequestLimits
  private let started = ContinuousClock.now
  private let counters = Mutex<[String: MethodRecord]>([:])

  /// What Stats reports per method.
  struct MethodRecord {
    var count: UInt64 = 0
    var errorsByCode: [StatusCode: UInt64] = [:]
    var latency = LatencyHistogram()
    /// Handling times per bound of `RequestFigures.bounds` (not cumulative; slower ones only in
    /// `count`), for the Prometheus histogram.
    var buckets = [UInt64](repeating: 0, count: RequestFigures.bounds.count)
    var timed: UInt64 = 0
    var nanosSum: UInt64 = 0
  }
  private let seedSource = Mutex(SystemRandomNumberGenerator())

  /// Serves `store` (its engine, limits and, when it has a directory, its log).
  public init(
    store: StateStore, maxIDsPerRequest: Int = ServerConfig.defaultMaxIDsPerRequest,
    maxMessageBytes: Int = Int(ServerConfig.defaultMaxMessageBytes),
    maxRequestMemory: Int = RequestLimits.defaultMaxMemoryBytes
  ) {
    engine = store.engine
    self.store = store
    maxIDs = maxIDsPerRequest
    self.maxMessageBytes = maxMessageBytes
    limits = RequestLimits(maxIDs: maxIDsPerRequest, maxMemoryBytes: maxRequestMemory)
  }

  /// Serves `store` with the request limits of `config`.
  public convenience init(store: StateStore, config: ServerConfig) {
    self.init(
      store: store, maxIDsPerRequest: config.maxIDsPerRequest, maxMessageBytes: Int(config.maxMessageBytes),
      maxRequestMemory: config.maxRequestMemory)
  }

  /// Serves `engine` from memory only (tests).
  public convenience init(
    engine: Engine = Engine(), maxIDsPerRequest: Int = ServerConfig.defaultMaxIDsPerRequest,
    maxPools: Int = ServerConfig.defaultMaxPools,
    maxPromptsPerPool: Int = ServerConfig.defaultMaxPromptsPerPool,
    maxMessageBytes: Int = Int(ServerConfig.defaultMaxMessageBytes),
    maxRequestMemory: Int = RequestLimits.defaultMaxMemoryBytes
  ) {
    self.init(
      store: .inMemory(
        engine: engine, limits: StateStore.Limits(maxPools: maxPools, maxPromptsPerPool: maxPromptsPerPool)),
      maxIDsPerRequest: maxIDsPerRequest, maxMessageBytes: maxMessageBytes, maxRequestMemory: maxRequestMemory
    )
  }

  /// Handles one request, `[method][body]`, and returns `[Status][body]` plus the events to publish.
  /// Any bytes get a reply; nothing here traps on input.
  public func handle(_ frames: [[UInt8]]) -> (reply: [[UInt8]], events: [Event]) {
    switch decode(frames) {
    case .failure(let reply): return (reply, [])
    case .success(let method, let request): return respond(method, request)!
    }
  }

  /// A decoded request, or the failure reply for frames that are not one.
  public enum Decoded {
    case success(Method, Request)
    case failure([[UInt8]])
  }

  public func decode(_ frames: [[UInt8]]) -> Decoded {
    guard frames.count == 1 || frames.count == 2 else {
      count("(malformed)", .invalidArgument)
      return .failure(
        failure(.invalidArgument, "expected a request of 2 frames [method][body], got \(frames.count)").reply)
    }
    if frames.count == 2 && frames[1].count > maxMessageBytes {
      count(Method(path: frames[0])?.rawValue ?? "(unknown)", .resourceExhausted)
      return .failure(
        failure(
          .resourceExhausted,
          "request body of \(frames[1].count) bytes exceeds the limit of \(maxMessageBytes) (moppsd serve --max-message-bytes)"
        ).reply)
    }
    do {
      let request = try Request.decode(
        method: frames[0], body: frames.count == 2 ? frames[1] : [], limits: limits)
      return .success(Method(path: frames[0])!, request)
    } catch {
      count(Method(path: frames[0])?.rawValue ?? "(unknown)", error.code)
      return .failure(failure(error.code, error.message).reply)
    }
  }

  /// Answers a decoded request. With `wait: false` (the broker thread) returns nil, having done
  /// nothing, when the request would have to wait for a lock: a worker takes it then.
  public func respond(_ method: Method, _ request: Request, wait: Bool = true) -> (
    reply: [[UInt8]], events: [Event]
  )? {
    let started = ContinuousClock.now
    let result: (reply: [[UInt8]], events: [Event])
    let code: StatusCode
    do {
      guard let (response, events) = try respond(request, wait: wait) else { return nil }
      (result, code) = (([Reply.status(.ok), response], events), .ok)
    } catch {
      (result, code) = (failure(error.code, error.message), error.code)
    }
    let elapsed = ContinuousClock.now - started
    let nanos =
      UInt64(elapsed.components.seconds) * 1_000_000_000
      + UInt64(elapsed.components.attoseconds / 1_000_000_000)
    count(method.rawValue, code, nanoseconds: nanos)
    // The metadata is an autoclosure: built only when debug logging is on.
    Log.logger.debug(
      "request", metadata: ["method": "\(method.rawValue)", "code": "\(code.name)", "us": "\(nanos / 1000)"])
    return result
  }

  /// Whether a request is cheap enough for the broker to answer itself (no thread hop): everything
  /// but whole-pool or server-drawn selects, selects over more than 16,384 candidates, the bulk and
  /// disk-bound methods, Stats (it visits every pool's writer lock), and mutations when each must
  /// wait for an fsync (`--fsync always`). Those go to a worker so they never hold up small requests.
  public func isQuick(_ request: Request) -> Bool {
    let waitsForDisk = store.options?.fsync == .always
    switch request {
    case .health, .listPools, .get: return true
    case .createPool, .dropPool, .update: return !waitsForDisk
    case .stats: return false
    case .select(let r):
      if case .given(let ids) = r.query.candidates { return ids.count <= 16_384 }
      return false
    case .register, .snapshot, .restore, .listSnapshots, .importState, .exportState: return false
    }
  }

  private func failure(_ code: StatusCode, _ message: String) -> (reply: [[UInt8]], events: [Event]) {
    ([Reply.status(code, message), []], [])
  }

  private func limit(_ n: Int, _ field: String) throws(MoPPSError) {
    guard n <= maxIDs else {
      throw MoPPSError(
        .resourceExhausted,
        "\(field): \(n) ids exceeds the limit of \(maxIDs) per request (moppsd serve --max-ids)")
    }
  }

  private func respond(_ request: Request, wait: Bool) throws(MoPPSError) -> ([UInt8], [Event])? {
    switch request {
    case .createPool(let r):
      let seed = r.config.seed ?? seedSource.withLock { $0.next() }
      let config = r.config.resolved(defaultSeed: seed)
      return try stored { () throws(StoreError) in try store.createPool(r.pool, config: config, wait: wait) }
        .map { (Reply.createPool($0), []) }
    case .dropPool(let name):
      return try stored { () throws(StoreError) in try store.dropPool(name, wait: wait) }.map {
        (Reply.dropPool(), [])
      }
    case .listPools:
      return (Reply.listPools(engine.listPools().map(\.info)), [])
    case .register(let r):
      try limit(r.ids.count, "ids")
      return try stored { () throws(StoreError) in
        try store.register(r.pool, ids: r.ids, priors: r.priors, wait: wait)
      }.map {
        (Reply.register($0), [])
      }
    case .select(let r):
      if case .given(let ids) = r.query.candidates { try limit(ids.count, "candidates") }
      if case .drawn(let n) = r.query.candidates { try limit(n, "candidate_count") }
      guard
        let (result, duplicate) = try stored({ () throws(StoreError) in
          try store.select(r.pool, r.query, requestID: r.requestID, wait: wait)
        })
      else {
        return nil
      }
      let reply = Reply.select(result, packed: r.packedReply)
      if duplicate { return (reply, []) }
      let event = Event(topic: Topic.select(pool: r.pool), body: Reply.selectEvent(pool: r.pool, result))
      return (reply, [event])
    case .update(let r):
      try limit(r.outcomes.ids.count, "ids")
      guard
        let result = try stored({ () throws(StoreError) in
          try store.update(r.pool, r.outcomes, requestID: r.requestID, wait: wait)
        })
      else {
        return nil
      }
      if result.duplicate { return (Reply.update(result), []) }
      let event = Event(
        topic: Topic.update(pool: r.pool),
        body: Reply.updateEvent(pool: r.pool, ids: r.outcomes.ids, result, requestID: r.requestID))
      return (Reply.update(result), [event])
    case .get(let r):
      try limit(r.ids?.count ?? 0, "ids")
      let pool = try engine.pool(r.pool)
      if r.ids == nil { try limit(pool.info.promptCount, "ids (all registered prompts)") }
      return (Reply.get(pool.posteriors(r.ids), packed: r.packedReply), [])
    case .snapshot(let r):
      if r.tag.isEmpty {
        do throws(PersistenceError) {
          try store.requireDirectory("Snapshot")
        } catch {
          throw StoreError.storage(error).reply
        }
        do throws(PersistenceError) {
          return (Reply.snapshot(SnapshotInfo(try store.snapshotState())), [])
        } catch {
          throw MoPPSError(.internal, "snapshot failed: \(error.message)")
        }
      }
      let saved = try stored { () throws(StoreError) in try store.saveTag(pool: r.pool, tag: r.tag) }
      return (Reply.snapshot(SnapshotInfo(saved)), [])
    case .restore(let r):
      return (
        Reply.restore(try stored { () throws(StoreError) in try store.restoreTag(pool: r.pool, tag: r.tag) }),
        []
      )
    case .listSnapshots(let pool):
      let listed = try stored { () throws(StoreError) in try store.listSnapshots(pool: pool) }
      return (Reply.listSnapshots(listed.map(SnapshotInfo.init)), [])
    case .importState(let r):
      try limit(r.ids.count, "ids")
      return try stored { () throws(StoreError) in
        try store.setPosteriors(r.pool, ids: r.ids, alpha: r.alpha, beta: r.beta, names: r.names, wait: wait)
      }
      .map { (Reply.importState(imported: r.ids.count, promptCount: $0.promptCount), []) }
    case .exportState(let name):
      let pool = try engine.pool(name)
      try pool.checkReferenceFormat()
      try limit(pool.info.promptCount, "prompts to export")
      let p = pool.posteriors(nil)
      return (Reply.exportState(p, names: pool.names(of: p.ids)), [])
    case .stats:
      let elapsed = ContinuousClock.now - started
      let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
      let methods = methodStats()
      let total = methods.reduce(0) { $0 + $1.count }
      let pools = engine.listPools()
      return (
        Reply.stats(
          uptimeSeconds: seconds, requests: total, methods: methods, pools: pools.map(\.info),
          residentBytes: UInt64(ProcessInfoReader.residentBytes()),
          poolBytes: UInt64(pools.reduce(0) { $0 + $1.allocatedBytes }), kernel: engine.kernel.name,
          cpu: Kernel.cpuName, poolMetrics: pools.map(\.metrics), store: storeFigures()),
        []
      )
    case .health:
      return (Reply.health(status: "SERVING", version: ServerConfig.version, kernel: engine.kernel.name), [])
    }
  }

  /// Seconds since the dispatcher was made (the server started).
  public var uptimeSeconds: Double {
    let elapsed = ContinuousClock.now - started
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
  }

  /// Per-method counts and handling-time histograms, sorted by method. The counters' lock is held
  /// only to copy them (the request path takes it once per request, as briefly).
  public func requestFigures() -> [RequestFigures] {
    let copy = counters.withLock { $0 }
    return copy.sorted { $0.key < $1.key }.map { name, r in
      RequestFigures(
        method: name, count: r.count, errorsByCode: r.errorsByCode, buckets: r.buckets, timed: r.timed,
        secondsSum: Double(r.nanosSum) * 1e-9)
    }
  }

  /// The state directory's figures as Stats carries them.
  public func storeFigures() -> StoreFigures {
    let m = store.storeMetrics
    var f = StoreFigures()
    f.persistent = m.persistent
    (f.walBytes, f.fsyncs, f.fsyncSecondsSum) = (m.walBytes, m.fsyncs, m.fsyncSecondsSum)
    (f.fsyncBuckets, f.fsyncBounds) = (m.fsyncBuckets, StoreMetrics.fsyncBounds)
    (f.snapshotsWritten, f.lastSnapshotUnix) = (m.snapshotsWritten, m.lastSnapshotUnix)
    (f.lastSnapshotBytes, f.lastSnapshotSeconds) = (m.lastSnapshotBytes, m.lastSnapshotSeconds)
    return f
  }

  private func count(_ method: String, _ code: StatusCode, nanoseconds: UInt64? = nil) {
    counters.withLock { c in
      var entry = c[method] ?? MethodRecord()
      entry.count += 1
      if code != .ok { entry.errorsByCode[code, default: 0] += 1 }
      if let nanoseconds {
        entry.latency.record(nanoseconds)
        entry.timed += 1
        entry.nanosSum &+= nanoseconds
        if let i = RequestFigures.boundNanos.firstIndex(where: { nanoseconds <= $0 }) {
          entry.buckets[i] += 1
        }
      }
      c[method] = entry
    }
  }

  /// Per-method counters and latency percentiles for Stats, sorted by method.
  func methodStats() -> [MethodCounters] {
    counters.withLock { c in
      c.sorted { $0.key < $1.key }.map { name, r in
        var m = MethodCounters(method: name, count: r.count, errors: r.errorsByCode.values.reduce(0, +))
        m.errorsByCode = r.errorsByCode
        let us = { (q: Double) in Double(r.latency.quantile(q)) / 1000 }
        (m.p50, m.p90, m.p99, m.p999) = (us(0.5), us(0.9), us(0.99), us(0.999))
        m.maxMicros = Double(r.latency.max) / 1000
        (m.sumMicros, m.timed) = (Double(r.nanosSum) / 1000, r.timed)
        return m
      }
    }
  }

}
