import Testing

@testable import MoPPSEngine

@Suite struct SelectTests {
  /// A pool whose prompts have spread-out posteriors, so samples cover (0, 1).
  func spreadPool(_ strategy: Strategy = .topK, seed: UInt64 = 11, n: Int = 2000) throws -> Pool {
    let pool = try Engine().createPool(
      "p", config: PoolConfig(strategy: strategy, bandLow: 0.3, bandHigh: 0.7, seed: seed))
    let ids = (0..<UInt64(n)).map { $0 * 7 + 3 }
    let successes = ids.indices.map { Double($0 % 9) }
    _ = try pool.update(Outcomes(ids: ids, successes: successes, trials: Array(repeating: 8, count: n)))
    return pool
  }

  @Test(arguments: [1, 17, 256, 1999, 2000])
  func topKPicksTheSamplesNearestTheTarget(batch: Int) throws {
    let pool = try spreadPool()
    let ids = (0..<UInt64(2000)).map { $0 * 7 + 3 }
    let r = try pool.select(SelectQuery(batchSize: batch, candidates: .given(ids), returnAllSamples: true))
    let samples = try #require(r.candidateSamples)
    // Reference: a full sort of (distance, position).
    let order = samples.indices.sorted {
      let a = (samples[$0] - 0.5) * (samples[$0] - 0.5)
      let b = (samples[$1] - 0.5) * (samples[$1] - 0.5)
      return a < b || (a == b && $0 < $1)
    }
    #expect(r.ids == order.prefix(batch).map { ids[$0] })
    #expect(r.samples == order.prefix(batch).map { samples[$0] })
  }

