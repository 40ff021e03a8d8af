import MoPPSEngine

/// One logged mutation. Replaying the log through the engine's own methods reproduces the state
/// bit for bit, since those methods are deterministic and mutations are logged in the order they
/// were applied (the store serialises them).
enum WALRecord: Equatable, Sendable {
  case createPool(name: String, config: PoolConfig)
  case dropPool(name: String)
  case register(pool: String, ids: [UInt64], priorAlpha: [Double]?, priorBeta: [Double]?)
  case update(
    pool: String, requestID: String, ids: [UInt64], successes: [Double], trials: [Double], step: UInt64? = nil
  )
  case setPosteriors(pool: String, ids: [UInt64], alpha: [Double], beta: [Double], names: [String])
  /// A whole pool replaced (Restore of a tag, or import of a full state).
  case install(PoolSnapshot)
  /// What a Select changed: the pool's select counter (at least `count` after it), the epoch when
  /// it drew `drawn` candidates, the reply remembered under its request id. Counter-only records are
  /// also written in the background for selects that are not logged one by one. `seen`: the
  /// candidates a dps Select saw for the first time.
  case select(pool: String, count: UInt64, drawn: Int?, memo: SelectMemo?, seen: [UInt64] = [])

  func encode() -> [UInt8] {
    var w = BinaryWriter()
    switch self {
    case .createPool(let name, let config):
      w.u8(1)
      w.string(name)
      w.config(config)
    case .dropPool(let name):
      w.u8(2)
      w.string(name)
    case .register(let pool, let ids, let a, let b):
      w.u8(3)
      w.string(pool)
      w.array(ids)
      w.u8(a == nil ? 0 : 1)
      if let a, let b {
        w.array(a)
        w.array(b)
      }
    case .update(let pool, let requestID, let ids, let successes, let trials, let step):
      w.u8(4)
      w.string(pool)
      w.string(requestID)
      w.array(ids)
      w.array(successes)
      w.array(trials)
      w.u8(step == nil ? 0 : 1)
      w.u64(step ?? 0)
    case .setPosteriors(let pool, let ids, let alpha, let beta, let names):
      w.u8(5)
      w.string(pool)
      w.array(ids)
      w.array(alpha)
      w.array(beta)
      w.u64(UInt64(names.count))
      for n in names { w.string(n) }
    case .install(let snapshot):
      w.u8(6)
      w.pool(snapshot)
    case .select(let pool, let count, let drawn, let memo, let seen):
      w.u8(7)
      w.string(pool)
      w.u64(count)
      w.u64(drawn.map { UInt64($0) + 1 } ?? 0)
      w.u8(memo == nil ? 0 : 1)
      if let memo { w.memo(memo) }
      w.array(seen)
    }
    return w.bytes
  }

  static func decode(_ bytes: [UInt8], version: UInt32 = StateFormat.current) throws(PersistenceError)
    -> WALRecord
  {
    var r = BinaryReader(bytes, version: version)
    let record: WALRecord
    switch try r.u8() {
    case 1: record = .createPool(name: try r.string(), config: try r.config())
    case 2: record = .dropPool(name: try r.string())
    case 3:
      let pool = try r.string()
      let ids = try r.array(UInt64.self)
      if try r.u8() == 1 {
        record = .register(
          pool: pool, ids: ids, priorAlpha: try r.array(Double.self), priorBeta: try r.array(Double.self))
      } else {
        record = .register(pool: pool, ids: ids, priorAlpha: nil, priorBeta: nil)
      }
    case 4:
      let (pool, requestID, ids) = (try r.string(), try r.string(), try r.array(UInt64.self))
      let (successes, trials) = (try r.array(Double.self), try r.array(Double.self))
      var step: UInt64? = nil
      if r.version >= 3 {
        let flag = try r.u8()
        let value = try r.u64()
        if flag == 1 { step = value }
      }
      record = .update(
        pool: pool, requestID: requestID, ids: ids, successes: successes, trials: trials, step: step)
    case 5:
      let pool = try r.string()
      let ids = try r.array(UInt64.self)
      let alpha = try r.array(Double.self)
      let beta = try r.array(Double.self)
      let count = try r.u64()
      guard count <= UInt64(ids.count) else { throw PersistenceError("more names than ids") }
      var names: [String] = []
      for _ in 0..<count { names.append(try r.string()) }
      record = .setPosteriors(pool: pool, ids: ids, alpha: alpha, beta: beta, names: names)
    case 6: record = .install(try r.pool())
    case 7 where r.version >= 2:
      let pool = try r.string()
      let count = try r.u64()
      let drawn = try r.u64()
      guard drawn <= UInt64(Int32.max) else { throw PersistenceError("drawn count out of range") }
      let memo = try r.u8() == 1 ? try r.memo() : nil
      record = .select(
        pool: pool, count: count, drawn: drawn == 0 ? nil : Int(drawn - 1), memo: memo,
        seen: r.version >= 3 ? try r.array(UInt64.self) : [])
    case let kind: throw PersistenceError("unknown record type \(kind)")
    }
    guard r.atEnd else { throw PersistenceError("\(bytes.count - r.offset) stray bytes after a record") }
    return record
  }

