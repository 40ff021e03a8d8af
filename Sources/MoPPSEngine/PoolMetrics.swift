import Synchronization

/// The figures of one applied Update, for calibration and effective-ratio charts.
public struct UpdateFigures: Sendable, Equatable {
  /// The pool's update index of this update.
  public var updateIndex: UInt64
  /// How many prompts it updated.
  public var prompts: Int
  /// Mean posterior mean of the updated prompts just before the update: the success rate the
  /// posteriors predicted for this batch.
  public var predicted: Double
  /// Σ successes / Σ trials of the batch: the success rate it had.
  public var realised: Double
  /// Share of the prompts with successes == trials (no learning signal for group-relative methods).
  public var allSolved: Double
  /// Share of the prompts with successes == 0.
  public var allFailed: Double

  /// Figures from their parts.
  public init(
    updateIndex: UInt64, prompts: Int, predicted: Double, realised: Double, allSolved: Double,
    allFailed: Double
  ) {
    self.updateIndex = updateIndex
    self.prompts = prompts
    self.predicted = predicted
    self.realised = realised
    self.allSolved = allSolved
    self.allFailed = allFailed
  }

  /// The share of prompts that were neither all solved nor all failed.
  public var effectiveRatio: Double { max(0, 1 - allSolved - allFailed) }
}

/// A pool's algorithm figures at one moment: what Stats and `/metrics` report per pool.
public struct PoolMetrics: Sendable, Equatable {
  /// The upper bounds of the posterior-mean histogram's buckets (deciles; the last holds 1).
  public static let meanBounds: [Double] = (1...10).map { Double($0) / 10 }
  /// Prompts whose posterior differs from the pool's prior (α0, β0): updated, imported or registered
  /// with a prior of their own.
  public var promptsWithData: Int
  /// Prompts per posterior-mean bucket: [0, 0.1], (0.1, 0.2], …, (0.9, 1] (`meanBounds`; not
  /// cumulative).
  public var meanHistogram: [UInt64]
  /// Σ of the posterior means of all prompts.
  public var meanSum: Double
  /// The number of prompts the last select chose (0: none yet).
  public var lastSelectBatch: Int
  /// The mean sampled success rate of the last select's chosen prompts.
  public var lastSelectMeanSample: Double
  /// The most recent updates, oldest first (at most `PoolActivity.recentCapacity`).
  public var recentUpdates: [UpdateFigures]

  /// Metrics from their parts (the protocol layer decodes them).
  public init(
    promptsWithData: Int, meanHistogram: [UInt64], meanSum: Double, lastSelectBatch: Int,
    lastSelectMeanSample: Double, recentUpdates: [UpdateFigures]
  ) {
    self.promptsWithData = promptsWithData
    self.meanHistogram = meanHistogram
    self.meanSum = meanSum
    self.lastSelectBatch = lastSelectBatch
    self.lastSelectMeanSample = lastSelectMeanSample
    self.recentUpdates = recentUpdates
  }
}

/// What the last selects and updates of a pool looked like, recorded by the request path and read by
/// Stats and the HTTP side without a lock, so that a scrape never delays a Select or an Update.
///
/// The last select is one word (its mean sample as Float32 bits and its batch size). Recent updates
/// are a ring of `recentCapacity` entries, each a small sequence lock: a writer takes a ticket,
/// marks its entry odd, stores the figures and marks it with the ticket; a reader keeps an entry only
/// if it saw the same even mark before and after reading it, so it never mixes two updates' figures.
public final class PoolActivity: Sendable {
  /// How many recent updates are kept.
  public static let recentCapacity = 64

  private final class Entry: Sendable {
    /// 2 · ticket + 1 while being written, 2 · (ticket + 1) once written; 0: never written.
    let mark = Atomic<UInt64>(0)
    /// (predicted, realised) as two Float32 bit patterns.
    let rates = Atomic<UInt64>(0)
    /// (all-solved share, all-failed share) as two Float32 bit patterns.
    let shares = Atomic<UInt64>(0)
    /// (prompts, update index's low 32 bits).
    let sizes = Atomic<UInt64>(0)
  }