  /// Repeated candidates are refused naming the id, and change nothing, whether they are dataset
  /// indices (checked during the lookup), indices mixed with unknown ids, or other ids; the same
  /// candidates without the repeat select as usual.
  @Test(arguments: [0, 1, 2])
  func repeatedCandidatesAreRefusedNamingTheID(kind: Int) throws {
    let pool = try Engine().createPool("p", config: PoolConfig(seed: 3))
    _ = try pool.register((0..<UInt64(5_000)).map { kind == 2 ? $0 &* 0x9E37_79B9 + 1 : $0 })
    var ids = (0..<UInt64(3_000)).map { kind == 2 ? ($0 * 7 % 5_000) &* 0x9E37_79B9 + 1 : $0 * 7 % 5_000 }
    if kind == 1 { ids[17] = 9_999_999 }
    let fine = try pool.select(SelectQuery(batchSize: 300, candidates: .given(ids)))
    #expect(fine.ids.count == 300)
    let before = pool.info.selectCount
    ids[2_500] = ids[1_200]
    #expect(throws: MoPPSError.invalid("candidates: id \(ids[1_200]) appears more than once")) {
      try pool.select(SelectQuery(batchSize: 300, candidates: .given(ids)))
    }
    #expect(pool.info.selectCount == before)
  }

  @Test func partialSelectionMatchesFullSortWithTies() {
    var rng = Xoshiro256(seed: 5)
    for trial in 0..<200 {
      let n = 1 + rng.nextBelow(300)
      // Few distinct values, so ties are everywhere.
      let keys = (0..<n).map { _ in Float(rng.nextBelow(7)) }
      let k = rng.nextBelow(n + 1)
      let expected = keys.indices.sorted { keys[$0] < keys[$1] || (keys[$0] == keys[$1] && $0 < $1) }
      for kernel in Kernel.supported {
        #expect(kernel.smallest(k, of: keys) == Array(expected.prefix(k)), "\(kernel) trial \(trial)")
      }
    }
  }

  @Test func thresholdPicksInsideTheBandWhenItCan() throws {
    let pool = try spreadPool(.threshold)
    let ids = (0..<UInt64(2000)).map { $0 * 7 + 3 }
    for _ in 0..<5 {
      let r = try pool.select(SelectQuery(batchSize: 100, candidates: .given(ids), returnAllSamples: true))
      #expect(r.samples.allSatisfy { $0 >= 0.3 && $0 <= 0.7 })
      #expect(Set(r.ids).count == 100)
    }
  }

  @Test func thresholdFillsUpWithThoseNearestTheBand() throws {
    let pool = try spreadPool(.threshold)
    let ids = (0..<UInt64(2000)).map { $0 * 7 + 3 }
    let r = try pool.select(SelectQuery(batchSize: 1900, candidates: .given(ids), returnAllSamples: true))
    let samples = try #require(r.candidateSamples)
    let inBand = Set(samples.indices.filter { samples[$0] >= 0.3 && samples[$0] <= 0.7 }.map { ids[$0] })
    #expect(inBand.count < 1900)
    #expect(inBand.isSubset(of: Set(r.ids)))
    // The left-out candidates are the farthest from the band.
    let gap = { (s: Float) in max(0.3 - s, s - 0.7, 0) }
    let chosen = Set(r.ids)
    let worstChosen = samples.indices.filter { chosen.contains(ids[$0]) }.map { gap(samples[$0]) }.max()!
    let bestLeft = samples.indices.filter { !chosen.contains(ids[$0]) }.map { gap(samples[$0]) }.min()!
    #expect(worstChosen <= bestLeft)
  }

  /// Chi-square: each of 20 candidates is chosen 5 of 20 times per call; over 4,000 calls each should
  /// be chosen 1,000 times. With 19 degrees of freedom the 0.999 quantile is 43.8.
  @Test func uniformChoosesUniformly() throws {
    let pool = try Engine().createPool("p", config: PoolConfig(strategy: .uniform, seed: 9))
    let ids = Array(UInt64(0)..<20)
    var counts = [Int](repeating: 0, count: 20)
    for _ in 0..<4000 {
      let r = try pool.select(SelectQuery(batchSize: 5, candidates: .given(ids)))
      #expect(Set(r.ids).count == 5)
      for id in r.ids { counts[Int(id)] += 1 }
    }
    let chi2 = counts.reduce(0.0) { $0 + pow2(Double($1) - 1000) / 1000 }
    #expect(chi2 < 43.8, "counts \(counts)")
  }

  @Test func sameSeedSameRepliesDifferentSeedDifferentReplies() throws {
    func run(_ seed: UInt64) throws -> [SelectResult] {
      let pool = try spreadPool(seed: seed, n: 500)
      _ = try pool.register(Array(10_000..<10_400))
      var out: [SelectResult] = []
      for step in 0..<20 {
        let r = try pool.select(
          SelectQuery(batchSize: 16, candidates: step % 2 == 0 ? .drawn(count: 64) : .all, returnMeans: true))
        _ = try pool.update(
          Outcomes(
            ids: r.ids, successes: r.ids.map { Double($0 % 5) }, trials: Array(repeating: 4, count: 16)))
        out.append(r)
      }
      return out
    }
    #expect(try run(42) == run(42))
    #expect(try run(42) != run(43))
  }

  @Test func drawnCandidatesCoverTheEpochWithoutRepeats() throws {
    let pool = try Engine().createPool("p", config: PoolConfig(seed: 2))
    _ = try pool.register(Array(0..<100))
    var seen: [UInt64] = []
    for _ in 0..<10 {
      let r = try pool.select(
        SelectQuery(batchSize: 1, candidates: .drawn(count: 10), returnAllSamples: true))
      seen += try #require(r.candidateIDs)
    }
    #expect(Set(seen) == Set(0..<100))
    // Requests that straddle an epoch boundary still get distinct candidates.
    for _ in 0..<50 {
      let r = try pool.select(
        SelectQuery(batchSize: 1, candidates: .drawn(count: 33), returnAllSamples: true))
      #expect(Set(try #require(r.candidateIDs)).count == 33)
    }
  }

  @Test func meansAndPriorForUnseenCandidates() throws {
    let pool = try Engine().createPool("p", config: PoolConfig(priorAlpha: 3, priorBeta: 1, seed: 2))
    _ = try pool.update(Outcomes(ids: [1], successes: [0], trials: [6]))
    let r = try pool.select(SelectQuery(batchSize: 2, candidates: .given([1, 2]), returnMeans: true))
    let means = Dictionary(uniqueKeysWithValues: zip(r.ids, try #require(r.means)))
    #expect(means[1] == 3.0 / 10.0)
    #expect(means[2] == 0.75)
  }
}

func pow2(_ x: Double) -> Double { x * x }

@Suite struct WholePoolTests {
  /// Two pools in the same state and seed: streaming over segments (no return_all_samples) must
  /// choose exactly what the materialised path chooses, over several 65,536-slot segments.
  @Test(arguments: [Strategy.topK, .threshold])
  func streamingMatchesMaterialised(strategy: Strategy) throws {
    let config = PoolConfig(strategy: strategy, bandLow: 0.45, bandHigh: 0.55, seed: 77)
    let engine = Engine()
    let a = try engine.createPool("a", config: config)
    let b = try engine.createPool("b", config: config)
    let n = 3 * PromptTable.segmentSize + 123
    let ids = (0..<UInt64(n)).map { $0 * 3 }
    for pool in [a, b] {
      _ = try pool.register(ids)
      _ = try pool.update(
        Outcomes(
          ids: Array(ids.prefix(50_000)), successes: (0..<50_000).map { Double($0 % 9) },
          trials: Array(repeating: 8, count: 50_000)))
    }
    for batch in [1, 256, 5000] {
      let streamed = try a.select(SelectQuery(batchSize: batch, candidates: .all))
      let full = try b.select(SelectQuery(batchSize: batch, candidates: .all, returnAllSamples: true))
      #expect(streamed.ids == full.ids, "batch \(batch)")
      #expect(streamed.samples == full.samples)
    }
  }
}

/// The threshold strategy, with every sample inside the band, must choose uniformly: 20 candidates
/// with tight posteriors around 0.5, 5 per call, 4,000 calls; chi-square with 19 degrees of freedom,
/// 0.999 quantile 43.8.
@Test func thresholdChoosesUniformlyInsideTheBand() throws {
  let pool = try Engine().createPool("p", config: PoolConfig(strategy: .threshold, seed: 12))
  let ids = Array(UInt64(0)..<20)
  _ = try pool.register(
    ids, priors: ([Double](repeating: 5000, count: 20), [Double](repeating: 5000, count: 20)))
  var counts = [Int](repeating: 0, count: 20)
  for _ in 0..<4000 {
    let r = try pool.select(SelectQuery(batchSize: 5, candidates: .given(ids)))
    #expect(r.samples.allSatisfy { $0 >= 0.3 && $0 <= 0.7 })
    for id in r.ids { counts[Int(id)] += 1 }
  }
  let chi2 = counts.reduce(0.0) { $0 + pow2(Double($1) - 1000) / 1000 }
  #expect(chi2 < 43.8, "counts \(counts)")
}
