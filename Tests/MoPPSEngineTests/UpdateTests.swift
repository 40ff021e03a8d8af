import Testing

@testable import MoPPSEngine

@Suite struct UpdateTests {
  /// The reference rule in Double, for comparison with the engine's Float32 store.
  static func expected(_ prev: Double, prior: Double, lambda: Double, add: Double) -> Double {
    lambda * prev + (1 - lambda) * prior + add
  }

  @Test(arguments: [1.0, 0.5, 0.0])
  func updateRuleWithFractionalSuccesses(lambda: Double) throws {
    let engine = Engine()
    let pool = try engine.createPool(
      "p", config: PoolConfig(priorAlpha: 2, priorBeta: 3, decay: lambda, seed: 1))
    let ids: [UInt64] = [10, 20, 30]
    var alpha: [Double] = [2, 2, 2]
    var beta: [Double] = [3, 3, 3]
    let steps: [([Double], [Double])] = [
      ([2.5, 0, 8], [8, 8, 8]),
      ([1.25, 3, 0.5], [4, 4, 16]),
      ([7.75, 0, 4], [8, 1, 4]),
    ]
    for (successes, trials) in steps {
      let result = try pool.update(Outcomes(ids: ids, successes: successes, trials: trials))
      #expect(result.updated == 3)
      for i in 0..<3 {
        alpha[i] = Self.expected(alpha[i], prior: 2, lambda: lambda, add: successes[i])
        beta[i] = Self.expected(beta[i], prior: 3, lambda: lambda, add: trials[i] - successes[i])
      }
      let got = pool.posteriors(ids)
      for i in 0..<3 {
        // Float32 storage: relative error below 1e-6 per step, so 1e-5 after three steps.
        #expect(abs(got.alpha[i] - alpha[i]) <= 1e-5 * alpha[i], "alpha[\(i)] λ=\(lambda)")
        #expect(abs(got.beta[i] - beta[i]) <= 1e-5 * beta[i], "beta[\(i)] λ=\(lambda)")
      }
    }
  }

  @Test func promptsOutsideTheUpdateAreUntouched() throws {
    let pool = try Engine().createPool("p", config: PoolConfig(decay: 0.5, seed: 1))
    _ = try pool.update(Outcomes(ids: [1, 2], successes: [3, 1], trials: [4, 4]))
    let before = pool.posteriors([2])
    _ = try pool.update(Outcomes(ids: [1], successes: [4], trials: [4]))
    #expect(pool.posteriors([2]) == before)
  }

  @Test func unseenIdsReportThePrior() throws {
    let pool = try Engine().createPool("p", config: PoolConfig(priorAlpha: 1.5, priorBeta: 4, seed: 1))
    let p = pool.posteriors([7, 8])
    #expect(p.alpha == [1.5, 1.5])
    #expect(p.beta == [4, 4])
    #expect(p.known == [false, false])
  }

  @Test func retriedRequestIdAppliesOnce() throws {
    let pool = try Engine().createPool("p", config: PoolConfig(seed: 1))
    let outcomes = Outcomes(ids: [1], successes: [1], trials: [2])
    #expect(try pool.update(outcomes, requestID: "step-1").duplicate == false)
    #expect(try pool.update(outcomes, requestID: "step-1").duplicate == true)
    #expect(pool.posteriors([1]).alpha == [2])
    #expect(pool.info.updateCount == 1)
  }

  @Test func registerKeepsExistingPosteriorsAndTakesPriors() throws {
    let pool = try Engine().createPool("p", config: PoolConfig(seed: 1))
    _ = try pool.update(Outcomes(ids: [1], successes: [3], trials: [3]))
    let r = try pool.register([1, 2, 3], priors: ([9, 7, 5], [1, 2, 3]))
    #expect(r == RegisterResult(added: 2, existing: 1, promptCount: 3))
    let p = pool.posteriors([1, 2, 3])
    #expect(p.alpha == [4, 7, 5])
    #expect(p.beta == [1, 2, 3])
  }
}
