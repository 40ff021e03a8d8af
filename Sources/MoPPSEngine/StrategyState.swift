/// The per-prompt state of the dps, greso and pools strategies, as flat arrays indexed by slot
/// (struct of arrays: no object per prompt), and the pool-wide step bookkeeping. Guarded by the
/// pool's strategy lock; arrays grow to the table's count when a prompt's slot is first touched.
/// The rules are stated in docs/strategies.md.
struct StrategyState: Sendable {
  /// Training steps counted (an Update without `step`, or the first Update of a new `step`).
  var steps: UInt64 = 0
  /// The latest `step` number an Update gave (nil: none yet).
  var latestStep: UInt64? = nil
  /// Whether the current training step was opened by `latestStep`, so that Updates naming it join it.
  var stepOpen = false

  // dps: A (9), π (3), π_prev (3) per slot, and the step each slot is synced to (`unseen`: not seen).
  var dpsA: [Double] = []
  var dpsPi: [Double] = []
  var dpsPrev: [Double] = []
  var dpsSynced: [UInt64] = []

  // greso: the easy and hard runs per slot; p now, p at the step's start, the step's group counts.
  var easyRun: [UInt32] = []
  var hardRun: [UInt32] = []
  var pEasy = 0.5
  var pHard = 0.5
  var stepStartPEasy = 0.5
  var stepStartPHard = 0.5
  var stepGroups: UInt64 = 0
  var stepAllSolved: UInt64 = 0
  var stepAllFailed: UInt64 = 0

  // pools: the latest group mean per slot (NaN: not observed).
  var lastMean: [Double] = []

  static let unseen = UInt64.max

  init(_ config: PoolConfig) {
    pEasy = config.greso.pEasy
    pHard = config.greso.pHard
    stepStartPEasy = pEasy
    stepStartPHard = pHard
  }

  /// Store bytes a prompt's strategy state takes.
  static func bytesPerPrompt(_ strategy: Strategy) -> Int {
    switch strategy {
    case .dps: 15 * 8 + 8
    case .greso: 8
    case .pools: 8
    case .topK, .threshold, .uniform: 0
    }
  }

  /// Grows the arrays of `strategy` to cover `slot`.
  mutating func ensure(_ slot: Int, _ strategy: Strategy) {
    switch strategy {
    case .dps:
      let n = dpsSynced.count
      guard slot >= n else { return }
      let m = slot + 1
      dpsA.append(contentsOf: repeatElement(0, count: 9 * (m - n)))
      dpsPi.append(contentsOf: repeatElement(0, count: 3 * (m - n)))
      dpsPrev.append(contentsOf: repeatElement(0, count: 3 * (m - n)))
      dpsSynced.append(contentsOf: repeatElement(Self.unseen, count: m - n))
    case .greso:
      guard slot >= easyRun.count else { return }
      let add = slot + 1 - easyRun.count
      easyRun.append(contentsOf: repeatElement(0, count: add))
      hardRun.append(contentsOf: repeatElement(0, count: add))
    case .pools:
      guard slot >= lastMean.count else { return }
      lastMean.append(contentsOf: repeatElement(.nan, count: slot + 1 - lastMean.count))
    case .topK, .threshold, .uniform: break
    }
  }

  // MARK: Steps

  /// Whether an Update with `step` opens a new training step; FAILED_PRECONDITION for a step that
  /// is over. Changes nothing.
  func opensStep(_ step: UInt64?) throws(MoPPSError) -> Bool {
    guard let step else { return true }
    guard let latest = latestStep else { return true }
    if step == latest && stepOpen { return false }
    if step > latest { return true }
    throw MoPPSError(
      .failedPrecondition,
      step == latest
        ? "step \(step) is over: an Update without step came after it; send a higher step"
        : "step \(step) is lower than the pool's latest step \(latest); steps must not go back")
  }

  /// Counts the Update's step (after `opensStep` said it may).
  mutating func begin(_ step: UInt64?, opens: Bool) {
    guard opens else { return }
    steps &+= 1
    if let step { latestStep = step }
    stepOpen = step != nil
    stepStartPEasy = pEasy
    stepStartPHard = pHard
    stepGroups = 0
    stepAllSolved = 0
    stepAllFailed = 0
  }

  /// The last step whose moves may be stored: the current one once closed, else the one before
  /// (another rank may still observe a prompt in the open step).
  var closedSteps: UInt64 { stepOpen ? steps &- 1 : steps }
}

/// The dps arrays of a `StrategyState` as raw pointers (valid inside `withDPSArrays`).
struct DPSArrays {
  let a: UnsafeMutablePointer<Double>
  let pi: UnsafeMutablePointer<Double>
  let prev: UnsafeMutablePointer<Double>
  let synced: UnsafeMutablePointer<UInt64>
  let count: Int
}

