/// How a pool picks its batch from the sampled success rates.
public enum Strategy: String, Sendable, CaseIterable, Codable {
  /// The B candidates whose sampled rate is nearest the target.
  case topK = "topk"
  /// B uniformly at random among samples inside the band, filled up with those nearest the band.
  case threshold
  /// B uniformly at random: the baseline.
  case uniform
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

  /// A configuration; every parameter defaults to the reference's value. `validate()` checks it.
  public init(
    priorAlpha: Double = 1, priorBeta: Double = 1, decay: Double = 1, target: Double = 0.5,
    strategy: Strategy = .topK, bandLow: Double = 0.3, bandHigh: Double = 0.7, seed: UInt64 = 0,
    strictIDs: Bool = false
  ) {
    self.strictIDs = strictIDs
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
