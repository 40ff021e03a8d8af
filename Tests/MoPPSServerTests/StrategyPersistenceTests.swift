import Foundation
import Testing

@testable import MoPPSEngine
@testable import MoPPSPersistence

/// dps, greso and pools state through the real StateStore: log replay after a crash (the state
/// directory copied while the store still runs, as a kill -9 leaves it), full-state snapshots,
/// and tags.
@Suite struct StrategyPersistenceTests {
  static func directory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("mopps-zoo-\(UUID().uuidString)").path
  }

  /// What a client can observe of a pool: Get of every prompt (Beta and strategy state, as bit
  /// patterns) and the pool's counters and status.
  static func observed(_ pool: Pool) -> [UInt64] {
    let p = pool.posteriors(nil)
    var out = p.ids
    out += p.alpha.map(\.bitPattern) + p.beta.map(\.bitPattern)
    out += p.dpsPredicted.map(\.bitPattern) + p.lastMean.map(\.bitPattern)
    out += p.gresoEasyRun.map(UInt64.init) + p.gresoHardRun.map(UInt64.init)
    let s = pool.info.state
    out += [s.steps, s.gresoPEasy.bitPattern, s.gresoPHard.bitPattern, pool.info.updateCount]
    return out
  }

  /// A training run through the store: server-drawn and given candidates, keyed and unkeyed
  /// selects, two ranks per step.
  static func train(_ store: StateStore, _ pool: String, steps: Range<Int>, rng: inout Xoshiro256) throws {
    for step in steps {
      let query =
        step % 2 == 0
        ? SelectQuery(batchSize: 8, candidates: .drawn(count: 32))
        : SelectQuery(batchSize: 8, candidates: .given(rng.distinct(32, below: 400).map { UInt64($0) }))
      let key = step % 3 == 0 ? "" : "sel-\(step)"
      let (result, _) = try store.select(pool, query, requestID: key)!
      let successes = result.ids.map { _ in Double(rng.nextBelow(9)) }
      for half in [0..<3, 3..<8] {
        _ = try store.update(
          pool,
          Outcomes(
            ids: Array(result.ids[half]), successes: Array(successes[half]),
            trials: Array(repeating: 8, count: half.count), step: UInt64(step)),
          requestID: "u-\(step)-\(half.lowerBound)")
      }
    }
  }

  static func copy(_ from: String, _ to: String) throws {
    try FileManager.default.copyItem(atPath: from, toPath: to)
    // The copy must not look held by the running store.
    try? FileManager.default.removeItem(atPath: to + "/LOCK")
  }

  @Test(arguments: [Strategy.dps, .greso, .pools])
  func crashRecoveryAndTagsRestoreExactly(strategy: Strategy) throws {
    let dir = Self.directory()
    let crash = Self.directory()
    defer {
      try? FileManager.default.removeItem(atPath: dir)
      try? FileManager.default.removeItem(atPath: crash)
    }
    let (store, _) = try StateStore.open(engine: Engine(), options: .init(directory: dir, fsync: .always))
    try store.createPool("z", config: PoolConfig(strategy: strategy, seed: 9))
    _ = try store.register("z", ids: (0..<200).map { UInt64($0) }, priors: nil)
    var rng = Xoshiro256(seed: 1)
    try Self.train(store, "z", steps: 0..<6, rng: &rng)
    _ = try store.snapshotState()
    try Self.train(store, "z", steps: 6..<9, rng: &rng)
    _ = try store.saveTag(pool: "z", tag: "t9")
    let atTag = Self.observed(try store.engine.pool("z"))
    try Self.train(store, "z", steps: 9..<12, rng: &rng)
    let live = try store.engine.pool("z")
    let before = Self.observed(live)

    // Crash image: the files as they are while the store runs (the select counters written in the
    // background are the only thing a crash may lose, and they key no state of these strategies).
    try Self.copy(dir, crash)
    let (recovered, report) = try StateStore.open(engine: Engine(), options: .init(directory: crash))
    defer { recovered.close() }
    let again = try recovered.engine.pool("z")
    #expect(Self.observed(again) == before, "\(report)")
    #expect(again.info.state == live.info.state)
    // Both continue identically (same select index: the counter is logged with each logged select).
    var r1 = Xoshiro256(seed: 2)
    var r2 = Xoshiro256(seed: 2)
    let liveNext = try store.select("z", SelectQuery(batchSize: 8, candidates: .all), requestID: "k")!.result
    let againNext = try recovered.select("z", SelectQuery(batchSize: 8, candidates: .all), requestID: "k")!
      .result
    if strategy == .dps { #expect(liveNext.ids == againNext.ids) }
    try Self.train(store, "z", steps: 12..<14, rng: &r1)
    try Self.train(recovered, "z", steps: 12..<14, rng: &r2)
    if strategy == .dps { #expect(Self.observed(live) == Self.observed(again)) }

    // A tag restores exactly the state it saved.
    _ = try store.restoreTag(pool: "z", tag: "t9")
    #expect(Self.observed(try store.engine.pool("z")) == atTag)
    store.close()
    // And so does the restored pool after a clean reopen (the Restore is in the log).
    let (reopened, _) = try StateStore.open(engine: Engine(), options: .init(directory: dir))
    defer { reopened.close() }
    #expect(Self.observed(try reopened.engine.pool("z")) == atTag)
  }

  /// A dps Select that sees new candidates is logged even without a key: after a crash the
  /// candidates are seen at the same step (they move at the next step although never trained).
  @Test func dpsSeenCandidatesAreLogged() throws {
    let dir = Self.directory()
    let crash = Self.directory()
    defer {
      try? FileManager.default.removeItem(atPath: dir)
      try? FileManager.default.removeItem(atPath: crash)
    }
    let (store, _) = try StateStore.open(engine: Engine(), options: .init(directory: dir, fsync: .always))
    defer { store.close() }
    var config = PoolConfig(strategy: .dps, seed: 1)
    // Under the progress prior an unobserved prompt's π drifts from uniform (not so under uniform).
    config.dps.prior = "progress"
    config.dps.priorCounts = DPSConfig.preset("progress")!
    try store.createPool("d", config: config)
    _ = try store.update("d", Outcomes(ids: [1], successes: [4], trials: [8]), requestID: "")
    _ = try store.select("d", SelectQuery(batchSize: 1, candidates: .given([1, 50, 51])), requestID: "")
    _ = try store.update("d", Outcomes(ids: [1], successes: [8], trials: [8]), requestID: "")
    let live = try store.engine.pool("d")
    try Self.copy(dir, crash)
    let (recovered, _) = try StateStore.open(engine: Engine(), options: .init(directory: crash))
    defer { recovered.close() }
    let again = try recovered.engine.pool("d")
    #expect(again.info.promptCount == 3)
    #expect(Self.observed(again) == Self.observed(live))
    let p = again.posteriors([50, 99])
    #expect(Array(p.dpsPredicted[0..<3]) != Array(p.dpsPredicted[3..<6]))
  }

  /// Records and snapshots with strategy state and steps decode to themselves.
  @Test func strategyRecordsRoundTrip() throws {
    let pool = Pool(name: "g", config: PoolConfig(strategy: .greso, seed: 3))
    _ = try pool.update(Outcomes(ids: [1, 2], successes: [8, 0], trials: [8, 8], step: 4))
    var dps = PoolConfig(strategy: .dps, seed: 4)
    dps.dps.decay = 0.7
    dps.dps.priorCounts = DPSConfig.preset("local")!
    dps.dps.prior = "local"
    dps.dps.selection = "topk+entropy"
    dps.dps.entropyWeight = 0.25
    let records: [WALRecord] = [
      .createPool(name: "d", config: dps),
      .update(pool: "d", requestID: "", ids: [1], successes: [1], trials: [2], step: 17),
      .select(pool: "d", count: 3, drawn: nil, memo: nil, seen: [4, 5, 6]),
      .install(pool.snapshot()),
    ]
    for record in records {
      #expect(try WALRecord.decode(record.encode()) == record)
    }
  }
}
