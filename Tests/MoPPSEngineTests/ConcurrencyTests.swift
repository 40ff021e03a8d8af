import Foundation
import Synchronization
import Testing

@testable import MoPPSEngine

/// Lock-free store under real threads. `make test` also runs this suite under ThreadSanitizer
/// (with MOPPS_TSAN=1, which divides the iteration counts by 4: TSan is ~10x slower).
@Suite struct ConcurrencyTests {
  static let scale = ProcessInfo.processInfo.environment["MOPPS_TSAN"] == nil ? 1 : 4

  /// Runs `body(thread)` on `count` OS threads at once and waits for all.
  func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for t in 0..<count {
      group.enter()
      let thread = Thread {
        body(t)
        group.leave()
      }
      thread.stackSize = 1 << 20
      thread.start()
    }
    group.wait()
  }

  /// 8 threads × 100,000 prompt updates over 64 shared ids, integer successes, λ = 1: the final
  /// posteriors equal the serial sums exactly (Float32 holds these integers exactly).
  /// Strategy pools under threads: selects (given, drawn, whole pool), gets, updates sharing step
  /// numbers, and snapshots at once. Every accepted update is counted, steps are counted once per
  /// number, and nothing traps (TSan checks the strategy and writer locks nest without races).
  @Test(arguments: [Strategy.dps, .greso, .pools])
  func strategyPoolsUnderThreads(strategy: Strategy) throws {
    let pool = try Engine().createPool("z", config: PoolConfig(strategy: strategy, seed: 3))
    _ = try pool.register((0..<UInt64(2000)).map { $0 })
    let rounds = 400 / Self.scale
    let accepted = Atomic<Int>(0)
    onThreads(4) { t in
      var rng = Xoshiro256(seed: UInt64(10 + t))
      for i in 0..<rounds {
        switch (t + i) % 4 {
        case 0:
          let candidates = rng.distinct(64, below: 2500).map { UInt64($0) }
          _ = try! pool.select(SelectQuery(batchSize: 16, candidates: .given(candidates)))
        case 1:
          _ = try! pool.select(SelectQuery(batchSize: 8, candidates: i % 8 == 1 ? .all : .drawn(count: 32)))
        case 2:
          let ids = rng.distinct(16, below: 2500).map { UInt64($0) }
          // Steps race between threads: one that went back is refused, and changes nothing.
          let outcomes = Outcomes(
            ids: ids, successes: ids.map { _ in Double(rng.nextBelow(5)) },
            trials: [Double](repeating: 4, count: 16),
            step: UInt64(i / 8))
          if (try? pool.update(outcomes)) != nil { accepted.add(1, ordering: .relaxed) }
        default:
          _ = pool.posteriors(rng.distinct(32, below: 2500).map { UInt64($0) })
          if i % 16 == 3 { _ = pool.snapshot() }
        }
      }
    }
    let updates = accepted.load(ordering: .relaxed)
    #expect(updates > 0)
    #expect(pool.info.updateCount == UInt64(updates))
    #expect(pool.info.state.steps >= 1 && pool.info.state.steps <= UInt64(rounds / 8 + 1))
    let snapshot = pool.snapshot()
    if let t = snapshot.strategy, strategy == .greso {
      #expect(t.stepGroups >= t.stepAllSolved && t.stepGroups >= t.stepAllFailed)
    }
  }

  @Test func noLostUpdates() throws {
    let pool = try Engine().createPool("p", config: PoolConfig(decay: 1, seed: 1))
    let perThread = 100_000 / Self.scale
    let ids = (0..<UInt64(64)).map { $0 * 1_000_003 }
    // Thread t's i-th call: two distinct ids (overlapping across threads), s and 4 - s successes of 4.
    @Sendable func call(_ t: Int, _ i: Int, _ rng: inout Xoshiro256) -> (UInt64, UInt64, Double) {
      let a = rng.nextBelow(64)
      var b = rng.nextBelow(64)
      if b == a { b = (a + 1) % 64 }
      return (ids[a], ids[b], Double((i + t) % 5))
    }
    onThreads(8) { t in
      var rng = Xoshiro256(seed: UInt64(t))
      for i in 0..<(perThread / 2) {
        let (a, b, s) = call(t, i, &rng)
        _ = try! pool.update(Outcomes(ids: [a, b], successes: [s, 4 - s], trials: [4, 4]))
      }
    }
    // Serial replay of the same sequences.
    var alpha = [UInt64: Double]()
    var beta = [UInt64: Double]()
    for t in 0..<8 {
      var rng = Xoshiro256(seed: UInt64(t))
      for i in 0..<(perThread / 2) {
        let (a, b, s) = call(t, i, &rng)
        alpha[a, default: 1] += s
        beta[a, default: 1] += 4 - s
        alpha[b, default: 1] += 4 - s
        beta[b, default: 1] += s
      }
    }
    let got = pool.posteriors(ids)
    for (i, id) in ids.enumerated() {
      #expect(got.alpha[i] == alpha[id, default: 1], "alpha of \(id)")
      #expect(got.beta[i] == beta[id, default: 1], "beta of \(id)")
    }
    #expect(pool.info.updateCount == UInt64(8 * (perThread / 2)))
  }

  /// Every update adds 4 to α + β, so α + β ≡ 2 (mod 4) at every instant. A reader that saw α from
  /// one moment and β from another would break that; readers check it while writers run, and new
  /// prompts are registered (growing the map and the segments) at the same time.
  @Test func readersNeverSeeTornPairsWhileThePoolGrows() throws {
    let pool = try Engine().createPool("p", config: PoolConfig(decay: 1, seed: 1))
    let hot = (0..<UInt64(32)).map { $0 }
    _ = try pool.register(hot)
    let stop = Atomic<Bool>(false)
    let writersDone = Atomic<Int>(0)
    let violations = Atomic<Int>(0)
    let reads = Atomic<Int>(0)
    let rounds = 20_000 / Self.scale
    // The registrar adds at least this many batches of 1,000 while readers run, however fast the
    // writers are: the pool must really grow under the readers.
    let minimumBatches = 100
    onThreads(6) { t in
      switch t {
      case 0, 1:  // writers
        for i in 0..<rounds {
          let id = hot[(i * 7 + t) % 32]
          let s = Double(i % 5)
          _ = try! pool.update(Outcomes(ids: [id], successes: [s], trials: [4]))
        }
        // Relaxed is enough: the counter and the flag only end loops; no data is published with them.
        writersDone.add(1, ordering: .relaxed)
      case 2:  // registrar: up to 300,000 new ids in batches, forcing map growth and new segments
        var next: UInt64 = 1_000_000
        var batches = 0
        while next < 1_300_000 && (batches < minimumBatches || writersDone.load(ordering: .relaxed) < 2) {
          _ = try! pool.register(Array(next..<(next + 1000)))
          next += 1000
          batches += 1
        }
        while writersDone.load(ordering: .relaxed) < 2 { usleep(1000) }
        stop.store(true, ordering: .relaxed)
      default:  // readers: Get and Select over the hot ids
        while !stop.load(ordering: .relaxed) {
          let p = pool.posteriors(hot)
          for i in hot.indices where Int(p.alpha[i] + p.beta[i]) % 4 != 2 {
            violations.add(1, ordering: .relaxed)
          }
          let r = try! pool.select(SelectQuery(batchSize: 4, candidates: .given(hot), returnMeans: true))
          if r.ids.count != 4 { violations.add(1, ordering: .relaxed) }
          reads.add(1, ordering: .relaxed)
        }
      }
    }
    #expect(violations.load(ordering: .relaxed) == 0)
    #expect(reads.load(ordering: .relaxed) > 0)
    #expect(pool.info.promptCount >= hot.count + minimumBatches * 1000, "the pool did not grow")
    // Every registered id is still found at the end.
    let all = pool.posteriors(nil)
    #expect(Set(all.ids).count == all.ids.count)
    #expect(pool.posteriors(all.ids).known.allSatisfy { $0 })
  }

  /// Dataset indices resolve to their slot by arithmetic while the run of them grows: readers that
  /// look up ids around the end of the run, during registration, must see each known id's own
  /// registered prior (α = 1 + id % 7, β = 2 + id % 3) and the pool prior for the others — never
  /// another slot's pair.
  @Test func indexIdsResolveWhileTheirRunGrows() throws {
    let pool = try Engine().createPool("p", config: PoolConfig(priorAlpha: 0.5, priorBeta: 0.5, seed: 1))
    @Sendable func priors(_ ids: [UInt64]) -> ([Double], [Double]) {
      (ids.map { 1 + Double($0 % 7) }, ids.map { 2 + Double($0 % 3) })
    }
    let first = (0..<UInt64(1_000)).map { $0 }
    _ = try pool.register(first, priors: priors(first))
    let total = UInt64(200_000 / Self.scale)
    let done = Atomic<Bool>(false)
    let violations = Atomic<Int>(0)
    let reads = Atomic<Int>(0)
    onThreads(3) { t in
      if t == 0 {
        var next: UInt64 = 1_000
        while next < total {
          let batch = (next..<min(total, next + 500)).map { $0 }
          _ = try! pool.register(batch, priors: priors(batch))
          next += 500
        }
        // Relaxed is enough: the flag only ends the readers' loops; no data is published with it.
        done.store(true, ordering: .relaxed)
        return
      }
      var rng = Xoshiro256(seed: UInt64(t))
      while !done.load(ordering: .relaxed) {
        let end = UInt64(pool.table.count)
        let ids = Array(Set((0..<600).map { _ in end - 300 + UInt64(rng.nextBelow(600)) }))
        let p = pool.posteriors(ids)
        for (i, id) in ids.enumerated() {
          let expected: (Double, Double) = p.known[i] ? (1 + Double(id % 7), 2 + Double(id % 3)) : (0.5, 0.5)
          if p.alpha[i] != expected.0 || p.beta[i] != expected.1 { violations.add(1, ordering: .relaxed) }
        }
        _ = try! pool.select(SelectQuery(batchSize: 10, candidates: .given(ids)))
        reads.add(1, ordering: .relaxed)
      }
    }
    #expect(violations.load(ordering: .relaxed) == 0)
    #expect(reads.load(ordering: .relaxed) > 0)
    let all = (0..<total).map { $0 }
    #expect(pool.posteriors(all).known.allSatisfy { $0 })
  }

  /// Concurrent inserts of the same new ids (through updates) create each prompt once.
  @Test func concurrentInsertsOfTheSameIds() throws {
    let pool = try Engine().createPool("p", config: PoolConfig(seed: 1))
    let n = 20_000 / Self.scale
    onThreads(4) { _ in
      for i in stride(from: 0, to: n, by: 10) {
        _ = try! pool.update(
          Outcomes(
            ids: (UInt64(i)..<UInt64(i + 10)).map { $0 }, successes: Array(repeating: 1, count: 10),
            trials: Array(repeating: 1, count: 10)))
      }
    }
    #expect(pool.info.promptCount == n)
    let p = pool.posteriors(nil)
    #expect(p.alpha.allSatisfy { $0 == 5 })  // prior 1 + one success from each of 4 threads
  }
}
