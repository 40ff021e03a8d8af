import MoPPSEngine

/// Every change a client can make, as the store carries it out: checked first, logged second,
/// applied third, under the lock of the pool it names (`MutationGates`). The pool object is
/// resolved under that lock, so a change racing a Restore or a DropPool of the same name acts on
/// whatever pool is there when it runs, and what is live is what the log replays to.
///
/// Each method takes `wait`: the broker thread passes false and gets nil back, instead of blocking,
/// when the pool's lock is taken (it then hands the request to a worker).
extension StateStore {
  @discardableResult
  public func createPool(_ name: String, config: PoolConfig, wait: Bool = true) throws(StoreError)
    -> PoolInfo?
  {
    try refusing { () throws(MoPPSError) in
      try Engine.validatePoolName(name)
      try config.validate()
    }
    return try mutate(pool: name, wait: wait) { () throws(MoPPSError) in
      // Created before it is logged: the pool limit is checked atomically with adding the pool, so a
      // CreatePool refused by it never reaches the log. Taken back if the record cannot be written.
      let pool = try self.engine.createPool(name, config: config, limit: self.limits.maxPools)
      return .logged(.createPool(name: name, config: config), pool.info) { try? self.engine.dropPool(name) }
    }
  }

  public func dropPool(_ name: String, wait: Bool = true) throws(StoreError) -> Void? {
    try mutate(pool: name, wait: wait) { () throws(MoPPSError) in
      _ = try self.engine.pool(name)
      return .change(.dropPool(name: name)) { () throws(MoPPSError) in try self.engine.dropPool(name) }
    }
  }

  public func register(
    _ name: String, ids: [UInt64], priors: (alpha: [Double], beta: [Double])?, wait: Bool = true
  ) throws(StoreError) -> RegisterResult? {
    try mutate(pool: name, wait: wait) { () throws(MoPPSError) in
      let pool = try self.engine.pool(name)
      let new = try pool.checkRegister(ids, priors: priors)
      try self.checkGrowth(pool, adding: new)
      if new == 0 {
        return .answer(RegisterResult(added: 0, existing: ids.count, promptCount: pool.info.promptCount))
      }
      return .change(.register(pool: name, ids: ids, priorAlpha: priors?.alpha, priorBeta: priors?.beta)) {
        () throws(MoPPSError) in try pool.register(ids, priors: priors)
      }
    }
  }

  public func update(_ name: String, _ outcomes: Outcomes, requestID: String, wait: Bool = true)
    throws(StoreError) -> UpdateResult?
  {
    try mutate(pool: name, wait: wait) { () throws(MoPPSError) in
      let pool = try self.engine.pool(name)
      if try pool.check(outcomes, requestID: requestID) == .duplicate {
        return .answer(try pool.update(outcomes, requestID: requestID))
      }
      try self.checkGrowth(pool, adding: pool.unknownCount(outcomes.ids))
      let record = WALRecord.update(
        pool: name, requestID: requestID, ids: outcomes.ids, successes: outcomes.successes,
        trials: outcomes.trials, step: outcomes.step)
      return .change(record) { () throws(MoPPSError) in try pool.update(outcomes, requestID: requestID) }
    }
  }

  /// Sets posteriors (Import, `moppsd import-state`).
  public func setPosteriors(
    _ name: String, ids: [UInt64], alpha: [Double], beta: [Double], names: [String], wait: Bool = true
  ) throws(StoreError) -> PoolInfo? {
    try mutate(pool: name, wait: wait) { () throws(MoPPSError) in
      let pool = try self.engine.pool(name)
      try pool.checkPosteriors(ids, alpha: alpha, beta: beta, names: names)
      try self.checkGrowth(pool, adding: pool.unknownCount(ids))
      return .change(.setPosteriors(pool: name, ids: ids, alpha: alpha, beta: beta, names: names)) {
        () throws(MoPPSError) in
        try pool.setPosteriors(ids, alpha: alpha, beta: beta, names: names)
        return pool.info
      }
    }
  }

  /// Sets posteriors through the log (import-state).
  public func importEntries(pool name: String, _ e: ReferenceFormat.Entries) throws(StoreError) {
    _ = try setPosteriors(name, ids: e.ids, alpha: e.alpha, beta: e.beta, names: e.names)
  }

  /// Replaces a pool with a snapshot that was read and built before any lock was taken (building a
  /// pool of millions of prompts takes a while; only the swap happens under the pool's lock).
  func install(_ snapshot: PoolSnapshot, as name: String) throws(StoreError) -> PoolInfo {
    var snapshot = snapshot
    snapshot.name = name
    let built = try refusing { () throws(MoPPSError) in try self.engine.restoredPool(snapshot) }
    let installed = snapshot
    return try mutate(pool: name, wait: true) { () throws(MoPPSError) in
      // The same limits as growing a pool or creating one (a Restore can do either).
      if snapshot.ids.count > self.limits.maxPromptsPerPool {
        throw MoPPSError(
          .resourceExhausted,
          "the tag holds \(snapshot.ids.count) prompts, over the limit of \(self.limits.maxPromptsPerPool) "
            + "(moppsd serve --max-prompts-per-pool)")
      }
      if (try? self.engine.pool(name)) == nil && self.engine.listPools().count >= self.limits.maxPools {
        throw MoPPSError(
          .resourceExhausted,
          "the server holds \(self.limits.maxPools) pools, its limit (moppsd serve --max-pools); drop one first"
        )
      }
      return .change(.install(installed)) { () throws(MoPPSError) in
        self.engine.install(built)
        return built.info
      }
    }!
  }

  /// A Select, and the record of what it changed. Selects over client candidates without a request
  /// id (the common case) change only the select counter: they run without any lock and the
  /// background thread logs the counters. Keyed selects and selects of server-drawn candidates
  /// change what a replay must reproduce (the remembered reply, the epoch order), so they run under
  /// the pool's lock and are logged one by one. `duplicate` is true for a remembered reply.
  public func select(_ name: String, _ query: SelectQuery, requestID: String, wait: Bool = true)
    throws(StoreError) -> (result: SelectResult, duplicate: Bool)?
  {
    var drawn: Int? = nil
    if case .drawn(let count) = query.candidates { drawn = count }
    // A dps Select marks the candidates it sees for the first time: a change the log must carry.
    let dps = (try? engine.pool(name))?.config.strategy == .dps
    if requestID.isEmpty && drawn == nil && !dps {
      return try refusing { () throws(MoPPSError) in (try self.engine.pool(name).select(query), false) }
    }
    return try mutate(pool: name, wait: wait) { () throws(MoPPSError) in
      let pool = try self.engine.pool(name)
      if !requestID.isEmpty && query.returnAllSamples {
        // A remembered reply is kept in memory, in the log and in every snapshot: bound its size.
        var candidates = 0
        switch query.candidates {
        case .given(let ids): candidates = ids.count
        case .drawn(let count): candidates = count
        case .all: candidates = pool.info.promptCount
        }
        guard candidates <= Self.maxRememberedCandidates else {
          throw .invalid(
            "return_all_samples with a request_id is limited to \(Self.maxRememberedCandidates) candidates "
              + "(the reply is remembered), got \(candidates); drop one of the two")
        }
      }
      let (result, replay, memo, undo) = try pool.undoableSelect(
        query, requestID: requestID, deferSeen: pool.config.strategy == .dps)
      if replay == .duplicate { return .answer((result, true)) }
      let seen = undo.seen
      if seen.isEmpty && requestID.isEmpty && drawn == nil {
        // Nothing but the select counter changed, which the background thread logs.
        return .answer((result, false))
      }
      do throws(MoPPSError) {
        try self.checkGrowth(pool, adding: pool.unknownCount(seen))
      } catch {
        pool.undo(undo)
        throw error
      }
      let record = WALRecord.select(
        pool: name, count: result.selectIndex &+ 1, drawn: drawn, memo: memo, seen: seen)
      if seen.isEmpty { return .logged(record, (result, false)) { pool.undo(undo) } }
      return .loggedThen(record, (result, false), undo: { pool.undo(undo) }) { () throws(MoPPSError) in
        try pool.markSeen(seen)
      }
    }
  }

  /// Candidates whose samples a keyed Select with return_all_samples may remember.
  static let maxRememberedCandidates = 65_536

  /// Refuses growth past --max-prompts-per-pool (under the pool's lock, so concurrent requests
  /// cannot pass the check together).
  private func checkGrowth(_ pool: Pool, adding new: Int) throws(MoPPSError) {
    let count = pool.info.promptCount
    guard count + new > limits.maxPromptsPerPool else { return }
    throw MoPPSError(
      .resourceExhausted,
      "pool \"\(pool.name)\" would hold \(count + new) prompts, over the limit of \(limits.maxPromptsPerPool) "
        + "(moppsd serve --max-prompts-per-pool)")
  }
}