extension StrategyState {
  /// The dps arrays as pointers (nil while no slot has dps state).
  mutating func withDPSArrays<R>(_ body: (DPSArrays?) -> R) -> R {
    guard !dpsSynced.isEmpty else { return body(nil) }
    let count = dpsSynced.count
    return dpsA.withUnsafeMutableBufferPointer { a in
      dpsPi.withUnsafeMutableBufferPointer { pi in
        dpsPrev.withUnsafeMutableBufferPointer { prev in
          dpsSynced.withUnsafeMutableBufferPointer { synced in
            body(
              DPSArrays(
                a: a.baseAddress!, pi: pi.baseAddress!, prev: prev.baseAddress!, synced: synced.baseAddress!,
                count: count))
          }
        }
      }
    }
  }
}

/// The DPS model's arithmetic, in the original's order of operations (Float64), on one slot.
struct DPSModel {
  let a0: [Double]
  let lambda: Double
  let oneMinusLambda: Double
  let entropyWeight: Double?

  init(_ c: DPSConfig) {
    a0 = c.priorCounts
    lambda = c.decay
    oneMinusLambda = 1 - c.decay
    entropyWeight = c.usesEntropy ? c.entropyWeight : nil
  }

  /// Sets a slot to the start state: A = A0, π = π_prev = uniform, synced to `step`.
  func start(_ s: inout StrategyState, _ slot: Int, step: UInt64) {
    for i in 0..<9 { s.dpsA[9 * slot + i] = a0[i] }
    for i in 0..<3 {
      s.dpsPi[3 * slot + i] = 1.0 / 3.0
      s.dpsPrev[3 * slot + i] = 1.0 / 3.0
    }
    s.dpsSynced[slot] = step
  }

  /// π' = normalise(normalise(P(A)·x)), P = A with each column divided by its sum.
  @inline(__always)
  static func predict(_ a: UnsafePointer<Double>, _ x: (Double, Double, Double)) -> (Double, Double, Double) {
    let c0 = a[0] + a[3] + a[6]
    let c1 = a[1] + a[4] + a[7]
    let c2 = a[2] + a[5] + a[8]
    var y0 = a[0] / c0 * x.0 + a[1] / c1 * x.1 + a[2] / c2 * x.2
    var y1 = a[3] / c0 * x.0 + a[4] / c1 * x.1 + a[5] / c2 * x.2
    var y2 = a[6] / c0 * x.0 + a[7] / c1 * x.1 + a[8] / c2 * x.2
    // The original normalises twice (in predict_next_state and after it).
    for _ in 0..<2 {
      let t = y0 + y1 + y2
      (y0, y1, y2) = (y0 / t, y1 / t, y2 / t)
    }
    return (y0, y1, y2)
  }

  /// One passive move (a step in which the slot was not observed); false when it changed nothing,
  /// bit for bit (then every later passive move changes nothing either).
  @inline(__always)
  func passive(
    _ a: UnsafeMutablePointer<Double>, _ pi: UnsafeMutablePointer<Double>,
    _ prev: UnsafeMutablePointer<Double>
  ) -> Bool {
    var changed = false
    for i in 0..<9 {
      let v = a[i] * lambda + a0[i] * oneMinusLambda + 0.0
      if v.bitPattern != a[i].bitPattern { changed = true }
      a[i] = v
    }
    let x = (pi[0], pi[1], pi[2])
    for i in 0..<3 where prev[i].bitPattern != pi[i].bitPattern { changed = true }
    prev[0] = x.0
    prev[1] = x.1
    prev[2] = x.2
    let y = Self.predict(a, x)
    if y.0.bitPattern != x.0.bitPattern || y.1.bitPattern != x.1.bitPattern
      || y.2.bitPattern != x.2.bitPattern
    {
      changed = true
    }
    pi[0] = y.0
    pi[1] = y.1
    pi[2] = y.2
    return changed
  }

  /// Replays the passive moves of a seen slot up to `target` and stores them.
  func sync(_ s: inout StrategyState, _ slot: Int, to target: UInt64) {
    s.withDPSArrays { m in if let m { sync(m, slot, to: target) } }
  }

  func sync(_ m: DPSArrays, _ slot: Int, to target: UInt64) {
    let synced = m.synced[slot]
    guard synced != StrategyState.unseen, synced < target else { return }
    let (a, pi, prev) = (m.a + 9 * slot, m.pi + 3 * slot, m.prev + 3 * slot)
    var k = synced
    while k < target {
      k += 1
      if !passive(a, pi, prev) { break }
    }
    m.synced[slot] = target
  }

  /// π of a slot as of step `now` (uniform for an unseen one): stored moves up to the closed steps,
  /// the open step's move computed aside.
  func predicted(_ s: inout StrategyState, _ slot: Int?, now: UInt64) -> (Double, Double, Double) {
    let closed = s.closedSteps
    return s.withDPSArrays { m in predicted(m, slot, closed: closed, now: now) }
  }

  /// `predicted` on the raw arrays: chunks of distinct slots may run it in parallel.
  func predicted(_ m: DPSArrays?, _ slot: Int?, closed: UInt64, now: UInt64) -> (Double, Double, Double) {
    let third = 1.0 / 3.0
    guard let m, let slot, slot < m.count, m.synced[slot] != StrategyState.unseen else {
      return (third, third, third)
    }
    sync(m, slot, to: closed)
    if m.synced[slot] >= now { return (m.pi[3 * slot], m.pi[3 * slot + 1], m.pi[3 * slot + 2]) }
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: 15) { t in
      let (a, pi, prev) = (t.baseAddress!, t.baseAddress! + 9, t.baseAddress! + 12)
      for i in 0..<9 { (a + i).initialize(to: m.a[9 * slot + i]) }
      for i in 0..<3 {
        (pi + i).initialize(to: m.pi[3 * slot + i])
        (prev + i).initialize(to: m.prev[3 * slot + i])
      }
      _ = passive(a, pi, prev)
      return (pi[0], pi[1], pi[2])
    }
  }

  /// The observed update of a slot in step `step` with group accuracy `y`.
  func observe(_ s: inout StrategyState, _ slot: Int, y: Double, step: UInt64) {
    if s.dpsSynced[slot] == StrategyState.unseen {
      start(&s, slot, step: step &- 1)
    } else {
      sync(&s, slot, to: step &- 1)
    }
    let o = y == 0.0 ? 0 : (y == 1.0 ? 2 : 1)
    s.dpsA.withUnsafeMutableBufferPointer { ab in
      let a = ab.baseAddress! + 9 * slot
      let prev = (s.dpsPrev[3 * slot], s.dpsPrev[3 * slot + 1], s.dpsPrev[3 * slot + 2])
      let c0 = a[0] + a[3] + a[6]
      let c1 = a[1] + a[4] + a[7]
      let c2 = a[2] + a[5] + a[8]
      // Soft counts: only row o of outer(e_o, π_prev) ∘ P is non-zero.
      let n0 = prev.0 * (a[3 * o] / c0)
      let n1 = prev.1 * (a[3 * o + 1] / c1)
      let n2 = prev.2 * (a[3 * o + 2] / c2)
      let total = n0 + n1 + n2
      for i in 0..<9 { a[i] = a[i] * lambda + a0[i] * oneMinusLambda }
      // A zero total (zero prior counts on every path into o) adds nothing; the original stores NaN.
      if total > 0 {
        a[3 * o] += n0 / total
        a[3 * o + 1] += n1 / total
        a[3 * o + 2] += n2 / total
      }
      let e: (Double, Double, Double) = (o == 0 ? 1 : 0, o == 1 ? 1 : 0, o == 2 ? 1 : 0)
      let y = Self.predict(UnsafePointer(a), e)
      s.dpsPrev[3 * slot] = e.0
      s.dpsPrev[3 * slot + 1] = e.1
      s.dpsPrev[3 * slot + 2] = e.2
      s.dpsPi[3 * slot] = y.0
      s.dpsPi[3 * slot + 1] = y.1
      s.dpsPi[3 * slot + 2] = y.2
    }
    s.dpsSynced[slot] = step
  }

  /// The selection score of π: π[1], plus w·H(π) for topk+entropy.
  @inline(__always)
  func score(_ pi: (Double, Double, Double)) -> Double {
    guard let w = entropyWeight else { return pi.1 }
    let h = -(pi.0 * log(pi.0 + 1e-10) + pi.1 * log(pi.1 + 1e-10) + pi.2 * log(pi.2 + 1e-10))
    return pi.1 + h * w
  }
}

extension StrategyState {
  /// GRESO's observation of one group: runs, and the step's counts.
  mutating func gresoObserve(_ slot: Int, successes: Double, trials: Double, _ c: GRESOConfig) {
    let m = successes / trials
    easyRun[slot] = m >= c.easyThreshold ? (easyRun[slot] == .max ? .max : easyRun[slot] + 1) : 0
    hardRun[slot] = m <= c.hardThreshold ? (hardRun[slot] == .max ? .max : hardRun[slot] + 1) : 0
    stepGroups += 1
    if successes == trials { stepAllSolved += 1 }
    if successes == 0 { stepAllFailed += 1 }
  }

  /// p from the step's starting p and the step's counts so far (the original adapts once per step,
  /// from the counts over all the step's groups).
  mutating func gresoAdapt(_ c: GRESOConfig) {
    guard c.adapt, stepGroups > 0 else { return }
    let zEasy = Double(stepAllSolved) / Double(stepGroups)
    let zHard = Double(stepAllFailed) / Double(stepGroups)
    let tEasy = c.targetZeroShare / 3
    let tHard = c.targetZeroShare * 2 / 3
    pHard =
      zHard >= tHard ? max(stepStartPHard - c.stepSize, c.pMin) : min(stepStartPHard + c.stepSize, c.pMax)
    pEasy =
      zEasy >= tEasy ? max(stepStartPEasy - c.stepSize, c.pMin) : min(stepStartPEasy + c.stepSize, c.pMax)
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif
