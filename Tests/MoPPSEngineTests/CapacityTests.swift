import Testing

@testable import MoPPSEngine

/// A pool holds at most `PromptTable.capacity` (2^30) prompts. Every public path that adds prompts
/// refuses one that would pass it with RESOURCE_EXHAUSTED before changing anything; the limit is
/// lowered here (a test hook of `Pool.init`), since 2^30 prompts would need 16 GiB.
@Suite struct CapacityTests {
  static let limit = 100

  /// A pool at 90 of its 100 prompts, with a drawn select made, so that it has an epoch order.
  func nearlyFull() throws -> Pool {
    let pool = Pool(name: "p", config: PoolConfig(seed: 5), promptLimit: Self.limit)
    _ = try pool.register(Array(0..<90))
    _ = try pool.update(Outcomes(ids: [1, 2], successes: [1, 3], trials: [4, 4]))
    _ = try pool.select(SelectQuery(batchSize: 2, candidates: .drawn(count: 8)))
    return pool
  }

  struct State: Equatable {
    var info: PoolInfo
    var posteriors: Posteriors
    var order: [Int32]?
    var cursor: Int
    var recentRequests: [String]
  }

  func state(_ pool: Pool) -> State {
    let (order, cursor, recent) = pool.writer.withLock { w in (w.order, w.cursor, w.recentRequests.ordered) }
    return State(
      info: pool.info, posteriors: pool.posteriors(nil), order: order, cursor: cursor, recentRequests: recent)
  }

  /// The code `body` fails with, nil if it succeeds.
  func failure<T>(_ body: () throws(MoPPSError) -> T) -> MoPPSError? {
    do {
      _ = try body()
      return nil
    } catch {
      return error
    }
  }

  func expectFull(_ error: MoPPSError?, _ pool: Pool, _ before: State) {
    #expect(error?.code == .resourceExhausted)
    #expect(error?.message.contains("pool \"p\" holds 90 prompts") == true, "\(String(describing: error))")
    #expect(state(pool) == before)
  }

  @Test func registerBeyondTheLimitIsRefusedAndChangesNothing() throws {
    let pool = try nearlyFull()
    let before = state(pool)
    // 11 new ids among 16: one too many.
    let ids = Array(UInt64(85)..<101)
    expectFull(failure { () throws(MoPPSError) in try pool.checkRegister(ids, priors: nil) }, pool, before)
    expectFull(failure { () throws(MoPPSError) in try pool.register(ids) }, pool, before)
    expectFull(
      failure { () throws(MoPPSError) in
        try pool.register(ids, priors: (alpha: ids.map { _ in 2 }, beta: ids.map { _ in 3 }))
      }, pool, before)

    // Exactly up to the limit is fine, and ids already present still register when full.
    #expect(try pool.checkRegister(Array(85..<100), priors: nil) == 10)
    let added = try pool.register(Array(85..<100))
    #expect(added == RegisterResult(added: 10, existing: 5, promptCount: Self.limit))
    #expect(try pool.register(Array(0..<100)).added == 0)
    // The appended prompts joined the current epoch's order.
    #expect(pool.writer.withLock { $0.order?.count } == Self.limit)
    let full = state(pool)
    let refused = failure { () throws(MoPPSError) in try pool.register([100]) }
    #expect(refused?.code == .resourceExhausted)
    #expect(state(pool) == full)
  }

  @Test func updateOfUnknownIdsBeyondTheLimitIsRefusedAndChangesNothing() throws {
    let pool = try nearlyFull()
    let before = state(pool)
    // Known ids 1 and 2 are in the request too: their posteriors must not move.
    let ids: [UInt64] = [1, 2] + Array(200..<211)
    let outcomes = Outcomes(
      ids: ids, successes: ids.map { _ in 1 }, trials: ids.map { _ in 2 })
    expectFull(failure { () throws(MoPPSError) in try pool.check(outcomes) }, pool, before)
    expectFull(failure { () throws(MoPPSError) in try pool.check(outcomes, requestID: "r1") }, pool, before)
    expectFull(failure { () throws(MoPPSError) in try pool.update(outcomes) }, pool, before)
    // A keyed update is not remembered when refused (`recentRequests` is part of the state).
    expectFull(failure { () throws(MoPPSError) in try pool.update(outcomes, requestID: "r1") }, pool, before)

    // Ten unknown ids fit; a retry of that keyed update on the now full pool is still a duplicate.
    let fits = Outcomes(
      ids: Array(200..<210), successes: Array(repeating: 1, count: 10), trials: Array(repeating: 2, count: 10)
    )
    #expect(try pool.update(fits, requestID: "r2").updated == 10)
    #expect(pool.info.promptCount == Self.limit)
    #expect(try pool.check(fits, requestID: "r2") == .duplicate)
    #expect(try pool.update(fits, requestID: "r2").duplicate)
    // Updates of known prompts go on in a full pool.
    #expect(try pool.update(Outcomes(ids: [1, 209], successes: [0, 1], trials: [1, 1])).updated == 2)
  }

