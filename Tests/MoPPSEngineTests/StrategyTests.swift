import Foundation
import Testing

@testable import MoPPSEngine

/// dps, greso and pools in the engine: the rules of docs/strategies.md, steps across ranks,
/// validation, determinism.
@Suite struct StrategyTests {
  static func pool(_ strategy: Strategy, seed: UInt64 = 7, _ edit: (inout PoolConfig) -> Void = { _ in })
    -> Pool
  {
    var config = PoolConfig(strategy: strategy, seed: seed)
    edit(&config)
    return Pool(name: "s", config: config)
  }

  /// A straightforward, eager re-implementation of the DPS sampler (every seen prompt moved at every
  /// step), to check the lazy replay against.
  struct EagerDPS {
    var a0: [Double]
    var lambda: Double
    var a: [UInt64: [Double]] = [:]
    var pi: [UInt64: [Double]] = [:]
    var prev: [UInt64: [Double]] = [:]

    func predict(_ a: [Double], _ x: [Double]) -> [Double] {
      var col = [Double](repeating: 0, count: 3)
      for j in 0..<3 { col[j] = a[j] + a[3 + j] + a[6 + j] }
      var y = [Double](repeating: 0, count: 3)
      for i in 0..<3 {
        var sum = 0.0
        for j in 0..<3 { sum += a[3 * i + j] / col[j] * x[j] }
        y[i] = sum
      }
      for _ in 0..<2 {
        let t = y[0] + y[1] + y[2]
        y = y.map { $0 / t }
      }
      return y
    }

    mutating func see(_ id: UInt64) {
      if a[id] == nil {
        a[id] = a0
        pi[id] = [1.0 / 3, 1.0 / 3, 1.0 / 3]
        prev[id] = [1.0 / 3, 1.0 / 3, 1.0 / 3]
      }
    }

    func select(_ candidates: [UInt64], _ b: Int) -> [UInt64] {
      let score: [Double] = candidates.map { pi[$0]?[1] ?? 1.0 / 3 }
      let order = candidates.indices.sorted { (l: Int, r: Int) -> Bool in
        if score[l] != score[r] { return score[l] > score[r] }
        return l < r
      }
      return order.prefix(b).map { candidates[$0] }
    }

    mutating func train(_ ids: [UInt64], _ y: [Double]) {
      for (id, v) in zip(ids, y) {
        see(id)
        let o = v == 0 ? 0 : (v == 1 ? 2 : 1)
        let old = a[id]!
        let p = prev[id]!
        var n = [Double](repeating: 0, count: 3)
        for j in 0..<3 {
          let col: Double = old[j] + old[3 + j] + old[6 + j]
          n[j] = p[j] * (old[3 * o + j] / col)
        }
        let total = n[0] + n[1] + n[2]
        var new = [Double](repeating: 0, count: 9)
        for i in 0..<9 { new[i] = old[i] * lambda + a0[i] * (1 - lambda) }
        for j in 0..<3 { new[3 * o + j] += n[j] / total }
        var e = [0.0, 0, 0]
        e[o] = 1
        a[id] = new
        prev[id] = e
        pi[id] = predict(new, e)
      }
      for id in a.keys where !ids.contains(id) {
        let old = a[id]!
        var new = [Double](repeating: 0, count: 9)
        for i in 0..<9 { new[i] = old[i] * lambda + a0[i] * (1 - lambda) }
        a[id] = new
        prev[id] = pi[id]
        pi[id] = predict(new, pi[id]!)
      }
    }
  }

