import Testing

@testable import MoPPSEngine

/// Every refusal names its field and leaves the pool exactly as it was.
@Suite struct ValidationTests {
  func seeded() throws -> Pool {
    let pool = try Engine().createPool("p", config: PoolConfig(decay: 0.5, seed: 3))
    _ = try pool.register(Array(0..<50))
    _ = try pool.update(Outcomes(ids: [1, 2, 3], successes: [1, 2, 3], trials: [4, 4, 4]))
    _ = try pool.select(SelectQuery(batchSize: 4, candidates: .drawn(count: 10)))
    return pool
  }

  struct Fingerprint: Equatable {
    var info: PoolInfo
    var posteriors: Posteriors
    var nextDraw: [UInt64]
  }

  /// Everything observable, including where the epoch cursor stands (through a follow-up select on
  /// a copy of the sequence) — compared before and after a refused call.
  func fingerprint(_ pool: Pool) -> Fingerprint {
    let (order, cursor) = pool.writer.withLock { w in (w.order ?? [], w.cursor) }
    return Fingerprint(
      info: pool.info, posteriors: pool.posteriors(nil),
      nextDraw: order[cursor...].prefix(5).map { UInt64($0) })
  }

  static let badUpdates: [(Outcomes, String)] = [
    (Outcomes(ids: [], successes: [], trials: []), "ids"),
    (Outcomes(ids: [1, 2], successes: [1], trials: [4, 4]), "successes"),
    (Outcomes(ids: [1, 2], successes: [1, 1], trials: [4]), "trials"),
    (Outcomes(ids: [1], successes: [5], trials: [4]), "successes[0]"),
    (Outcomes(ids: [1], successes: [-1], trials: [4]), "successes[0]"),
    (Outcomes(ids: [1], successes: [.nan], trials: [4]), "successes[0]"),
    (Outcomes(ids: [1], successes: [.infinity], trials: [4]), "successes[0]"),
    (Outcomes(ids: [1], successes: [0], trials: [0]), "trials[0]"),
    (Outcomes(ids: [1, 1], successes: [1, 1], trials: [4, 4]), "ids"),
    (Outcomes(ids: [5, 6, 7], successes: [1, 1, 9], trials: [4, 4, 4]), "successes[2]"),
  ]

  @Test(arguments: badUpdates.indices)
  func invalidUpdateIsRefusedAndChangesNothing(index: Int) throws {
    let (outcomes, field) = Self.badUpdates[index]
    let pool = try seeded()
    let before = fingerprint(pool)
    let error = #expect(throws: MoPPSError.self) { try pool.update(outcomes) }
    #expect(error?.code == .invalidArgument)
    #expect(error?.message.hasPrefix(field) == true, "\(error?.message ?? "")")
    #expect(fingerprint(pool) == before)
  }

  static let badSelects: [(SelectQuery, String)] = [
    (SelectQuery(batchSize: 0, candidates: .given([1, 2])), "batch_size"),
    (SelectQuery(batchSize: 3, candidates: .given([1, 2])), "batch_size"),
    (SelectQuery(batchSize: 2, candidates: .given([1, 2, 1])), "candidates"),
    (SelectQuery(batchSize: 2, candidates: .drawn(count: 51)), "candidate_count"),
    (SelectQuery(batchSize: 20, candidates: .drawn(count: 10)), "batch_size"),
    (SelectQuery(batchSize: 51, candidates: .all), "batch_size"),
  ]

  @Test(arguments: badSelects.indices)
  func invalidSelectIsRefusedAndChangesNothing(index: Int) throws {
    let (query, field) = Self.badSelects[index]
    let pool = try seeded()
    let before = fingerprint(pool)
    let error = #expect(throws: MoPPSError.self) { try pool.select(query) }
    #expect(error?.code == .invalidArgument)
    #expect(error?.message.hasPrefix(field) == true, "\(error?.message ?? "")")
    #expect(fingerprint(pool) == before)
  }

  @Test func invalidRegisterChangesNothing() throws {
    let pool = try seeded()
    let before = fingerprint(pool)
    #expect(throws: MoPPSError.self) { try pool.register([100, 100]) }
    #expect(throws: MoPPSError.self) { try pool.register([100, 101], priors: ([1], [1, 1])) }
    #expect(throws: MoPPSError.self) { try pool.register([100, 101], priors: ([1, -1], [1, 1])) }
    #expect(throws: MoPPSError.self) { try pool.register([100, 101], priors: ([1, .nan], [1, 1])) }
    #expect(fingerprint(pool) == before)
  }

  @Test(arguments: [
    (PoolConfig(priorAlpha: 0), "config.prior_alpha"),
    (PoolConfig(priorBeta: .infinity), "config.prior_beta"),
    (PoolConfig(decay: 1.5), "config.decay"),
    (PoolConfig(decay: -0.1), "config.decay"),
    (PoolConfig(decay: .nan), "config.decay"),
    (PoolConfig(target: 2), "config.target"),
    (PoolConfig(bandLow: 0.8, bandHigh: 0.2), "config.band_low"),
  ])
  func invalidConfigIsRefused(config: PoolConfig, field: String) throws {
    let engine = Engine()
    let error = #expect(throws: MoPPSError.self) { try engine.createPool("p", config: config) }
    #expect(error?.message.hasPrefix(field) == true, "\(error?.message ?? "")")
    #expect(engine.listPools().isEmpty)
  }

  @Test func poolNames() throws {
    let engine = Engine()
    for bad in ["", "a.b", "a b", String(repeating: "x", count: 129), "é"] {
      #expect(throws: MoPPSError.self) { try engine.createPool(bad, config: PoolConfig()) }
    }
    try engine.createPool("math_v2-train", config: PoolConfig())
    let dup = #expect(throws: MoPPSError.self) {
      try engine.createPool("math_v2-train", config: PoolConfig())
    }
    #expect(dup?.code == .alreadyExists)
    let missing = #expect(throws: MoPPSError.self) { try engine.pool("nope") }
    #expect(missing?.code == .notFound)
    try engine.dropPool("math_v2-train")
    #expect(throws: MoPPSError.self) { try engine.dropPool("math_v2-train") }
  }
}
