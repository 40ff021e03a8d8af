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
  /// The dps, greso or pools state (nil for MoPPS pools).
  public var strategy: StrategySnapshot? = nil

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
      && l.strategy == r.strategy
  }
}

/// The state of a dps, greso or pools pool as plain data: per-slot arrays (shorter than the pool
/// where later slots were never touched) and the step bookkeeping.
public struct StrategySnapshot: Sendable, Equatable {
  public var steps: UInt64
  public var latestStep: UInt64?
  public var stepOpen: Bool
  /// dps: 9, 3 and 3 Float64 per slot, and each slot's synced step (UInt64.max: not seen).
  public var dpsA: [Double]
  public var dpsPi: [Double]
  public var dpsPrev: [Double]
  public var dpsSynced: [UInt64]
  /// greso: the runs per slot.
  public var easyRun: [UInt32]
  public var hardRun: [UInt32]
  /// greso: p now, at the step's start, and the step's group counts.
  public var pEasy: Double
  public var pHard: Double
  public var stepStartPEasy: Double
  public var stepStartPHard: Double
  public var stepGroups: UInt64
  public var stepAllSolved: UInt64
  public var stepAllFailed: UInt64
  /// pools: the latest group mean per slot.
  public var lastMean: [Double]

  /// A snapshot from its parts (persistence decodes them); `Pool(restoring:)` checks them.
  public init(
    steps: UInt64, latestStep: UInt64?, stepOpen: Bool, dpsA: [Double], dpsPi: [Double], dpsPrev: [Double],
    dpsSynced: [UInt64], easyRun: [UInt32], hardRun: [UInt32], pEasy: Double, pHard: Double,
    stepStartPEasy: Double, stepStartPHard: Double, stepGroups: UInt64, stepAllSolved: UInt64,
    stepAllFailed: UInt64, lastMean: [Double]
  ) {
    self.steps = steps
    self.latestStep = latestStep
    self.stepOpen = stepOpen
    self.dpsA = dpsA
    self.dpsPi = dpsPi
    self.dpsPrev = dpsPrev
    self.dpsSynced = dpsSynced
    self.easyRun = easyRun
    self.hardRun = hardRun
    self.pEasy = pEasy
    self.pHard = pHard
    self.stepStartPEasy = stepStartPEasy
    self.stepStartPHard = stepStartPHard
    self.stepGroups = stepGroups
    self.stepAllSolved = stepAllSolved
    self.stepAllFailed = stepAllFailed
    self.lastMean = lastMean
  }

  /// Equal as bit patterns (NaN means of unseen prompts compare equal).
  public static func == (l: Self, r: Self) -> Bool {
    l.steps == r.steps && l.latestStep == r.latestStep && l.stepOpen == r.stepOpen
      && l.dpsA.map(\.bitPattern) == r.dpsA.map(\.bitPattern)
      && l.dpsPi.map(\.bitPattern) == r.dpsPi.map(\.bitPattern)
      && l.dpsPrev.map(\.bitPattern) == r.dpsPrev.map(\.bitPattern) && l.dpsSynced == r.dpsSynced
      && l.easyRun == r.easyRun && l.hardRun == r.hardRun && l.pEasy.bitPattern == r.pEasy.bitPattern
      && l.pHard.bitPattern == r.pHard.bitPattern
      && l.stepStartPEasy.bitPattern == r.stepStartPEasy.bitPattern
      && l.stepStartPHard.bitPattern == r.stepStartPHard.bitPattern && l.stepGroups == r.stepGroups
      && l.stepAllSolved == r.stepAllSolved && l.stepAllFailed == r.stepAllFailed
      && l.lastMean.map(\.bitPattern) == r.lastMean.map(\.bitPattern)
  }
}

extension StrategyState {
  var snapshot: StrategySnapshot {
    StrategySnapshot(
      steps: steps, latestStep: latestStep, stepOpen: stepOpen, dpsA: dpsA, dpsPi: dpsPi, dpsPrev: dpsPrev,
      dpsSynced: dpsSynced, easyRun: easyRun, hardRun: hardRun, pEasy: pEasy, pHard: pHard,
      stepStartPEasy: stepStartPEasy, stepStartPHard: stepStartPHard, stepGroups: stepGroups,
      stepAllSolved: stepAllSolved, stepAllFailed: stepAllFailed, lastMean: lastMean)
  }

