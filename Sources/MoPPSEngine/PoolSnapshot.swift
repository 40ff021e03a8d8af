/// Everything about a pool, as plain data: what persistence writes and reads back. Restoring a
/// snapshot gives a pool that answers every later request exactly as the original would have.
public struct PoolSnapshot: Sendable, Equatable {
  /// The pool's name.
  public var name: String
  /// Its configuration.
  public var config: PoolConfig
  /// Its select counter.
  public var selectCount: UInt64
  /// Its update counter.
  public var updateCount: UInt64
  /// Its prompts in slot order (the order they were added).
  public var ids: [UInt64]
  /// α of each of `ids`, as stored (Float32).
  public var alpha: [Float]
  /// β of each of `ids`.
  public var beta: [Float]
  /// The epoch order of server-drawn candidates (nil if never used), its cursor, and its generator.
  public var epochOrder: [Int32]?
  /// How many of `epochOrder` the current epoch has drawn.
  public var epochCursor: Int
  /// The four words of the epoch generator's state.
  public var epochRNG: [UInt64]
  /// Recently applied Update request ids, oldest first.
  public var recentRequests: [String]
  /// The content fingerprint of each of `recentRequests` (empty: not known, a state written before
  /// fingerprints were kept; any retry then counts as a duplicate).
  public var recentFingerprints: [UInt64]
  /// Recently answered Select request ids with their replies, oldest first.
  public var recentSelects: [SelectMemo]
  /// String keys of imported ids (see `Pool.names`), sorted by id.
  public var names: [(id: UInt64, name: String)]

  /// A snapshot from its parts (persistence decodes them); `Engine.install(_:)` checks them.
  public init(
    name: String, config: PoolConfig, selectCount: UInt64, updateCount: UInt64, ids: [UInt64],
    alpha: [Float], beta: [Float], epochOrder: [Int32]?, epochCursor: Int, epochRNG: [UInt64],
    recentRequests: [String], recentFingerprints: [UInt64] = [], recentSelects: [SelectMemo] = [],
    names: [(id: UInt64, name: String)] = []
  ) {
    self.name = name
    self.config = config
    self.selectCount = selectCount
    self.updateCount = updateCount
    self.ids = ids
    self.alpha = alpha
    self.beta = beta
    self.epochOrder = epochOrder
    self.epochCursor = epochCursor
    self.epochRNG = epochRNG
    self.recentRequests = recentRequests
    self.recentFingerprints = recentFingerprints
    self.recentSelects = recentSelects
    self.names = names
  }

  /// Field by field (`names` compared as pairs, since tuples are not `Equatable`).
  public static func == (l: Self, r: Self) -> Bool {
    l.name == r.name && l.config == r.config && l.selectCount == r.selectCount
      && l.updateCount == r.updateCount
      && l.ids == r.ids && l.alpha == r.alpha && l.beta == r.beta && l.epochOrder == r.epochOrder
      && l.epochCursor == r.epochCursor && l.epochRNG == r.epochRNG && l.recentRequests == r.recentRequests
      && l.recentFingerprints == r.recentFingerprints && l.recentSelects == r.recentSelects
      && l.names.map(\.id) == r.names.map(\.id) && l.names.map(\.name) == r.names.map(\.name)
  }
}

extension Pool {
  /// A consistent copy of the pool. Concurrent updates must be held off by the caller (the server's
  /// mutation lock) for the posteriors to match one point in time; the writer state is copied under
  /// the writer lock.
  public func snapshot() -> PoolSnapshot {
    writer.withLock { w in
      let p = posteriors(nil)
      return PoolSnapshot(
        name: name, config: config, selectCount: selects.load(ordering: .relaxed),
        updateCount: updates.load(ordering: .relaxed), ids: p.ids, alpha: p.alpha.map(Float.init),
        beta: p.beta.map(Float.init), epochOrder: w.order, epochCursor: w.cursor, epochRNG: w.epochRNG.state,
        recentRequests: w.recentRequests.ordered,
        recentFingerprints: w.recentRequests.orderedEntries.map(\.value),
        recentSelects: w.recentSelects.orderedEntries.map(\.value),
        names: w.names.sorted { $0.key < $1.key }.map { (id: $0.key, name: $0.value) })
    }
  }