  /// The lazy replay gives the eager sampler's choices and predictions, with ranks reporting halves
  /// of each step under one step number, and unregistered candidates.
  @Test(arguments: [1.0, 0.7])
  func dpsMatchesTheEagerRule(decay: Double) throws {
    let pool = Self.pool(.dps) { $0.dps.decay = decay }
    var eager = EagerDPS(a0: DPSConfig.preset("uniform")!, lambda: decay)
    var rng = Xoshiro256(seed: 3)
    let truth = (0..<300).map { _ in rng.nextOpenUnit() }
    for step in 0..<40 {
      let candidates = rng.distinct(48, below: 300).map { UInt64($0) }
      let got = try pool.select(SelectQuery(batchSize: 12, candidates: .given(candidates))).ids
      #expect(got == eager.select(candidates, 12), "step \(step)")
      for c in candidates { eager.see(c) }
      let successes = got.map { id in
        Double((0..<8).filter { _ in rng.nextOpenUnit() < truth[Int(id)] }.count)
      }
      _ = try pool.update(
        Outcomes(
          ids: Array(got[..<5]), successes: Array(successes[..<5]), trials: Array(repeating: 8, count: 5),
          step: UInt64(step)))
      _ = try pool.update(
        Outcomes(
          ids: Array(got[5...]), successes: Array(successes[5...]), trials: Array(repeating: 8, count: 7),
          step: UInt64(step)))
      eager.train(got, successes.map { $0 / 8 })
    }
    let ids = eager.a.keys.sorted()
    let p = pool.posteriors(ids)
    var worst = 0.0
    for (i, id) in ids.enumerated() {
      for k in 0..<3 { worst = max(worst, abs(p.dpsPredicted[3 * i + k] - eager.pi[id]![k])) }
    }
    #expect(worst < 1e-12)
    #expect(pool.info.state.steps == 40)
  }

  /// A whole-pool select large enough to replay in parallel chunks chooses what the serial Get's
  /// predictions rank first (ties by slot).
  @Test func dpsWholePoolInChunksMatchesGet() throws {
    let pool = Self.pool(.dps) {
      $0.dps.decay = 0.8
      $0.dps.prior = "progress"
      $0.dps.priorCounts = DPSConfig.preset("progress")!
    }
    let n = 100_000
    _ = try pool.register((0..<UInt64(n)).map { $0 })
    _ = try pool.select(SelectQuery(batchSize: 1, candidates: .all))
    var rng = Xoshiro256(seed: 8)
    for _ in 0..<6 {
      let ids = rng.distinct(5000, below: n).map { UInt64($0) }
      _ = try pool.update(
        Outcomes(
          ids: ids, successes: ids.map { _ in Double(rng.nextBelow(5)) },
          trials: [Double](repeating: 4, count: 5000)))
    }
    let chosen = try pool.select(SelectQuery(batchSize: 256, candidates: .all)).ids
    let p = pool.posteriors(nil)
    let score = (0..<n).map { p.dpsPredicted[3 * $0 + 1] }
    let order = (0..<n).sorted { (l: Int, r: Int) -> Bool in
      score[l] != score[r] ? score[l] > score[r] : l < r
    }
    #expect(chosen == order.prefix(256).map { p.ids[$0] })
  }

  /// Two Updates with the same step leave every strategy's state exactly as one Update with both.
  @Test(arguments: [Strategy.dps, .greso, .pools])
  func twoRanksAreOneStep(strategy: Strategy) throws {
    let split = Self.pool(strategy)
    let whole = Self.pool(strategy)
    var rng = Xoshiro256(seed: 11)
    for step in 0..<12 {
      let candidates = rng.distinct(40, below: 200).map { UInt64($0) }
      let a = try split.select(SelectQuery(batchSize: 10, candidates: .given(candidates)))
      let b = try whole.select(SelectQuery(batchSize: 10, candidates: .given(candidates)))
      #expect(a.ids == b.ids)
      let successes = a.ids.map { _ in Double(rng.nextBelow(9)) }
      let trials = [Double](repeating: 8, count: 10)
      let s = UInt64(100 + step)
      _ = try split.update(
        Outcomes(
          ids: Array(a.ids[..<4]), successes: Array(successes[..<4]), trials: Array(trials[..<4]), step: s))
      _ = try split.update(
        Outcomes(
          ids: Array(a.ids[4...]), successes: Array(successes[4...]), trials: Array(trials[4...]), step: s))
      _ = try whole.update(Outcomes(ids: a.ids, successes: successes, trials: trials, step: s))
    }
    let l = split.snapshot()
    let r = whole.snapshot()
    #expect(l.strategy == r.strategy)
    #expect(l.alpha == r.alpha && l.beta == r.beta)
    #expect(split.info.state == whole.info.state)
    #expect(split.info.state.steps == 12)
  }

