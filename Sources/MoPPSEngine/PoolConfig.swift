/// How a pool picks its batch from the sampled success rates.
public enum Strategy: String, Sendable, CaseIterable, Codable {
  /// The B candidates whose sampled rate is nearest the target.
  case topK = "topk"
  /// B uniformly at random among samples inside the band, filled up with those nearest the band.
  case threshold
  /// B uniformly at random: the baseline.
  case uniform
  /// Dynamics-Predictive Sampling: the B candidates most likely "partly solved" at the next step
  /// under a per-prompt hidden Markov model (docs/strategies.md).
  case dps
  /// GRESO: skip recently zero-variance candidates with a probability growing with their run, then
  /// B uniformly among the kept.
  case greso
  /// Difficulty pools: B without replacement by the weight of each prompt's difficulty pool.
  case pools

  /// dps, greso and pools keep per-prompt state of their own, so a pool's strategy is fixed at
  /// creation for them; the MoPPS strategies (topk, threshold, uniform) override each other per
  /// Select.
  public var hasOwnState: Bool {
    switch self {
    case .topK, .threshold, .uniform: false
    case .dps, .greso, .pools: true
    }
  }
}

/// DPS settings (maoyixiu/DPS `tasksampler.hmm_*`).
public struct DPSConfig: Sendable, Equatable {
  /// λ of A ← λ·A + (1 − λ)·A0 (+ soft counts), `hmm_transition_decay_ratio`.
  public var decay: Double = 1
  /// The preset A0 was taken from: "uniform", "progress", "stability" or "local" ("" when
  /// `priorCounts` was given explicitly).
  public var prior: String = "uniform"
  /// A0, the nine prior transition counts, row-major A0[next][prev].
  public var priorCounts: [Double] = DPSConfig.preset("uniform")!
  /// "topk" or "topk+entropy".
  public var selection: String = "topk"
  /// w in π[1] + w·H(π) for "topk+entropy" (the original's default, 0).
  public var entropyWeight: Double = 0

  /// The defaults.
  public init() {}

  /// The prior counts of a preset (rows: next state, columns: previous state), nil for an unknown
  /// name.
  public static func preset(_ name: String) -> [Double]? {
    switch name {
    case "uniform": [1, 1, 1, 1, 1, 1, 1, 1, 1]
    case "progress": [1, 0.5, 0.5, 1, 1, 0.5, 1, 1, 1]
    case "stability": [1, 0.5, 0.5, 0.5, 1, 0.5, 0.5, 0.5, 1]
    case "local": [1, 1, 0, 1, 1, 1, 0, 1, 1]
    default: nil
    }
  }

  /// Whether selection adds the entropy term.
  public var usesEntropy: Bool { selection == "topk+entropy" }

  func validate() throws(MoPPSError) {
    try Validate.unitInterval(decay, "config.dps.decay")
    guard prior.isEmpty || DPSConfig.preset(prior) != nil else {
      throw .invalid("config.dps.prior must be uniform, progress, stability or local, got \"\(prior)\"")
    }
    guard priorCounts.count == 9 else {
      throw .invalid(
        "config.dps.prior_counts: need 9 counts (A0[next][prev], row-major), got \(priorCounts.count)")
    }
    for (i, c) in priorCounts.enumerated() where !(c.isFinite && c >= 0 && c <= 1e30) {
      throw .invalid("config.dps.prior_counts[\(i)] must be a finite count in [0, 1e30], got \(c)")
    }
    for j in 0..<3 where !(priorCounts[j] + priorCounts[3 + j] + priorCounts[6 + j] > 0) {
      throw .invalid("config.dps.prior_counts: column \(j) (transitions from state \(j)) sums to 0")
    }
    guard selection == "topk" || selection == "topk+entropy" else {
      throw .invalid("config.dps.selection must be topk or topk+entropy, got \"\(selection)\"")
    }
    guard entropyWeight.isFinite, abs(entropyWeight) <= 1e6 else {
      throw .invalid("config.dps.entropy_weight must be a finite number in [-1e6, 1e6], got \(entropyWeight)")
    }
  }
}

/// GRESO settings (Infini-AI-Lab/GRESO `data.p_easy`, `data.p_hard`, `target_zero_variance`, …).
public struct GRESOConfig: Sendable, Equatable {
  /// The initial p_easy.
  public var pEasy: Double = 0.5
  /// The initial p_hard.
  public var pHard: Double = 0.5
  /// z*: targets are z*/3 all-solved and 2z*/3 all-failed groups per step.
  public var targetZeroShare: Double = 0.25
  /// A group with mean ≥ this extends the prompt's easy run.
  public var easyThreshold: Double = 0.98
  /// A group with mean ≤ this extends the prompt's hard run.
  public var hardThreshold: Double = 0.11
  /// How far p moves per step.
  public var stepSize: Double = 0.01
  /// p's lower bound.
  public var pMin: Double = 0.05
  /// p's upper bound.
  public var pMax: Double = 0.95
  /// The least keep probability, the 0.01 in 1 − max(p^run, 0.01).
  public var keepFloor: Double = 0.01
  /// Whether p adapts after each step.
  public var adapt = true

