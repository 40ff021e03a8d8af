import Synchronization

/// The set of named pools. Pools are independent: each has its own lock, so work on one pool never
/// waits for another.
public final class Engine: Sendable {
  private let pools = Mutex<[String: Pool]>([:])
  /// How many recent request ids each pool remembers, so that a retried request is answered once.
  public struct Windows: Sendable, Equatable {
    /// Update request ids (with a fingerprint of each one's content).
    public var updates: Int
    /// Select request ids with their replies (a few KiB each, hence the smaller default).
    public var selects: Int

    /// Windows of `updates` Update ids and `selects` Select ids (each at least 1 in effect).
    public init(updates: Int = 4096, selects: Int = 256) {
      self.updates = updates
      self.selects = selects
    }
  }
  /// How many recent request ids each pool of this engine remembers.
  public let windows: Windows
  /// The Update window, `windows.updates`: how many Update request ids a pool remembers.
  public var dedupeWindow: Int { windows.updates }
  /// The default Update window (4,096 request ids).
  public static let defaultDedupeWindow = Windows().updates
  /// The vectorised kernels every pool of this engine samples and selects with.
  public let kernel: Kernel

  /// An engine without pools whose pools remember `windows` of request ids and sample with `kernel`
  /// (by default the fastest variant this CPU runs).
  public init(windows: Windows = Windows(), kernel: Kernel = .best) {
    self.windows = windows
    self.kernel = kernel
  }

  /// An engine whose pools remember `dedupeWindow` Update request ids (and the default Select window).
  public convenience init(dedupeWindow: Int) {
    self.init(windows: Windows(updates: dedupeWindow))
  }

  /// Checks a pool name the way every request that names a pool does (before any file is touched).
  public static func validatePoolName(_ name: String) throws(MoPPSError) { try Validate.poolName(name) }

  /// Creates a pool; with `limit`, refuses (RESOURCE_EXHAUSTED) when that many pools exist, checked
  /// under the same lock that adds the pool so that concurrent creates cannot pass it together.
  @discardableResult
  public func createPool(_ name: String, config: PoolConfig, limit: Int? = nil) throws(MoPPSError) -> Pool {
    try Validate.poolName(name)
    try config.validate()
    return try pools.withLock { (p) throws(MoPPSError) -> Pool in
      guard p[name] == nil else { throw MoPPSError(.alreadyExists, "pool \"\(name)\" already exists") }
      if let limit, p.count >= limit {
        throw MoPPSError(
          .resourceExhausted,
          "the server holds \(limit) pools, its limit (moppsd serve --max-pools); drop one first")
      }
      let pool = Pool(name: name, config: config, windows: windows, kernel: kernel)
      p[name] = pool
      return pool
    }
  }

  /// Removes a pool; NOT_FOUND if there is none of that name. Requests already holding the `Pool`
  /// finish on it.
  public func dropPool(_ name: String) throws(MoPPSError) {
    let removed = pools.withLock { $0.removeValue(forKey: name) }
    guard removed != nil else { throw Self.notFound(name) }
  }

  /// The pool called `name`; NOT_FOUND (INVALID_ARGUMENT for an empty name) if there is none.
  public func pool(_ name: String) throws(MoPPSError) -> Pool {
    guard let pool = pools.withLock({ $0[name] }) else { throw Self.notFound(name) }
    return pool
  }

  /// Replaces (or creates) a pool with the state of a snapshot.
  @discardableResult
  public func install(_ snapshot: PoolSnapshot) throws(MoPPSError) -> Pool {
    let pool = try restoredPool(snapshot)
    install(pool)
    return pool
  }

  /// A pool built from a snapshot but not yet serving: building a big one takes a while, and the
  /// server does it before taking any lock, then swaps it in with `install(_:)`.
  public func restoredPool(_ snapshot: PoolSnapshot) throws(MoPPSError) -> Pool {
    try Validate.poolName(snapshot.name)
    try snapshot.config.validate()
    return try Pool(restoring: snapshot, windows: windows, kernel: kernel)
  }

  /// Puts a pool from `restoredPool(_:)` in place of any pool of that name.
  public func install(_ pool: Pool) {
    pools.withLock { $0[pool.name] = pool }
  }

  /// Pools sorted by name.
  public func listPools() -> [Pool] {
    pools.withLock { Array($0.values) }.sorted { $0.name < $1.name }
  }

  private static func notFound(_ name: String) -> MoPPSError {
    if name.isEmpty { return .invalid("pool: empty name") }
    return MoPPSError(.notFound, "pool \"\(name)\" not found; create it with CreatePool")
  }
}