  /// Without step every Update is a step; a lower step, or the step an unnumbered Update closed, is
  /// FAILED_PRECONDITION and changes nothing.
  @Test func stepsGoForwardOnly() throws {
    let pool = Self.pool(.greso)
    let o = { (step: UInt64?) in Outcomes(ids: [1], successes: [0], trials: [8], step: step) }
    _ = try pool.update(o(nil))
    _ = try pool.update(o(nil))
    #expect(pool.info.state.steps == 2)
    _ = try pool.update(o(5))
    _ = try pool.update(o(5))
    #expect(pool.info.state.steps == 3)
    let before = pool.snapshot()
    for bad: UInt64 in [4, 0] {
      let error = #expect(throws: MoPPSError.self) { try pool.update(o(bad)) }
      #expect(error?.code == .failedPrecondition)
      #expect(error?.message.contains("step") == true)
    }
    #expect(throws: MoPPSError.self) { try pool.check(o(4)) }
    #expect(pool.snapshot() == before)
    _ = try pool.update(o(nil))
    let closed = #expect(throws: MoPPSError.self) { try pool.update(o(5)) }
    #expect(closed?.code == .failedPrecondition)
    _ = try pool.update(o(6))
    #expect(pool.info.state.steps == 5)
    // MoPPS pools ignore steps.
    let mopps = Self.pool(.topK)
    _ = try mopps.update(o(9))
    _ = try mopps.update(o(1))
  }

  /// GRESO's p follows the published rule, once per step, from the step's counts over all ranks.
  @Test func gresoAdaptsOncePerStep() throws {
    let pool = Self.pool(.greso)
    // Step 1: 4 groups, 1 all solved (25 % ≥ 0.25/3), 0 all failed (< 2·0.25/3).
    _ = try pool.update(Outcomes(ids: [1, 2], successes: [8, 3], trials: [8, 8], step: 1))
    _ = try pool.update(Outcomes(ids: [3, 4], successes: [4, 5], trials: [8, 8], step: 1))
    #expect(pool.info.state.gresoPEasy == max(0.5 - 0.01, 0.05))
    #expect(pool.info.state.gresoPHard == min(0.5 + 0.01, 0.95))
    // Step 2: the first rank's half alone has 2 of 2 all failed; with the second's 0 of 6 the share
    // is 2/8 = 0.25 ≥ 1/6, still a decrease; all-solved 0 < 1/12: p_easy rises.
    _ = try pool.update(Outcomes(ids: [1, 2], successes: [0, 0], trials: [8, 8], step: 2))
    let pHardAfterStep1 = min(0.5 + 0.01, 0.95)
    #expect(pool.info.state.gresoPHard == max(pHardAfterStep1 - 0.01, 0.05))
    _ = try pool.update(
      Outcomes(ids: [3, 4, 5, 6, 7, 8], successes: [1, 2, 3, 4, 5, 6], trials: [8, 8, 8, 8, 8, 8], step: 2))
    #expect(pool.info.state.gresoPHard == max(pHardAfterStep1 - 0.01, 0.05))
    #expect(pool.info.state.gresoPEasy == min(max(0.5 - 0.01, 0.05) + 0.01, 0.95))
    let p = pool.posteriors([1, 2, 3, 9])
    #expect(p.gresoEasyRun == [0, 0, 0, 0])
    #expect(p.gresoHardRun == [1, 1, 0, 0])
    let fixed = Self.pool(.greso) { $0.greso.adapt = false }
    _ = try fixed.update(Outcomes(ids: [1], successes: [0], trials: [8]))
    #expect(fixed.info.state.gresoPHard == 0.5)
  }