  /// The defaults.
  public init() {}

  func validate() throws(MoPPSError) {
    try Validate.unitInterval(pEasy, "config.greso.p_easy")
    try Validate.unitInterval(pHard, "config.greso.p_hard")
    try Validate.unitInterval(targetZeroShare, "config.greso.target_zero_share")
    try Validate.unitInterval(easyThreshold, "config.greso.easy_threshold")
    try Validate.unitInterval(hardThreshold, "config.greso.hard_threshold")
    try Validate.unitInterval(stepSize, "config.greso.step_size")
    try Validate.unitInterval(pMin, "config.greso.p_min")
    try Validate.unitInterval(pMax, "config.greso.p_max")
    try Validate.unitInterval(keepFloor, "config.greso.keep_floor")
    guard pMin <= pMax else {
      throw .invalid("config.greso.p_min (\(pMin)) must not exceed config.greso.p_max (\(pMax))")
    }
    guard hardThreshold < easyThreshold else {
      throw .invalid(
        "config.greso.hard_threshold (\(hardThreshold)) must be below config.greso.easy_threshold (\(easyThreshold))"
      )
    }
  }
}

/// Difficulty-pool settings (prime-rl `DifficultyPoolSampler`).
public struct PoolsConfig: Sendable, Equatable {
  /// A latest mean ≤ this puts the prompt in the hard pool.
  public var hardMax: Double = 0.25
  /// A latest mean > this puts the prompt in the easy pool.
  public var easyMin: Double = 0.75
  /// Sampling weight of hard prompts.
  public var weightHard: Double = 0.2
  /// Sampling weight of prompts between the two.
  public var weightNormal: Double = 1
  /// Sampling weight of easy prompts.
  public var weightEasy: Double = 0.2
  /// Sampling weight of prompts never observed.
  public var weightUnseen: Double = 1

  /// The defaults.
  public init() {}

  func validate() throws(MoPPSError) {
    try Validate.unitInterval(hardMax, "config.pools.hard_max")
    try Validate.unitInterval(easyMin, "config.pools.easy_min")
    guard hardMax <= easyMin else {
      throw .invalid("config.pools.hard_max (\(hardMax)) must not exceed config.pools.easy_min (\(easyMin))")
    }
    for (w, field) in [
      (weightHard, "weight_hard"), (weightNormal, "weight_normal"), (weightEasy, "weight_easy"),
      (weightUnseen, "weight_unseen"),
    ] where !(w.isFinite && w >= 0 && w <= 1e30) {
      throw .invalid("config.pools.\(field) must be a finite weight in [0, 1e30], got \(w)")
    }
  }

  /// The weight of a prompt whose latest group mean is `mean` (NaN: never observed).
  @inline(__always) func weight(_ mean: Double) -> Double {
    if mean.isNaN { return weightUnseen }
    if mean <= hardMax { return weightHard }
    if mean > easyMin { return weightEasy }
    return weightNormal
  }
}

/// A pool's MoPPS parameters. Defaults follow the reference: prior Beta(1, 1), target 0.5,
/// band [0.3, 0.7]; the decay defaults to 1 (no forgetting).
public struct PoolConfig: Sendable, Equatable {
  /// α0 of the prior Beta(α0, β0) every new prompt starts from, and the decay pulls towards.
  public var priorAlpha: Double = 1
  /// β0 of the prior.
  public var priorBeta: Double = 1
  /// λ in the update α ← λ·α + (1 − λ)·α0 + s.
  public var decay: Double = 1
  /// The success rate `topk` aims for: it picks the samples nearest it.
  public var target: Double = 0.5
  /// The strategy of selects that do not name one.
  public var strategy: Strategy = .topK
  /// The lower end of the `threshold` strategy's band.
  public var bandLow: Double = 0.3
  /// The upper end of the band (≥ `bandLow`).
  public var bandHigh: Double = 0.7
  /// Seeds every random stream of the pool: the same seed and request order give the same selects.
  public var seed: UInt64 = 0
  /// Updates of ids never registered are refused (NOT_FOUND) instead of adding them: catches a
  /// trainer reporting ids that are not the ones it was given.
  public var strictIDs = false
  /// The dps settings (in force only for a dps pool).
  public var dps = DPSConfig()
  /// The greso settings (in force only for a greso pool).
  public var greso = GRESOConfig()
  /// The pools settings (in force only for a pools pool).
  public var pools = PoolsConfig()