  private let tickets = Atomic<UInt64>(0)
  private let entries: [Entry] = (0..<PoolActivity.recentCapacity).map { _ in Entry() }
  /// Float32 bits of the mean sample in the low half, the batch size in the high half; 0: none.
  private let lastSelect = Atomic<UInt64>(0)

  init() {}

  private static func pack(_ low: Float, _ high: Float) -> UInt64 {
    UInt64(low.bitPattern) | UInt64(high.bitPattern) << 32
  }

  private static func unpack(_ word: UInt64) -> (Double, Double) {
    (
      Double(Float(bitPattern: UInt32(truncatingIfNeeded: word))),
      Double(Float(bitPattern: UInt32(truncatingIfNeeded: word >> 32)))
    )
  }

  /// Records a select's chosen samples.
  func recordSelect(_ samples: [Float]) {
    guard !samples.isEmpty else { return }
    let mean = Float(samples.reduce(0.0) { $0 + Double($1) } / Double(samples.count))
    // Relaxed: a single self-contained word; readers want a recent value, nothing else is published.
    lastSelect.store(
      UInt64(mean.bitPattern) | UInt64(UInt32(clamping: samples.count)) << 32, ordering: .relaxed)
  }

  /// Records an applied update.
  func record(_ f: UpdateFigures) {
    // Relaxed: the ticket only has to be unique; the entry's marks order its contents.
    let ticket = tickets.wrappingAdd(1, ordering: .relaxed).oldValue
    let entry = entries[Int(ticket % UInt64(Self.recentCapacity))]
    entry.mark.store(2 * ticket + 1, ordering: .relaxed)
    // Releasing: a reader that sees these figures (acquiring) also sees the odd mark stored before
    // them, so it cannot take them for the previous ticket's.
    entry.rates.store(Self.pack(Float(f.predicted), Float(f.realised)), ordering: .releasing)
    entry.shares.store(Self.pack(Float(f.allSolved), Float(f.allFailed)), ordering: .releasing)
    entry.sizes.store(
      UInt64(UInt32(clamping: f.prompts)) | UInt64(UInt32(truncatingIfNeeded: f.updateIndex)) << 32,
      ordering: .releasing)
    // Releasing: a reader that sees the final mark (acquiring) sees the figures stored before it.
    entry.mark.store(2 * (ticket + 1), ordering: .releasing)
  }

  /// The last select: its batch size (0: none yet) and mean sample.
  var lastSelectFigures: (batch: Int, meanSample: Double) {
    // Relaxed: one self-contained word.
    let word = lastSelect.load(ordering: .relaxed)
    return (Int(word >> 32), Double(Float(bitPattern: UInt32(truncatingIfNeeded: word))))
  }

  /// The recent updates whose entries were not being rewritten while read, oldest first. The
  /// update index is exact for the last 2^32 updates of the pool (`updateCount` gives the high part).
  func recentUpdates(updateCount: UInt64) -> [UpdateFigures] {
    // Acquiring: pairs with nothing in particular; the entries' marks carry the ordering.
    let issued = tickets.load(ordering: .acquiring)
    let first = issued > UInt64(Self.recentCapacity) ? issued - UInt64(Self.recentCapacity) : 0
    var out: [UpdateFigures] = []
    out.reserveCapacity(Int(issued - first))
    for ticket in first..<issued {
      let entry = entries[Int(ticket % UInt64(Self.recentCapacity))]
      // Acquiring loads, then a relaxed re-check of the mark: the seqlock read pattern.
      let before = entry.mark.load(ordering: .acquiring)
      guard before == 2 * (ticket + 1) else { continue }
      let rates = entry.rates.load(ordering: .acquiring)
      let shares = entry.shares.load(ordering: .acquiring)
      let sizes = entry.sizes.load(ordering: .acquiring)
      guard entry.mark.load(ordering: .relaxed) == before else { continue }
      let (predicted, realised) = Self.unpack(rates)
      let (solved, failed) = Self.unpack(shares)
      let low = sizes >> 32
      // The full index: the largest value ≤ updateCount whose low 32 bits are `low`.
      let high = updateCount & ~0xFFFF_FFFF
      let index = high | low <= updateCount ? high | low : (high &- (1 << 32)) | low
      out.append(
        UpdateFigures(
          updateIndex: index, prompts: Int(sizes & 0xFFFF_FFFF), predicted: predicted, realised: realised,
          allSolved: solved, allFailed: failed))
    }
    return out
  }
}

extension Pool {
  /// The pool's algorithm figures now. Visits every prompt's posterior (lock-free, about a
  /// nanosecond each), so callers keep it off the request path: Stats runs on a worker, the HTTP
  /// side on its own thread.
  public var metrics: PoolMetrics {
    let n = table.count
    var histogram = [UInt64](repeating: 0, count: PoolMetrics.meanBounds.count)
    var sum = 0.0
    var withData = 0
    let prior = (Float(config.priorAlpha), Float(config.priorBeta))
    for slot in 0..<n {
      let p = table.posterior(slot)
      let mean = Double(p.alpha) / (Double(p.alpha) + Double(p.beta))
      sum += mean
      histogram[Self.meanBucket(mean)] += 1
      if p.alpha != prior.0 || p.beta != prior.1 { withData += 1 }
    }
    let last = activity.lastSelectFigures
    // Relaxed: statistics (as in `info`).
    let updateCount = updates.load(ordering: .relaxed)
    return PoolMetrics(
      promptsWithData: withData, meanHistogram: histogram, meanSum: sum, lastSelectBatch: last.batch,
      lastSelectMeanSample: last.meanSample, recentUpdates: activity.recentUpdates(updateCount: updateCount))
  }

  /// The bucket of `mean` in `PoolMetrics.meanBounds`: the first bound ≥ mean, as Prometheus'
  /// `le` counts (so the prior's 0.5 is in the bucket up to 0.5).
  static func meanBucket(_ mean: Double) -> Int {
    let bounds = PoolMetrics.meanBounds
    var i = min(bounds.count - 1, max(0, Int((mean * 10).rounded(.up)) - 1))
    // mean · 10 can round across a bound (0.3 · 10 > 3): settle against the bounds themselves.
    while i > 0 && mean <= bounds[i - 1] { i -= 1 }
    while i < bounds.count - 1 && mean > bounds[i] { i += 1 }
    return i
  }

}

extension PoolInfo {
  /// The pool strategy's own state as named gauges, which `/metrics` exposes as
  /// `moppsd_pool_strategy_state{pool,strategy,name}`: the training steps counted by dps, greso and
  /// pools, and GRESO's p_easy and p_hard; none for the MoPPS strategies, whose whole state is the
  /// posteriors.
  public var strategyGauges: [(name: String, value: Double)] {
    guard config.strategy.hasOwnState else { return [] }
    var gauges: [(name: String, value: Double)] = [("steps", Double(state.steps))]
    if config.strategy == .greso {
      gauges += [("p_easy", state.gresoPEasy), ("p_hard", state.gresoPHard)]
    }
    return gauges
  }
}

extension UpdateFigures {
  /// Sums over an update's prompts, turned into figures once all are applied.
  struct Accumulator {
    var prompts = 0
    var predicted = 0.0
    var successes = 0.0
    var trials = 0.0
    var solved = 0
    var failed = 0

    /// One prompt: its posterior before the update and its outcome.
    mutating func add(_ before: (Float, Float), successes s: Double, trials k: Double) {
      prompts += 1
      predicted += Double(before.0) / (Double(before.0) + Double(before.1))
      successes += s
      trials += k
      if s == k { solved += 1 }
      if s == 0 { failed += 1 }
    }

    func figures(updateIndex: UInt64) -> UpdateFigures {
      let n = Double(max(prompts, 1))
      return UpdateFigures(
        updateIndex: updateIndex, prompts: prompts, predicted: predicted / n,
        realised: trials > 0 ? successes / trials : 0, allSolved: Double(solved) / n,
        allFailed: Double(failed) / n)
    }
  }
}