  /// GRESO skips a prompt with a hard run h with probability 1 − max(p^h, 0.01), fills from the
  /// skipped ones shortest run first, and never skips unseen prompts.
  @Test func gresoSkipsByRunAndFillsFewestSkipsFirst() throws {
    let pool = Self.pool(.greso) { $0.greso.adapt = false }
    // Prompt 1: hard run 1; prompt 2: hard run 3; 3...: unseen.
    _ = try pool.update(Outcomes(ids: [1, 2], successes: [0, 0], trials: [8, 8]))
    _ = try pool.update(Outcomes(ids: [2], successes: [0], trials: [8]))
    _ = try pool.update(Outcomes(ids: [2], successes: [0], trials: [8]))
    var chosen = [UInt64: Int]()
    let rounds = 4000
    for _ in 0..<rounds {
      let r = try pool.select(SelectQuery(batchSize: 3, candidates: .given([1, 2, 3, 4])))
      for id in r.ids { chosen[id, default: 0] += 1 }
    }
    // Keep probabilities: 1 → 0.5, 2 → max(0.5³, 0.01) = 0.125, unseen 3 and 4 → 1.
    let p1 = Double(chosen[1, default: 0]) / Double(rounds)
    let p2 = Double(chosen[2, default: 0]) / Double(rounds)
    // Kept sets {3,4}+{1,2}: 0.0625, pick 3 of 4 → 1 in 3/4; {1}: 0.4375 → 1; {2}: 0.0625 → 2;
    // none: 0.4375 → fill with 1.
    let want1 = 0.0625 * 0.75 + 0.4375 + 0.4375
    let want2 = 0.0625 * 0.75 + 0.0625
    #expect(abs(p1 - want1) < 0.03, "\(p1) vs \(want1)")
    #expect(abs(p2 - want2) < 0.02, "\(p2) vs \(want2)")
    // Unseen prompts are never skipped: 3 is left out only when all four are kept (1 in 4 of those).
    let p3 = Double(chosen[3, default: 0]) / Double(rounds)
    #expect(abs(p3 - (1 - 0.0625 * 0.25)) < 0.01, "\(p3)")
  }

  /// Pools: a prompt's choice frequency follows its pool weight (B = 1: frequency ∝ weight).
  @Test func poolsChooseByWeight() throws {
    let pool = Self.pool(.pools)
    // 1 hard (0.2), 2 normal (1), 3 easy (0.2), 4 unseen (1).
    _ = try pool.update(Outcomes(ids: [1, 2, 3], successes: [1, 4, 8], trials: [8, 8, 8]))
    var count = [UInt64: Int]()
    let rounds = 6000
    for _ in 0..<rounds {
      let r = try pool.select(SelectQuery(batchSize: 1, candidates: .given([1, 2, 3, 4])))
      count[r.ids[0], default: 0] += 1
    }
    let weights: [UInt64: Double] = [1: 0.2, 2: 1, 3: 0.2, 4: 1]
    for (id, w) in weights {
      let share = Double(count[id, default: 0]) / Double(rounds)
      #expect(abs(share - w / 2.4) < 0.025, "id \(id): \(share) vs \(w / 2.4)")
    }
    #expect(pool.posteriors([2, 9]).lastMean[0] == 0.5)
    #expect(pool.posteriors([2, 9]).lastMean[1].isNaN)
  }

  /// The same seed and requests give the same selections (greso and pools draw random numbers).
  @Test(arguments: [Strategy.greso, .pools])
  func deterministicWithTheSeed(strategy: Strategy) throws {
    let a = Self.pool(strategy, seed: 42)
    let b = Self.pool(strategy, seed: 42)
    let c = Self.pool(strategy, seed: 43)
    var same = true
    for step in 0..<10 {
      let candidates = (0..<64).map { UInt64($0 * 3 + step) }
      let ra = try a.select(SelectQuery(batchSize: 8, candidates: .given(candidates)))
      let rb = try b.select(SelectQuery(batchSize: 8, candidates: .given(candidates)))
      let rc = try c.select(SelectQuery(batchSize: 8, candidates: .given(candidates)))
      #expect(ra == rb)
      same = same && ra.ids == rc.ids
      let outcomes = Outcomes(
        ids: ra.ids, successes: ra.ids.map { Double($0 % 9) }, trials: Array(repeating: 8, count: 8))
      _ = try a.update(outcomes)
      _ = try b.update(outcomes)
      _ = try c.update(outcomes)
    }
    #expect(!same)
  }