  @Test func importBeyondTheLimitIsRefusedAndChangesNothing() throws {
    let pool = try nearlyFull()
    let before = state(pool)
    let ids: [UInt64] = [3] + Array(300..<311)
    let alpha = ids.map { _ in 2.0 }
    let beta = ids.map { _ in 5.0 }
    expectFull(
      failure { () throws(MoPPSError) in try pool.checkPosteriors(ids, alpha: alpha, beta: beta, names: [])
      },
      pool, before)
    expectFull(
      failure { () throws(MoPPSError) in try pool.setPosteriors(ids, alpha: alpha, beta: beta) }, pool,
      before)
    // Known ids are set in a full pool.
    try pool.setPosteriors(
      Array(300..<310), alpha: Array(repeating: 2, count: 10), beta: Array(repeating: 5, count: 10))
    try pool.setPosteriors([3, 300], alpha: [7, 8], beta: [9, 10])
    let p = pool.posteriors([3, 300])
    #expect(p.alpha == [7, 8] && p.beta == [9, 10] && p.known == [true, true])
  }

  @Test func restoringMorePromptsThanTheLimitIsRefused() throws {
    let pool = try nearlyFull()
    _ = try pool.register(Array(90..<100))
    let snapshot = pool.snapshot()
    let restored = try Pool(
      restoring: snapshot, windows: Engine.Windows(), kernel: pool.kernel, promptLimit: Self.limit)
    #expect(restored.snapshot() == snapshot)
    let refused = failure { () throws(MoPPSError) in
      try Pool(
        restoring: snapshot, windows: Engine.Windows(), kernel: pool.kernel, promptLimit: Self.limit - 1)
    }
    #expect(refused?.code == .resourceExhausted)
  }

  /// Given candidates that are not registered use the prior and are not added, so a full pool
  /// still answers them.
  @Test func selectOfUnknownGivenIdsDoesNotAppend() throws {
    let pool = try nearlyFull()
    _ = try pool.register(Array(90..<100))
    let query = SelectQuery(batchSize: 3, candidates: .given(Array(1000..<1010)), returnMeans: true)
    let result = try pool.select(query)
    #expect(result.ids.count == 3 && result.ids.allSatisfy { $0 >= 1000 })
    #expect(pool.info.promptCount == Self.limit)
    #expect(pool.posteriors([1000]).known == [false])
  }

  @Test func theRealLimitIs2To30Prompts() {
    #expect(PromptTable.capacity == 1 << 30)
    #expect(Pool(name: "q", config: PoolConfig()).table.limit == 1 << 30)
  }

  @Test func samplersRefuseArraysOfDifferentLengths() throws {
    var rng = VectorRNG(seed: 1, stream: 0, counter: 0)
    for kernel in Kernel.supported {
      let error = failure { () throws(MoPPSError) in
        try BetaSampler.samples(alpha: [1, 2, 3], beta: [1, 2], using: &rng, kernel: kernel)
      }
      #expect(error?.code == .invalidArgument)
      var out: [Float] = [-1, -1, -1]
      let alpha: [Float] = [1, 2, 3]
      let beta: [Float] = [1, 2, 3, 4]
      let filled = out.withUnsafeMutableBufferPointer { o in
        alpha.withUnsafeBufferPointer { a in
          beta.withUnsafeBufferPointer { b in
            failure { () throws(MoPPSError) in
              try BetaSampler.fill(o, alpha: a, beta: b, using: &rng, kernel: kernel)
            }
          }
        }
      }
      #expect(filled?.code == .invalidArgument)
      #expect(out == [-1, -1, -1])
      #expect(try BetaSampler.samples(alpha: alpha, beta: [1, 1, 1], using: &rng, kernel: kernel).count == 3)
    }
  }
}
