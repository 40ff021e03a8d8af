import MoPPSEngine

/// PoolConfig fields as sent: nil where the client left the default.
public struct PoolConfigFields: Sendable, Equatable {
  public var priorAlpha: Double?
  public var priorBeta: Double?
  public var decay: Double?
  public var target: Double?
  public var strategy: Strategy?
  public var bandLow: Double?
  public var bandHigh: Double?
  public var seed: UInt64?
  public var strictIDs: Bool?
  /// The strategy messages as sent (nil: not set).
  public var dps: DPSFields?
  public var greso: GRESOFields?
  public var pools: PoolsFields?

  public init() {}

  /// INVALID_ARGUMENT when a strategy message other than the pool strategy's own is set.
  public func checkStrategyMessages() throws(MoPPSError) {
    let strategy = strategy ?? PoolConfig().strategy
    for (name, isSet, own) in [
      ("dps", dps != nil, Strategy.dps), ("greso", greso != nil, .greso), ("pools", pools != nil, .pools),
    ] where isSet && strategy != own {
      throw .invalid("config.\(name): set, but strategy is \(strategy.rawValue)")
    }
  }

  /// The config in force: sent values over the defaults, `defaultSeed` when no seed was sent.
  public func resolved(defaultSeed: UInt64) -> PoolConfig {
    let d = PoolConfig()
    return PoolConfig(
      priorAlpha: priorAlpha ?? d.priorAlpha, priorBeta: priorBeta ?? d.priorBeta,
      decay: decay ?? d.decay, target: target ?? d.target, strategy: strategy ?? d.strategy,
      bandLow: bandLow ?? d.bandLow, bandHigh: bandHigh ?? d.bandHigh, seed: seed ?? defaultSeed,
      strictIDs: strictIDs ?? d.strictIDs, dps: dps?.resolved ?? d.dps, greso: greso?.resolved ?? d.greso,
      pools: pools?.resolved ?? d.pools)
  }
}

/// DPSConfig as sent.
public struct DPSFields: Sendable, Equatable {
  public var decay: Double?
  public var prior = ""
  public var priorCounts: [Double] = []
  public var selection = ""
  public var entropyWeight: Double?

  public init() {}

  var resolved: DPSConfig {
    var c = DPSConfig()
    if let decay { c.decay = decay }
    if !priorCounts.isEmpty {
      c.prior = ""
      c.priorCounts = priorCounts
    } else if !prior.isEmpty {
      c.prior = prior
      // An unknown name keeps the uniform counts; validate() refuses it by name.
      c.priorCounts = DPSConfig.preset(prior) ?? c.priorCounts
    }
    if !selection.isEmpty { c.selection = selection }
    if let entropyWeight { c.entropyWeight = entropyWeight }
    return c
  }
}

/// GRESOConfig as sent.
public struct GRESOFields: Sendable, Equatable {
  public var pEasy: Double?
  public var pHard: Double?
  public var targetZeroShare: Double?
  public var easyThreshold: Double?
  public var hardThreshold: Double?
  public var stepSize: Double?
  public var pMin: Double?
  public var pMax: Double?
  public var keepFloor: Double?
  public var adapt: Bool?

  public init() {}

  var resolved: GRESOConfig {
    var c = GRESOConfig()
    c.pEasy = pEasy ?? c.pEasy
    c.pHard = pHard ?? c.pHard
    c.targetZeroShare = targetZeroShare ?? c.targetZeroShare
    c.easyThreshold = easyThreshold ?? c.easyThreshold
    c.hardThreshold = hardThreshold ?? c.hardThreshold
    c.stepSize = stepSize ?? c.stepSize
    c.pMin = pMin ?? c.pMin
    c.pMax = pMax ?? c.pMax
    c.keepFloor = keepFloor ?? c.keepFloor
    c.adapt = adapt ?? c.adapt
    return c
  }
}

/// PoolsConfig as sent.
public struct PoolsFields: Sendable, Equatable {
  public var hardMax: Double?
  public var easyMin: Double?
  public var weightHard: Double?
  public var weightNormal: Double?
  public var weightEasy: Double?
  public var weightUnseen: Double?

  public init() {}

  var resolved: PoolsConfig {
    var c = PoolsConfig()
    c.hardMax = hardMax ?? c.hardMax
    c.easyMin = easyMin ?? c.easyMin
    c.weightHard = weightHard ?? c.weightHard
    c.weightNormal = weightNormal ?? c.weightNormal
    c.weightEasy = weightEasy ?? c.weightEasy
    c.weightUnseen = weightUnseen ?? c.weightUnseen
    return c
  }
}

public struct CreatePoolRequest: Sendable, Equatable {
  public var pool: String
  public var config: PoolConfigFields
}

public struct RegisterRequest: Sendable, Equatable {
  public var pool: String
  public var ids: [UInt64]
  /// Per-id priors, or nil for the pool's prior.
  public var priors: (alpha: [Double], beta: [Double])?

  public static func == (l: Self, r: Self) -> Bool {
    l.pool == r.pool && l.ids == r.ids && l.priors?.alpha == r.priors?.alpha
      && l.priors?.beta == r.priors?.beta
  }
}

public struct SelectRequest: Sendable {
  public var pool: String
  public var query: SelectQuery
  public var packedReply: Bool
  /// Idempotency key; empty: none.
  public var requestID: String = ""
}

public struct UpdateRequest: Sendable {
  public var pool: String
  public var outcomes: Outcomes
  public var requestID: String
}

public struct GetRequest: Sendable, Equatable {
  public var pool: String
  /// nil: every registered prompt.
  public var ids: [UInt64]?
  public var packedReply: Bool
}

public struct TagRequest: Sendable, Equatable {
  public var pool: String
  public var tag: String
}

/// A snapshot on disk, as Snapshot and ListSnapshots report it.
public struct SnapshotInfo: Sendable, Equatable {
  /// The pool of a tag; empty for a full-state snapshot.
  public var pool: String
  /// The tag, or "state-<lsn>" for a full-state snapshot.
  public var tag: String
  public var lsn: UInt64
  public var created: Double
  public var promptCount: Int
  public var bytes: Int

  public init(pool: String, tag: String, lsn: UInt64, created: Double, promptCount: Int, bytes: Int) {
    self.pool = pool
    self.tag = tag
    self.lsn = lsn
    self.created = created
    self.promptCount = promptCount
    self.bytes = bytes
  }
}

public struct ImportRequest: Sendable, Equatable {
  public var pool: String
  public var ids: [UInt64]
  public var alpha: [Double]
  public var beta: [Double]
  public var names: [String]
}

/// A decoded request.
public enum Request: Sendable {
  case createPool(CreatePoolRequest)
  case dropPool(pool: String)
  case listPools
  case register(RegisterRequest)
  case select(SelectRequest)
  case update(UpdateRequest)
  case get(GetRequest)
  case snapshot(TagRequest)
  case restore(TagRequest)
  case listSnapshots(pool: String)
  case importState(ImportRequest)
  case exportState(pool: String)
  case stats
  case health
}