  /// Settings out of range are INVALID_ARGUMENT naming the field; a Select naming another family's
  /// strategy is refused naming `strategy`, and nothing changes.
  @Test func validationNamesTheField() throws {
    let cases: [(Strategy, (inout PoolConfig) -> Void, String)] = [
      (.dps, { $0.dps.decay = 1.5 }, "config.dps.decay"),
      (.dps, { $0.dps.prior = "fast" }, "config.dps.prior"),
      (.dps, { $0.dps.priorCounts = [1, 1] }, "config.dps.prior_counts"),
      (.dps, { $0.dps.priorCounts = [1, 1, 1, 1, 1, 1, 1, 1, -1] }, "config.dps.prior_counts[8]"),
      (.dps, { $0.dps.priorCounts = [0, 1, 1, 0, 1, 1, 0, 1, 1] }, "config.dps.prior_counts: column 0"),
      (.dps, { $0.dps.selection = "best" }, "config.dps.selection"),
      (.dps, { $0.dps.entropyWeight = .nan }, "config.dps.entropy_weight"),
      (.greso, { $0.greso.pEasy = -0.1 }, "config.greso.p_easy"),
      (
        .greso,
        {
          $0.greso.pMin = 0.9; $0.greso.pMax = 0.1
        }, "config.greso.p_min"
      ),
      (.greso, { $0.greso.hardThreshold = 0.99 }, "config.greso.hard_threshold"),
      (.greso, { $0.greso.keepFloor = 2 }, "config.greso.keep_floor"),
      (.pools, { $0.pools.weightEasy = -1 }, "config.pools.weight_easy"),
      (.pools, { $0.pools.hardMax = 0.9 }, "config.pools.hard_max"),
    ]
    let engine = Engine()
    for (strategy, edit, field) in cases {
      var config = PoolConfig(strategy: strategy)
      edit(&config)
      let error = #expect(throws: MoPPSError.self) { try engine.createPool("x", config: config) }
      #expect(error?.code == .invalidArgument)
      #expect(error?.message.hasPrefix(field) == true, "\(error?.message ?? "") should name \(field)")
    }
    #expect(engine.listPools().isEmpty)
    // The local preset's zeros are allowed (each column still has mass).
    _ = try engine.createPool(
      "local",
      config: PoolConfig(
        strategy: .dps,
        dps: {
          var d = DPSConfig(); d.priorCounts = DPSConfig.preset("local")!; return d
        }()))

    let dps = Self.pool(.dps)
    let mopps = Self.pool(.topK)
    for (pool, asked) in [(dps, Strategy.topK), (dps, .greso), (mopps, .dps)] {
      let error = #expect(throws: MoPPSError.self) {
        try pool.select(SelectQuery(batchSize: 1, candidates: .given([1, 2]), strategy: asked))
      }
      #expect(error?.message.hasPrefix("strategy:") == true)
    }
    #expect(dps.info.selectCount == 0 && dps.info.promptCount == 0)
    #expect(throws: MoPPSError.self) {
      try dps.select(SelectQuery(batchSize: 3, candidates: .given([1, 2])))
    }
    #expect(dps.info.promptCount == 0)
  }

  /// A dps Select makes its candidates seen (adding unregistered ones); with deferSeen it only
  /// lists them, and markSeen does the rest.
  @Test func dpsSeenAtSelect() throws {
    // Under the progress prior an unobserved prompt's π drifts from uniform step by step (under
    // the uniform prior it would stay uniform).
    let pool = Self.pool(.dps) {
      $0.dps.prior = "progress"
      $0.dps.priorCounts = DPSConfig.preset("progress")!
    }
    let (_, _, _, undo) = try pool.undoableSelect(
      SelectQuery(batchSize: 1, candidates: .given([5, 6])), requestID: "", deferSeen: true)
    #expect(undo.seen == [5, 6])
    #expect(pool.info.promptCount == 0)
    try pool.markSeen(undo.seen)
    #expect(pool.info.promptCount == 2)
    let again = try pool.undoableSelect(
      SelectQuery(batchSize: 1, candidates: .given([5, 6, 7])), requestID: "", deferSeen: true)
    #expect(again.undo.seen == [7])
    // A seen prompt moves at the next step even when not observed.
    _ = try pool.update(Outcomes(ids: [9], successes: [4], trials: [8]))
    let p = pool.posteriors([5, 7])
    #expect(p.dpsPredicted[0..<3] != p.dpsPredicted[3..<6])
  }

  /// Import of reference formats is refused on a strategy pool, naming the strategy.
  @Test func referenceFormatsAreMoPPSOnly() throws {
    let pool = Self.pool(.greso)
    let error = #expect(throws: MoPPSError.self) { try pool.setPosteriors([1], alpha: [1], beta: [1]) }
    #expect(error?.code == .failedPrecondition)
    #expect(error?.message.contains("MoPPS-only (pool s uses strategy greso)") == true)
  }
}