  /// Applies the record to the engine (recovery).
  func replay(into engine: Engine) throws(MoPPSError) {
    switch self {
    case .createPool(let name, let config): try engine.createPool(name, config: config)
    case .dropPool(let name): try engine.dropPool(name)
    case .register(let pool, let ids, let a, let b):
      _ = try engine.pool(pool).register(ids, priors: a.map { ($0, b ?? []) })
    case .update(let pool, let requestID, let ids, let successes, let trials, let step):
      _ = try engine.pool(pool).update(
        Outcomes(ids: ids, successes: successes, trials: trials, step: step), requestID: requestID)
    case .setPosteriors(let pool, let ids, let alpha, let beta, let names):
      try engine.pool(pool).setPosteriors(ids, alpha: alpha, beta: beta, names: names)
    case .install(let snapshot): try engine.install(snapshot)
    case .select(let pool, let count, let drawn, let memo, let seen):
      let target = try engine.pool(pool)
      try target.replaySelect(count: count, drawn: drawn, memo: memo)
      try target.markSeen(seen)
    }
  }
}

extension BinaryWriter {
  mutating func config(_ c: PoolConfig) {
    f64(c.priorAlpha)
    f64(c.priorBeta)
    f64(c.decay)
    f64(c.target)
    string(c.strategy.rawValue)
    f64(c.bandLow)
    f64(c.bandHigh)
    u64(c.seed)
    u8(c.strictIDs ? 1 : 0)
    let d = c.dps
    f64(d.decay)
    string(d.prior)
    array(d.priorCounts)
    string(d.selection)
    f64(d.entropyWeight)
    let g = c.greso
    for v in [
      g.pEasy, g.pHard, g.targetZeroShare, g.easyThreshold, g.hardThreshold, g.stepSize, g.pMin, g.pMax,
    ] {
      f64(v)
    }
    f64(g.keepFloor)
    u8(g.adapt ? 1 : 0)
    let p = c.pools
    for v in [p.hardMax, p.easyMin, p.weightHard, p.weightNormal, p.weightEasy, p.weightUnseen] { f64(v) }
  }

  mutating func strategyState(_ t: StrategySnapshot?) {
    u8(t == nil ? 0 : 1)
    guard let t else { return }
    u64(t.steps)
    u8(t.latestStep == nil ? 0 : 1)
    u64(t.latestStep ?? 0)
    u8(t.stepOpen ? 1 : 0)
    array(t.dpsA)
    array(t.dpsPi)
    array(t.dpsPrev)
    array(t.dpsSynced)
    array(t.easyRun)
    array(t.hardRun)
    for v in [t.pEasy, t.pHard, t.stepStartPEasy, t.stepStartPHard] { f64(v) }
    u64(t.stepGroups)
    u64(t.stepAllSolved)
    u64(t.stepAllFailed)
    array(t.lastMean)
  }

  mutating func memo(_ m: SelectMemo) {
    string(m.requestID)
    u64(m.fingerprint)
    let r = m.result
    array(r.ids)
    array(r.samples)
    u8((r.means == nil ? 0 : 1) | (r.candidateIDs == nil ? 0 : 2))
    if let means = r.means { array(means) }
    if let ids = r.candidateIDs, let samples = r.candidateSamples {
      array(ids)
      array(samples)
    }
    u64(UInt64(r.candidateCount))
    string(r.strategy.rawValue)
    u64(r.selectIndex)
  }

  mutating func pool(_ p: PoolSnapshot) {
    string(p.name)
    config(p.config)
    u64(p.selectCount)
    u64(p.updateCount)
    array(p.ids)
    array(p.alpha)
    array(p.beta)
    u8(p.epochOrder == nil ? 0 : 1)
    if let order = p.epochOrder { array(order) }
    u64(UInt64(p.epochCursor))
    array(p.epochRNG)
    u32(UInt32(p.recentRequests.count))
    for r in p.recentRequests { string(r) }
    u64(UInt64(p.names.count))
    for n in p.names {
      u64(n.id)
      string(n.name)
    }
    array(p.recentFingerprints)
    u32(UInt32(p.recentSelects.count))
    for m in p.recentSelects { memo(m) }
    strategyState(p.strategy)
  }
}