  convenience init(
    restoring s: PoolSnapshot, windows: Engine.Windows, kernel: Kernel,
    promptLimit: Int = PromptTable.capacity
  ) throws(MoPPSError) {
    guard s.alpha.count == s.ids.count, s.beta.count == s.ids.count else {
      throw MoPPSError(.dataLoss, "snapshot of pool \"\(s.name)\": arrays of different lengths")
    }
    guard s.epochRNG.count == 4, s.epochCursor >= 0 else {
      throw MoPPSError(.dataLoss, "snapshot of pool \"\(s.name)\": bad epoch state")
    }
    if let order = s.epochOrder {
      // A permutation of the slots: with a repeat, drawing would never find enough distinct ones.
      var seen = [Bool](repeating: false, count: s.ids.count)
      let isPermutation =
        order.count == s.ids.count
        && order.allSatisfy { slot in
          guard slot >= 0, Int(slot) < seen.count, !seen[Int(slot)] else { return false }
          seen[Int(slot)] = true
          return true
        }
      guard isPermutation, s.epochCursor <= order.count else {
        throw MoPPSError(.dataLoss, "snapshot of pool \"\(s.name)\": bad epoch order")
      }
    }
    guard s.recentFingerprints.isEmpty || s.recentFingerprints.count == s.recentRequests.count else {
      throw MoPPSError(
        .dataLoss, "snapshot of pool \"\(s.name)\": request fingerprints do not match the ids")
    }
    do {
      try s.config.validate()
    } catch {
      throw MoPPSError(.dataLoss, "snapshot of pool \"\(s.name)\": \(error.message)")
    }
    try Validate.distinct(s.ids, "snapshot ids")
    for i in s.ids.indices
    where !(Shapes.isValid(s.alpha[i]) && Shapes.isValid(s.beta[i])) {
      throw MoPPSError(
        .dataLoss,
        "snapshot of pool \"\(s.name)\": posterior of id \(s.ids[i]) (\(s.alpha[i]), \(s.beta[i])) is outside the shapes [1e-30, 3.4e38]"
      )
    }
    self.init(name: s.name, config: s.config, windows: windows, kernel: kernel, promptLimit: promptLimit)
    try writer.withLock { (w) throws(MoPPSError) in
      // The ids are distinct (checked above) and the pool is empty, so every one is new.
      try ensureRoom(s.ids) { _ in true }
      // The order is empty until the snapshot's own replaces it below.
      for i in s.ids.indices { append(s.ids[i], alpha: s.alpha[i], beta: s.beta[i], &w) }
      table.reclaim()
      w.order = s.epochOrder
      w.cursor = s.epochCursor
      w.epochRNG.state = s.epochRNG
      for (i, r) in s.recentRequests.enumerated() {
        w.recentRequests.insert(r, s.recentFingerprints.isEmpty ? 0 : s.recentFingerprints[i])
      }
      for memo in s.recentSelects { w.recentSelects.insert(memo.requestID, memo) }
      for n in s.names { w.names[n.id] = n.name }
    }
    selects.store(s.selectCount, ordering: .relaxed)
    updates.store(s.updateCount, ordering: .relaxed)
  }

  /// Sets the posteriors of `ids` (adding unknown ones): reference-format imports. `names` (one per
  /// id, "" for none) keeps the original string keys of ids that were derived from them.
  public func setPosteriors(_ ids: [UInt64], alpha: [Double], beta: [Double], names: [String] = [])
    throws(MoPPSError)
  {
    try checkPosteriors(ids, alpha: alpha, beta: beta, names: names)
    try writer.withLock { (w) throws(MoPPSError) in
      try ensureRoom(ids) { table.writerLookup(ids[$0]) == nil }
      for i in ids.indices {
        if let slot = table.writerLookup(ids[i]) {
          table.set(slot, alpha: Float(alpha[i]), beta: Float(beta[i]))
        } else {
          append(ids[i], alpha: Float(alpha[i]), beta: Float(beta[i]), &w)
        }
        if !names.isEmpty && !names[i].isEmpty { w.names[ids[i]] = names[i] }
      }
      table.reclaim()
    }
  }

  /// Checks an Import without changing anything.
  public func checkPosteriors(_ ids: [UInt64], alpha: [Double], beta: [Double], names: [String])
    throws(MoPPSError)
  {
    try Validate.distinct(ids, "ids")
    guard names.isEmpty || names.count == ids.count else {
      throw .invalid("names: need one per id (\(ids.count)) or none, got \(names.count)")
    }
    guard alpha.count == ids.count, beta.count == ids.count else {
      throw .invalid("alpha/beta: need one value per id (\(ids.count)), got \(alpha.count)/\(beta.count)")
    }
    for i in ids.indices {
      try Validate.positive(alpha[i], "alpha[\(i)] (id \(ids[i]))")
      try Validate.positive(beta[i], "beta[\(i)] (id \(ids[i]))")
    }
    let unknown = table.withLookup { look in ids.map { look($0) == nil } }
    try ensureRoom(ids) { unknown[$0] }
  }

  /// The original string key of each id, "" where the id is its own key.
  public func names(of ids: [UInt64]) -> [String] {
    writer.withLock { w in ids.map { w.names[$0] ?? "" } }
  }
}
