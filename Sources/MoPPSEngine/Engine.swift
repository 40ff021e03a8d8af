import Synchronization

/// The set of named pools. Pools are independent: each has its own lock, so work on one pool never
/// waits for another.
public final class Engine: Sendable {
  private let pools = Mutex<[String: Pool]>([:])
  /// How many recent Update request ids each pool remembers to apply retries once.
  public let dedupeWindow: Int
  public static let defaultDedupeWindow = 4096

  public init(dedupeWindow: Int = defaultDedupeWindow) {
    self.dedupeWindow = dedupeWindow
  }

  @discardableResult
  public func createPool(_ name: String, config: PoolConfig) throws(EngineError) -> Pool {
    try Validate.poolName(name)
    try config.validate()
    return try pools.withLock { (p) throws(EngineError) -> Pool in
      guard p[name] == nil else { throw EngineError(.alreadyExists, "pool \"\(name)\" already exists") }
      let pool = Pool(name: name, config: config, dedupeWindow: dedupeWindow)
      p[name] = pool
      return pool
    }
  }

  public func dropPool(_ name: String) throws(EngineError) {
    let removed = pools.withLock { $0.removeValue(forKey: name) }
    guard removed != nil else { throw Self.notFound(name) }
  }

  public func pool(_ name: String) throws(EngineError) -> Pool {
    guard let pool = pools.withLock({ $0[name] }) else { throw Self.notFound(name) }
    return pool
  }

  /// Replaces (or creates) a pool with the state of a snapshot.
  @discardableResult
  public func install(_ snapshot: PoolSnapshot) throws(EngineError) -> Pool {
    try Validate.poolName(snapshot.name)
    try snapshot.config.validate()
    let pool = try Pool(restoring: snapshot, dedupeWindow: dedupeWindow)
    pools.withLock { $0[snapshot.name] = pool }
    return pool
  }

  /// Pools sorted by name.
  public func listPools() -> [Pool] {
    pools.withLock { Array($0.values) }.sorted { $0.name < $1.name }
  }

  private static func notFound(_ name: String) -> EngineError {
    if name.isEmpty { return .invalid("pool: empty name") }
    return EngineError(.notFound, "pool \"\(name)\" not found; create it with CreatePool")
  }
}