extension BinaryReader {
  mutating func config() throws(PersistenceError) -> PoolConfig {
    let priorAlpha = try f64()
    let priorBeta = try f64()
    let decay = try f64()
    let target = try f64()
    let strategy = try strategy()
    var config = PoolConfig(
      priorAlpha: priorAlpha, priorBeta: priorBeta, decay: decay, target: target, strategy: strategy,
      bandLow: try f64(), bandHigh: try f64(), seed: try u64())
    if version >= 2 { config.strictIDs = try u8() == 1 }
    if version >= 3 {
      config.dps.decay = try f64()
      config.dps.prior = try string()
      config.dps.priorCounts = try array(Double.self)
      config.dps.selection = try string()
      config.dps.entropyWeight = try f64()
      var g = GRESOConfig()
      (g.pEasy, g.pHard, g.targetZeroShare, g.easyThreshold) = (try f64(), try f64(), try f64(), try f64())
      (g.hardThreshold, g.stepSize, g.pMin, g.pMax) = (try f64(), try f64(), try f64(), try f64())
      g.keepFloor = try f64()
      g.adapt = try u8() == 1
      config.greso = g
      var p = PoolsConfig()
      (p.hardMax, p.easyMin, p.weightHard) = (try f64(), try f64(), try f64())
      (p.weightNormal, p.weightEasy, p.weightUnseen) = (try f64(), try f64(), try f64())
      config.pools = p
    }
    return config
  }

  mutating func strategyState() throws(PersistenceError) -> StrategySnapshot? {
    guard try u8() == 1 else { return nil }
    let steps = try u64()
    let hasLatest = try u8() == 1
    let latest = try u64()
    let open = try u8() == 1
    let (a, pi, prev) = (try array(Double.self), try array(Double.self), try array(Double.self))
    let synced = try array(UInt64.self)
    let (easy, hard) = (try array(UInt32.self), try array(UInt32.self))
    let (pEasy, pHard, startEasy, startHard) = (try f64(), try f64(), try f64(), try f64())
    let (groups, solved, failed) = (try u64(), try u64(), try u64())
    return StrategySnapshot(
      steps: steps, latestStep: hasLatest ? latest : nil, stepOpen: open, dpsA: a, dpsPi: pi, dpsPrev: prev,
      dpsSynced: synced, easyRun: easy, hardRun: hard, pEasy: pEasy, pHard: pHard, stepStartPEasy: startEasy,
      stepStartPHard: startHard, stepGroups: groups, stepAllSolved: solved, stepAllFailed: failed,
      lastMean: try array(Double.self))
  }

  private mutating func strategy() throws(PersistenceError) -> Strategy {
    let name = try string()
    guard let strategy = Strategy(rawValue: name) else {
      throw PersistenceError("unknown strategy \"\(name)\"")
    }
    return strategy
  }

  mutating func memo() throws(PersistenceError) -> SelectMemo {
    let requestID = try string()
    let fingerprint = try u64()
    let ids = try array(UInt64.self)
    let samples = try array(Float.self)
    let flags = try u8()
    let means = flags & 1 != 0 ? try array(Double.self) : nil
    var candidates: ([UInt64], [Float])? = nil
    if flags & 2 != 0 { candidates = (try array(UInt64.self), try array(Float.self)) }
    guard let candidateCount = Int(exactly: try u64()) else {
      throw PersistenceError("candidate count out of range")
    }
    let strategy = try strategy()
    let result = SelectResult(
      ids: ids, samples: samples, means: means, candidateIDs: candidates?.0, candidateSamples: candidates?.1,
      candidateCount: candidateCount, strategy: strategy, selectIndex: try u64())
    guard samples.count == ids.count, means == nil || means!.count == ids.count,
      candidates == nil || candidates!.0.count == candidates!.1.count
    else {
      throw PersistenceError("remembered select reply of \"\(requestID)\": arrays of different lengths")
    }
    return SelectMemo(requestID: requestID, fingerprint: fingerprint, result: result)
  }

  mutating func pool() throws(PersistenceError) -> PoolSnapshot {
    let name = try string()
    let config = try config()
    let selectCount = try u64()
    let updateCount = try u64()
    let ids = try array(UInt64.self)
    let alpha = try array(Float.self)
    let beta = try array(Float.self)
    let order = try u8() == 1 ? try array(Int32.self) : nil
    guard let cursor = Int(exactly: try u64()) else { throw PersistenceError("epoch cursor out of range") }
    let rng = try array(UInt64.self)
    var recent: [String] = []
    for _ in 0..<(try u32()) { recent.append(try string()) }
    let nameCount = try u64()
    guard nameCount <= UInt64(ids.count) else { throw PersistenceError("more names than prompts") }
    var names: [(id: UInt64, name: String)] = []
    for _ in 0..<nameCount { names.append((id: try u64(), name: try string())) }
    var fingerprints: [UInt64] = []
    var selects: [SelectMemo] = []
    if version >= 2 {
      fingerprints = try array(UInt64.self)
      guard fingerprints.isEmpty || fingerprints.count == recent.count else {
        throw PersistenceError("request fingerprints do not match the request ids")
      }
      for _ in 0..<(try u32()) { selects.append(try memo()) }
    }
    var snapshot = PoolSnapshot(
      name: name, config: config, selectCount: selectCount, updateCount: updateCount, ids: ids, alpha: alpha,
      beta: beta, epochOrder: order, epochCursor: cursor, epochRNG: rng, recentRequests: recent,
      recentFingerprints: fingerprints, recentSelects: selects, names: names)
    if version >= 3 { snapshot.strategy = try strategyState() }
    return snapshot
  }
}