  /// The state of a snapshot of a pool of `count` prompts; DATA_LOSS naming what does not fit.
  init(_ t: StrategySnapshot, count: Int, config: PoolConfig, pool: String) throws(MoPPSError) {
    func bad(_ what: String) -> MoPPSError {
      MoPPSError(.dataLoss, "snapshot of pool \"\(pool)\": strategy state: \(what)")
    }
    let d = t.dpsSynced.count
    guard d <= count, t.dpsA.count == 9 * d, t.dpsPi.count == 3 * d, t.dpsPrev.count == 3 * d else {
      throw bad("dps arrays of different lengths")
    }
    guard t.easyRun.count <= count, t.hardRun.count == t.easyRun.count else {
      throw bad("greso arrays of different lengths")
    }
    guard t.lastMean.count <= count else { throw bad("more means than prompts") }
    guard t.stepGroups >= t.stepAllSolved, t.stepGroups >= t.stepAllFailed else {
      throw bad("step counts out of order")
    }
    for p in [t.pEasy, t.pHard, t.stepStartPEasy, t.stepStartPHard] where !(p >= 0 && p <= 1) {
      throw bad("p \(p) outside [0, 1]")
    }
    // Scores are compared and logged: a damaged count or probability must not become a NaN score.
    guard t.dpsA.allSatisfy({ $0.isFinite && $0 >= 0 }),
      t.dpsPi.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 1 }),
      t.dpsPrev.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 1 }),
      t.lastMean.allSatisfy({ $0.isNaN || ($0 >= 0 && $0 <= 1) })
    else {
      throw bad("a count, probability or mean out of range")
    }
    for s in t.dpsSynced where s != StrategyState.unseen && s > t.steps {
      throw bad("a prompt synced to step \(s), past the pool's \(t.steps)")
    }
    self.init(config)
    (steps, latestStep, stepOpen) = (t.steps, t.latestStep, t.stepOpen)
    (dpsA, dpsPi, dpsPrev, dpsSynced) = (t.dpsA, t.dpsPi, t.dpsPrev, t.dpsSynced)
    (easyRun, hardRun, lastMean) = (t.easyRun, t.hardRun, t.lastMean)
    (pEasy, pHard, stepStartPEasy, stepStartPHard) = (t.pEasy, t.pHard, t.stepStartPEasy, t.stepStartPHard)
    (stepGroups, stepAllSolved, stepAllFailed) = (t.stepGroups, t.stepAllSolved, t.stepAllFailed)
  }
}

extension Pool {
  /// A consistent copy of the pool. Concurrent updates must be held off by the caller (the server's
  /// mutation lock) for the posteriors to match one point in time; the writer state is copied under
  /// the writer lock.
  public func snapshot() -> PoolSnapshot {
    let own = config.strategy.hasOwnState
    return strategyState.withLock { s in
      var snapshot = betaSnapshot()
      if own { snapshot.strategy = s.snapshot }
      return snapshot
    }
  }

  private func betaSnapshot() -> PoolSnapshot {
    writer.withLock { w in
      let p = betaPosteriors(nil)
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
    if let t = s.strategy {
      guard s.config.strategy.hasOwnState else {
        throw MoPPSError(.dataLoss, "snapshot of pool \"\(s.name)\": strategy state for a MoPPS pool")
      }
      let state = try StrategyState(t, count: s.ids.count, config: s.config, pool: s.name)
      strategyState.withLock { $0 = state }
    }
    selects.store(s.selectCount, ordering: .relaxed)
    updates.store(s.updateCount, ordering: .relaxed)
  }

  /// Sets the posteriors of `ids` (adding unknown ones): reference-format imports. `names` (one per
  /// id, "" for none) keeps the original string keys of ids that were derived from them.
  public func setPosteriors(_ ids: [UInt64], alpha: [Double], beta: [Double], names: [String] = [])
    throws(MoPPSError)
  {
    try checkReferenceFormat()
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
    try checkReferenceFormat()
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

  /// FAILED_PRECONDITION on a dps, greso or pools pool: the reference formats hold Beta posteriors
  /// only, so importing or exporting them would silently leave the strategy's own state behind.
  public func checkReferenceFormat() throws(MoPPSError) {
    guard config.strategy.hasOwnState else { return }
    throw MoPPSError(
      .failedPrecondition,
      "Import/Export of the reference formats is MoPPS-only (pool \(name) uses strategy \(config.strategy.rawValue))"
    )
  }

  /// The original string key of each id, "" where the id is its own key.
  public func names(of ids: [UInt64]) -> [String] {
    writer.withLock { w in ids.map { w.names[$0] ?? "" } }
  }
}