  /// A configuration; every parameter defaults to the reference's value. `validate()` checks it.
  public init(
    priorAlpha: Double = 1, priorBeta: Double = 1, decay: Double = 1, target: Double = 0.5,
    strategy: Strategy = .topK, bandLow: Double = 0.3, bandHigh: Double = 0.7, seed: UInt64 = 0,
    strictIDs: Bool = false, dps: DPSConfig = DPSConfig(), greso: GRESOConfig = GRESOConfig(),
    pools: PoolsConfig = PoolsConfig()
  ) {
    self.strictIDs = strictIDs
    self.dps = dps
    self.greso = greso
    self.pools = pools
    self.priorAlpha = priorAlpha
    self.priorBeta = priorBeta
    self.decay = decay
    self.target = target
    self.strategy = strategy
    self.bandLow = bandLow
    self.bandHigh = bandHigh
    self.seed = seed
  }

  /// INVALID_ARGUMENT naming the first field out of range: shapes in [1e-30, 3.4e38], decay,
  /// target and band ends in [0, 1], `bandLow` ≤ `bandHigh`.
  public func validate() throws(MoPPSError) {
    try Validate.positive(priorAlpha, "config.prior_alpha")
    try Validate.positive(priorBeta, "config.prior_beta")
    try Validate.unitInterval(decay, "config.decay")
    try Validate.unitInterval(target, "config.target")
    try Validate.unitInterval(bandLow, "config.band_low")
    try Validate.unitInterval(bandHigh, "config.band_high")
    guard bandLow <= bandHigh else {
      throw .invalid("config.band_low (\(bandLow)) must not exceed config.band_high (\(bandHigh))")
    }
    switch strategy {
    case .dps: try dps.validate()
    case .greso: try greso.validate()
    case .pools: try pools.validate()
    case .topK, .threshold, .uniform: break
    }
  }
}

/// The Beta shapes (α, β) the engine stores and samples: every path that sets one (priors of
/// CreatePool and Register, Import, snapshot installs; Update saturates at the maximum) keeps it in
/// [minimum, maximum].
///
/// The minimum: the sampler's boosted path forms log X = log Gamma(α + 1) + log U / α with
/// log U ≥ −17.4 (U ≥ 2⁻²⁵), which stays finite in Float32 for α ≥ 5.1e-38; below that both gammas
/// can be −∞ and the sample NaN (Beta(1.2e-38, 1.2e-38) did so about 36 times in 100k). 1e-30 keeps
/// a margin of 10⁷, and smaller shapes would change nothing a selection can see: Beta(1e-30, β)
/// already puts all its mass within Float32 rounding of 0 or 1. The maximum is Float's largest
/// finite value; the sampler scales before it adds, so such shapes sample correctly.
public enum Shapes {
  /// The smallest shape stored (see above for why 1e-30).
  public static let minimum: Float = 1e-30
  /// The largest shape stored: Float32's largest finite value.
  public static let maximum: Float = .greatestFiniteMagnitude

  /// False for NaN too.
  @inline(__always) public static func isValid(_ shape: Float) -> Bool {
    shape >= minimum && shape <= maximum
  }
}

/// Shared checks so every message names the field the same way.
enum Validate {
  static func positive(_ value: Double, _ field: @autoclosure () -> String) throws(MoPPSError) {
    // Posteriors are stored as Float32, so the value must be in range after that conversion.
    guard value.isFinite, Shapes.isValid(Float(value)) else {
      throw .invalid("\(field()) must be a number in [1e-30, 3.4e38] (a Beta shape), got \(value)")
    }
  }

  static func unitInterval(_ value: Double, _ field: String) throws(MoPPSError) {
    guard value.isFinite, value >= 0, value <= 1 else {
      throw .invalid("\(field) must be in [0, 1], got \(value)")
    }
  }

  static func poolName(_ name: String) throws(MoPPSError) {
    guard !name.isEmpty else { throw .invalid("pool: empty name") }
    guard name.utf8.count <= 128 else { throw .invalid("pool: name longer than 128 bytes") }
    // Dots are excluded so that the event topic "mopps.v1.<pool>.update" splits unambiguously.
    let ok = name.utf8.allSatisfy { c in
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
        || c == 0x2D
    }
    guard ok else {
      throw .invalid("pool: name \"\(name)\" may contain only letters, digits, '_' and '-'")
    }
  }

  /// Rejects a repeated id, naming the field and the first repeat.
  static func distinct(_ ids: [UInt64], _ field: String) throws(MoPPSError) {
    if let id = Duplicates.first(in: ids) {
      throw .invalid("\(field): id \(id) appears more than once")
    }
  }
}
