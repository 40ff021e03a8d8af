/// Update, Select and Get of dps, greso and pools pools (rules in docs/strategies.md). These run
/// one at a time per pool under the strategy lock (the state of a step spans many prompts), which
/// is taken before the writer lock.
extension Pool {
  // MARK: Update

  func strategyUpdate(_ outcomes: Outcomes, requestID: String) throws(MoPPSError) -> UpdateResult {
    var slots = try checkedSlots(outcomes)
    let fingerprint = requestID.isEmpty ? 0 : Fingerprint.of(outcomes)
    return try strategyState.withLock { (s) throws(MoPPSError) in
      let opens = try s.opensStep(outcomes.step)
      let duplicate = try writer.withLock { (w) throws(MoPPSError) -> Bool in
        if !requestID.isEmpty, try w.replay(ofUpdate: requestID, fingerprint) == .duplicate { return true }
        if slots.contains(-1) { try insertMissing(outcomes.ids, &slots, &w) }
        return false
      }
      if duplicate {
        return UpdateResult(
          updated: 0, duplicate: true, updateIndex: updates.load(ordering: .relaxed), alpha: [], beta: [])
      }
      let result = apply(outcomes, slots)
      s.begin(outcomes.step, opens: opens)
      let strategy = config.strategy
      if let last = slots.max() { s.ensure(last, strategy) }
      switch strategy {
      case .dps:
        let model = DPSModel(config.dps)
        for (i, slot) in slots.enumerated() {
          model.observe(&s, slot, y: outcomes.successes[i] / outcomes.trials[i], step: s.steps)
        }
      case .greso:
        for (i, slot) in slots.enumerated() {
          s.gresoObserve(slot, successes: outcomes.successes[i], trials: outcomes.trials[i], config.greso)
        }
        s.gresoAdapt(config.greso)
      case .pools:
        for (i, slot) in slots.enumerated() { s.lastMean[slot] = outcomes.successes[i] / outcomes.trials[i] }
      case .topK, .threshold, .uniform: break
      }
      if !requestID.isEmpty { _ = writer.withLock { w in w.recentRequests.insert(requestID, fingerprint) } }
      return result
    }
  }

  // MARK: Get

  func strategyPosteriors(_ ids: [UInt64]?) -> Posteriors {
    strategyState.withLock { s in
      var out = betaPosteriors(ids)
      let slots: [Int?] =
        ids == nil ? Array(0..<out.ids.count) : table.withLookup { look in out.ids.map { look($0) } }
      switch config.strategy {
      case .dps:
        let model = DPSModel(config.dps)
        out.dpsPredicted.reserveCapacity(3 * slots.count)
        for slot in slots {
          let pi = model.predicted(&s, slot, now: s.steps)
          out.dpsPredicted += [pi.0, pi.1, pi.2]
        }
      case .greso:
        out.gresoEasyRun = slots.map { slot in
          slot.flatMap { $0 < s.easyRun.count ? s.easyRun[$0] : nil } ?? 0
        }
        out.gresoHardRun = slots.map { slot in
          slot.flatMap { $0 < s.hardRun.count ? s.hardRun[$0] : nil } ?? 0
        }
      case .pools:
        out.lastMean = slots.map { slot in
          slot.flatMap { $0 < s.lastMean.count ? s.lastMean[$0] : nil } ?? .nan
        }
      case .topK, .threshold, .uniform: break
      }
      return out
    }
  }

  // MARK: Select

  /// Checks that a Select's strategy may run on this pool: dps, greso and pools only on a pool of
  /// that strategy, the MoPPS strategies only on MoPPS pools.
  func checkStrategy(_ query: SelectQuery) throws(MoPPSError) {
    guard let asked = query.strategy, asked != config.strategy else { return }
    if asked.hasOwnState || config.strategy.hasOwnState {
      throw .invalid(
        "strategy: \(asked.rawValue) cannot select from pool \"\(name)\", which uses strategy "
          + "\(config.strategy.rawValue) (dps, greso and pools are fixed at CreatePool)")
    }
  }

  /// A Select of a dps, greso or pools pool. `deferSeen`: dps candidates seen for the first time are
  /// returned in the undo's `seen` instead of being marked (the server marks them once the Select is
  /// logged).
  func strategySelect(_ query: SelectQuery, requestID: String, deferSeen: Bool) throws(MoPPSError) -> (
    result: SelectResult, replay: Replay, memo: SelectMemo?, undo: SelectUndo
  ) {
    let fingerprint = requestID.isEmpty ? 0 : Fingerprint.of(query)
    let b = query.batchSize
    return try strategyState.withLock { (s) throws(MoPPSError) in
      var undo = SelectUndo()
      // Candidates (ids and slots, -1 where not registered) and the select index, under the writer
      // lock for a remembered reply or a draw.
      let picked = try writer.withLock { (w) throws(MoPPSError) -> (SelectMemo?, [UInt64], [Int], UInt64)? in
        if !requestID.isEmpty, let memo = w.recentSelects[requestID] {
          guard memo.fingerprint == fingerprint else { throw .reusedRequestID(requestID, "Select") }
          return nil
        }
        guard b > 0 else { throw .invalid("batch_size must be > 0") }
        switch query.candidates {
        case .given(let ids):
          guard b <= ids.count else {
            throw .invalid("batch_size (\(b)) exceeds the number of candidates (\(ids.count))")
          }
          try Validate.distinct(ids, "candidates")
          let slots = table.withLookup { look in ids.map { look($0) ?? -1 } }
          if config.strategy == .dps, config.strictIDs, let i = slots.firstIndex(of: -1) {
            throw MoPPSError(
              .notFound,
              "candidates[\(i)] = \(ids[i]) is not registered in pool \"\(name)\" (the pool has strict_ids)")
          }
          return (nil, ids, slots, nextSelectIndex())
        case .drawn(let count):
          guard count > 0 else { throw .invalid("candidate_count must be > 0") }
          let total = table.count
          guard count <= total else {
            throw .invalid(
              "candidate_count (\(count)) exceeds the prompts registered in pool \"\(name)\" (\(total))")
          }
          guard b <= count else { throw .invalid("batch_size (\(b)) exceeds candidate_count (\(count))") }
          var drawUndo = DrawUndo(w)
          let slots = w.draw(count, total: total, undo: &drawUndo).map { Int($0) }
          undo.draw = drawUndo
          return (nil, slots.map { table.id($0) }, slots, nextSelectIndex())
        case .all:
          let n = table.count
          guard b <= n else {
            throw .invalid(
              "batch_size (\(b)) exceeds the prompts registered in pool \"\(name)\" (\(n)); "
                + "register prompts or send candidates")
          }
          return (nil, (0..<n).map { table.id($0) }, Array(0..<n), nextSelectIndex())
        }
      }
      guard let (_, ids, slots, index) = picked else {
        let memo = writer.withLock { w in w.recentSelects[requestID]! }
        return (memo.result, .duplicate, memo, SelectUndo())
      }
      if config.strategy == .dps {
        // Unregistered candidates become prompts when seen: room first, before anything changes.
        try ensureRoom(ids) { slots[$0] < 0 }
      }
      let (chosen, scores) = choose(b, ids: ids, slots: slots, index: index, &s)
      var result = SelectResult(
        ids: chosen.map { ids[$0] }, samples: chosen.map { Float(scores[$0]) }, means: nil,
        candidateIDs: nil, candidateSamples: nil, candidateCount: ids.count, strategy: config.strategy,
        selectIndex: index)
      if query.returnMeans {
        let p = betaPosteriors(result.ids)
        result.means = p.ids.indices.map { p.alpha[$0] / (p.alpha[$0] + p.beta[$0]) }
      }
      if query.returnAllSamples {
        result.candidateIDs = ids
        result.candidateSamples = scores.map { Float($0) }
      }
      if config.strategy == .dps {
        let seen = ids.indices.filter { i in
          slots[i] < 0 || slots[i] >= s.dpsSynced.count || s.dpsSynced[slots[i]] == StrategyState.unseen
        }.map { ids[$0] }
        if deferSeen { undo.seen = seen } else { try mark(seen, &s) }
      }
      var memo: SelectMemo? = nil
      if !requestID.isEmpty {
        memo = SelectMemo(requestID: requestID, fingerprint: fingerprint, result: result)
        undo.remembered = writer.withLock { w in w.recentSelects.insert(requestID, memo!) }
      }
      return (result, .fresh, memo, undo)
    }
  }

  /// Marks dps candidates seen (adding the unregistered ones as prompts) at the pool's current step:
  /// what a logged Select did, applied after its record is written and again when it is replayed.
  public func markSeen(_ ids: [UInt64]) throws(MoPPSError) {
    guard config.strategy == .dps, !ids.isEmpty else { return }
    try strategyState.withLock { (s) throws(MoPPSError) in try mark(ids, &s) }
  }

  private func mark(_ ids: [UInt64], _ s: inout StrategyState) throws(MoPPSError) {
    guard !ids.isEmpty else { return }
    var slots = table.withLookup { look in ids.map { look($0) ?? -1 } }
    if slots.contains(-1) {
      try writer.withLock { (w) throws(MoPPSError) in try insertMissing(ids, &slots, &w) }
    }
    let model = DPSModel(config.dps)
    if let last = slots.max() { s.ensure(last, .dps) }
    for slot in slots where s.dpsSynced[slot] == StrategyState.unseen {
      model.start(&s, slot, step: s.steps)
    }
  }

  /// Positions (into the candidates) of the chosen batch, in the strategy's order, and every
  /// candidate's score.
  private func choose(_ b: Int, ids: [UInt64], slots: [Int], index: UInt64, _ s: inout StrategyState) -> (
    [Int], [Double]
  ) {
    let n = ids.count
    switch config.strategy {
    case .dps:
      let model = DPSModel(config.dps)
      let (now, closed) = (s.steps, s.closedSteps)
      var scores = [Double](repeating: 0, count: n)
      s.withDPSArrays { m in
        scores.withUnsafeMutableBufferPointer { out in
          // Distinct candidates have distinct slots, so chunks replay disjoint parts of the arrays
          // (in parallel for whole-pool selects; one chunk for a usual candidate set).
          let chunk = 1 << 15
          let (o, arrays) = (UnsafeSendable(out.baseAddress!), UnsafeSendable(m))
          _ = parallelMap((n + chunk - 1) / chunk) { c in
            for i in (c * chunk)..<min(n, (c + 1) * chunk) {
              o.value[i] = model.score(
                model.predicted(arrays.value, slots[i] < 0 ? nil : slots[i], closed: closed, now: now))
            }
          }
        }
      }
      return (TopB.largest(b, of: scores), scores)
    case .greso:
      let c = config.greso
      var rng = Xoshiro256(seed: config.seed, stream: RandomStream.choose.rawValue, counter: index)
      var kept: [Int] = []
      var skipped: [(run: UInt32, position: Int)] = []
      var scores = [Double](repeating: 1, count: n)
      kept.reserveCapacity(n)
      for i in 0..<n {
        let slot = slots[i]
        let e = slot >= 0 && slot < s.easyRun.count ? s.easyRun[slot] : 0
        let h = slot >= 0 && slot < s.hardRun.count ? s.hardRun[slot] : 0
        let keepEasy = e > 0 ? max(pow(s.pEasy, Double(e)), c.keepFloor) : 1
        let keepHard = h > 0 ? max(pow(s.pHard, Double(h)), c.keepFloor) : 1
        scores[i] = keepEasy * keepHard
        if e > 0, rng.nextUnit() < 1 - keepEasy {
          skipped.append((e, i))
        } else if h > 0, rng.nextUnit() < 1 - keepHard {
          skipped.append((h, i))
        } else {
          kept.append(i)
        }
      }
      if kept.count >= b { return (rng.distinct(b, below: kept.count).map { kept[$0] }, scores) }
      // Too few kept: fill with the skipped ones, fewest skips (shortest run) first.
      skipped.sort { ($0.run, $0.position) < ($1.run, $1.position) }
      return (kept + skipped.prefix(b - kept.count).map(\.position), scores)
    case .pools:
      let c = config.pools
      var rng = Xoshiro256(seed: config.seed, stream: RandomStream.choose.rawValue, counter: index)
      var weights = [Double](repeating: 0, count: n)
      // Efraimidis–Spirakis: the B largest ln(u)/w are a weighted sample without replacement.
      var keys = [Double](repeating: -.infinity, count: n)
      var zero: [Int] = []
      for i in 0..<n {
        let slot = slots[i]
        let mean = slot >= 0 && slot < s.lastMean.count ? s.lastMean[slot] : .nan
        let w = c.weight(mean)
        weights[i] = w
        let u = rng.nextOpenUnit()
        if w > 0 { keys[i] = log(u) / w } else { zero.append(i) }
      }
      let positive = n - zero.count
      if positive >= b { return (TopB.largest(b, of: keys), weights) }
      let first = TopB.largest(positive, of: keys)
      return (first + rng.distinct(b - positive, below: zero.count).map { zero[$0] }, weights)
    case .topK, .threshold, .uniform:
      return ([], [])
    }
  }

  func nextSelectIndex() -> UInt64 {
    // Relaxed: the index only keys random streams; nothing is published through it.
    selects.wrappingAdd(1, ordering: .relaxed).oldValue
  }
}

extension Xoshiro256 {
  /// Uniform in [0, 1) with 53 random bits.
  @inlinable mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// The positions of the k largest values, largest first, ties by position (a stable descending
/// sort's first k), with a k-element heap: O(n log k).
enum TopB {
  static func largest(_ k: Int, of values: [Double]) -> [Int] {
    guard k > 0 else { return [] }
    // `worse(a, b)`: a ranks after b.
    @inline(__always) func worse(_ a: Int, _ b: Int) -> Bool {
      values[a] < values[b] || (values[a] == values[b] && a > b)
    }
    var heap: [Int] = []  // a min-heap by rank: heap[0] is the worst kept
    heap.reserveCapacity(k)
    func siftDown(_ start: Int) {
      var i = start
      while true {
        let l = 2 * i + 1
        let r = l + 1
        var m = i
        if l < heap.count && worse(heap[l], heap[m]) { m = l }
        if r < heap.count && worse(heap[r], heap[m]) { m = r }
        if m == i { return }
        heap.swapAt(i, m)
        i = m
      }
    }
    for i in values.indices {
      if heap.count < k {
        heap.append(i)
        var c = heap.count - 1
        while c > 0 {
          let p = (c - 1) / 2
          guard worse(heap[c], heap[p]) else { break }
          heap.swapAt(c, p)
          c = p
        }
      } else if worse(heap[0], i) {
        heap[0] = i
        siftDown(0)
      }
    }
    return heap.sorted { worse($1, $0) }
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif
