import Testing

@testable import MoPPSEngine

/// The per-pool figures behind Stats and `/metrics`: the recent-update ring, the posterior-mean
/// buckets at their bounds, and figures that survive concurrent updates without mixing.
@Suite struct PoolMetricsTests {
  @Test func ringKeepsTheLastUpdatesInOrder() throws {
    let pool = try Engine().createPool("p", config: PoolConfig(seed: 1))
    let n = PoolActivity.recentCapacity + 10
    for i in 0..<n {
      // Update i: one prompt, i mod 5 successes of 4 (0 and 4 are all failed / all solved).
      let s = Double(i % 5)
      _ = try pool.update(Outcomes(ids: [UInt64(i)], successes: [s], trials: [4]))
    }
    let recent = pool.metrics.recentUpdates
    #expect(recent.count == PoolActivity.recentCapacity)
    #expect(recent.map(\.updateIndex) == (10..<UInt64(n)).map { $0 })
    for u in recent {
      let s = Double(u.updateIndex % 5)
      #expect(u.realised == s / 4 && u.prompts == 1 && u.predicted == 0.5)
      #expect(u.allSolved == (s == 4 ? 1 : 0) && u.allFailed == (s == 0 ? 1 : 0))
    }
  }

  @Test func meanBucketsCountUpToTheirBound() {
    #expect(Pool.meanBucket(0) == 0)
    #expect(Pool.meanBucket(0.1) == 0)
    #expect(Pool.meanBucket(0.3) == 2)
    #expect(Pool.meanBucket(0.30001) == 3)
    #expect(Pool.meanBucket(0.5) == 4)
    #expect(Pool.meanBucket(0.7) == 6)
    #expect(Pool.meanBucket(1) == 9)
  }

  @Test func concurrentUpdatesNeverMixFigures() async throws {
    let pool = try Engine().createPool("p", config: PoolConfig(seed: 1))
    // Writer w always reports w successes of 4 for 3 prompts of its own: any entry read must have
    // realised == w/4 and all-solved/all-failed shares that agree with that w.
    await withTaskGroup(of: Void.self) { group in
      for w in 0..<5 {
        group.addTask {
          for i in 0..<400 {
            let ids = (0..<3).map { UInt64(w * 10_000 + i * 3 + $0) }
            _ = try? pool.update(
              Outcomes(ids: ids, successes: [Double](repeating: Double(w), count: 3), trials: [4, 4, 4]))
          }
        }
      }
      group.addTask {
        for _ in 0..<200 {
          for u in pool.metrics.recentUpdates {
            let w = u.realised * 4
            #expect(u.prompts == 3 && w == w.rounded())
            #expect(u.allSolved == (w == 4 ? 1 : 0) && u.allFailed == (w == 0 ? 1 : 0))
          }
        }
      }
    }
    #expect(pool.metrics.recentUpdates.count == PoolActivity.recentCapacity)
  }
}
